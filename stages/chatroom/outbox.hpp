// The chat room's output: an Outbox per member, and one Writer thread that
// sends them all. Whoever talks only appends to outboxes, under the room's
// lock, and never waits for a client. The Writer sends what was appended
// with sends that never wait; where a socket is full, epoll tells it when
// the client has made room (EPOLLOUT). So one client that stops reading
// cannot stall the room, as it stalls stage 5.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace chat {

using Clock = std::chrono::steady_clock;

// What waits to be sent to one client. The room's lock guards all of it.
struct Outbox {
    explicit Outbox(int socket) : fd(socket) {}
    const int fd;
    std::string queue;  // sent up to `sent`, the rest waits
    std::size_t sent = 0;
    Clock::time_point took;         // when it last took bytes, or became full
    bool listed = false;            // in the Writer's list of work
    const char* cut_off = nullptr;  // why nothing more is sent to it
    bool gone = false;              // a send failed: the client has gone
    // Its socket is shut for reading then, so its reader sees the end; the
    // room sets it while the client has not joined.
    Clock::time_point close_at = Clock::time_point::max();
    std::size_t waiting() const { return queue.size() - sent; }
};

class Writer {
public:
    // A client with more than `limit` bytes waiting, or that takes no byte
    // for `stall_limit`, is cut off: its socket is shut down, so its reader
    // sees the end. While all outboxes together hold more than `budget`
    // bytes (plus 16 KiB per client), talkers wait (send_and_keep_pace),
    // and the one furthest behind of those that took nothing for a second
    // is cut off. `lock` is the room's.
    Writer(std::mutex& lock, std::size_t limit, std::size_t budget,
           std::chrono::milliseconds stall_limit);
    Writer(const Writer&) = delete;
    Writer& operator=(const Writer&) = delete;
    ~Writer();

    // All of the following with the room's lock held.
    void add(Outbox& box);
    // Queues `text` for the client (or cuts it off, past the limit).
    void append(Outbox& box, std::string_view text);
    // After a reader has handled all the lines of one read: the Writer
    // sends what they appended, in one send per client. Then, so that
    // whoever talks goes at the pace of those who read, waits while a
    // client more than a quarter of the limit behind still takes bytes
    // (one that took nothing for 100 ms is left to the limit instead).
    void send_and_keep_pace(std::unique_lock<std::mutex>& lock);
    // A client leaving: waits until what is queued for it has gone (at
    // most stall_limit), then forgets it. Returns why it was cut off, if
    // it was.
    const char* remove(std::unique_lock<std::mutex>& lock, Outbox& box);

private:
    void run();  // the thread
    void send_some(Outbox& box);
    void cut(Outbox& box, const char* why);
    void discard(Outbox& box);  // its queue, and the bytes it counted
    // Its socket is full and has taken no byte for `how_long`.
    bool took_nothing_for(Outbox& box, Clock::duration how_long);
    void watch(Outbox& box, bool full);

    std::mutex& lock_;
    const std::size_t limit_;
    const std::size_t budget_;
    std::size_t total_ = 0;  // bytes waiting in all outboxes
    bool freed_ = false;     // big buffers freed: time for malloc_trim
    const std::chrono::milliseconds stall_limit_;
    std::condition_variable progress_;  // after each pass: talkers, leavers
    std::unordered_map<int, Outbox*> boxes_;  // by descriptor, for epoll
    std::vector<Outbox*> work_;               // appended to since a pass
    std::vector<Outbox*> pass_;               // being sent now
    std::unordered_set<Outbox*> behind_;      // over a quarter of the limit
    std::unordered_set<Outbox*> full_;        // waiting for EPOLLOUT
    bool woken_ = false;
    bool stopping_ = false;
    int epoll_ = -1;
    int wake_ = -1;  // an eventfd: there is work
    std::thread thread_;
};

}  // namespace chat
