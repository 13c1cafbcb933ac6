// The chat room's output: an Outbox per client, and one Writer thread that
// fills and sends them all. Whoever talks only posts, under the room's
// lock: a line for every member, or for one client. The Writer copies each
// posted line into the outboxes it is for, and sends them with sends that
// never wait; where a socket is full, epoll tells it when the client has
// made room (EPOLLOUT). So one client that stops reading cannot stall the
// room, as it stalls stage 5; and as only the Writer touches the outboxes,
// they need no lock and stay in its cache.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

namespace chat {

using Clock = std::chrono::steady_clock;

// What waits to be sent to one client.
struct Outbox {
    explicit Outbox(int socket) : fd(socket) {}
    const int fd;
    // Under the room's lock (close_at is written by the client's own thread
    // only, which may read it without). Its socket is shut for reading at
    // close_at, so its reader sees the end (set while it has not joined).
    Clock::time_point close_at = Clock::time_point::max();
    const char* cut_off = nullptr;  // why nothing more is sent to it
    bool removed = false;           // the Writer has forgotten it
    Outbox* next_leaver = nullptr;  // a list that needs no memory to join
    // The Writer's alone:
    std::string queue;  // sent up to `sent`, the rest waits
    std::size_t sent = 0;
    bool stopped = false;        // cut off, or gone: nothing more is sent
    bool listed = false;         // in the Writer's list of work
    bool full = false;           // its socket is: waits for EPOLLOUT
    bool leaving = false;        // forgotten once its queue has gone
    Clock::time_point took;      // when it last took bytes, or became full
    Clock::time_point leave_by;  // if leaving: cut off then
    std::size_t waiting() const { return queue.size() - sent; }
};

class Writer {
public:
    // A client with more than `limit` bytes waiting, or whose socket takes
    // no byte for `stall_limit`, is cut off: its socket is shut down, so its
    // reader sees the end. While all outboxes together hold more than
    // `budget` (plus 16 KiB a client), the Writer copies no more posted
    // lines, talkers wait, and those that took nothing for a second are
    // cut off. `lock` is the room's.
    Writer(std::mutex& lock, std::size_t limit, std::size_t budget,
           std::chrono::milliseconds stall_limit);
    Writer(const Writer&) = delete;
    Writer& operator=(const Writer&) = delete;
    ~Writer();

    // All of the following with the room's lock held, in the order the
    // room wants things to happen: the Writer does them in that order.
    void add(Outbox& box) { post(Kind::add, &box); }    // a client came
    void join(Outbox& box) { post(Kind::join, &box); }  // to_members: it too
    void leave(Outbox& box) { post(Kind::leave, &box); }
    void to_members(std::string text)
    {
        post(Kind::text, nullptr, std::move(text));
    }
    void append(Outbox& box, std::string text)  // to one client
    {
        post(Kind::text, &box, std::move(text));
    }
    // After a reader has handled all the lines of one read: wakes the
    // Writer, and waits until it has taken what was posted. Then, so that
    // whoever talks goes at the pace of those who read, waits while a
    // client more than a quarter of the limit behind still takes bytes, or
    // while the room is over its budget.
    void send_and_keep_pace(std::unique_lock<std::mutex>& lock);
    // A client leaving: waits until the lines posted before are copied,
    // then until what is queued for it has gone (for about stall_limit at
    // most), and the Writer has forgotten it. Returns why it was cut off,
    // if it was.
    const char* remove(std::unique_lock<std::mutex>& lock, Outbox& box);

private:
    enum class Kind { add, join, leave, text };
    struct Post {
        Kind kind;
        Outbox* box;  // null: every member
        std::string text;
    };
    void post(Kind kind, Outbox* box, std::string text = {})
    {
        posts_.push_back({kind, box, std::move(text)});
    }
    void wake();
    void run();  // the thread
    void apply(Post& post);
    void put(Outbox& box, const std::string& text);
    void send_some(Outbox& box);
    void check_all(bool once_a_second);  // every 100 ms
    void cut(Outbox& box, const char* why);
    void discard(Outbox& box);  // its queue, and the bytes it counted
    bool over_budget() const;
    void leave_members(Outbox& box);
    void forget_if_left(Outbox& box);
    void watch(Outbox& box, bool full);  // for EPOLLOUT, or not

    std::mutex& lock_;
    const std::size_t limit_;
    const std::size_t budget_;
    const std::chrono::milliseconds stall_limit_;
    // Under the room's lock:
    std::vector<Post> posts_;    // not taken by the Writer yet
    Outbox* leavers_ = nullptr;  // removed, not taken by the Writer yet
    std::uint64_t taken_ = 0;    // passes that took posts_
    bool pace_ = false;          // a client well behind still reads
    bool over_budget_ = false;
    bool woken_ = false;
    bool stopping_ = false;
    std::condition_variable progress_;  // after each pass
    // The Writer's alone:
    std::unordered_set<Outbox*> boxes_;   // every client
    std::vector<Outbox*> members_;        // those that joined
    std::vector<Outbox*> work_;           // appended to, or has room
    std::unordered_set<Outbox*> behind_;  // over a quarter of the limit
    std::size_t total_ = 0;               // bytes waiting in all outboxes
    Clock::time_point now_;               // when this pass began
    bool freed_ = false;  // big buffers freed: time for malloc_trim
    int epoll_ = -1;
    int wake_ = -1;  // an eventfd: there are posts
    std::thread thread_;
};

}  // namespace chat
