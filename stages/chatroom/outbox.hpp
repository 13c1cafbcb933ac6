// The chat room's output: a transcript of every line the room sends, and
// one Writer thread that sends each client its lines from it. Whoever
// talks only posts a line, under the room's lock: for every member, or for
// one client. The Writer adds posted lines to the transcript and sends each
// client what is there for it, from where it stopped, with sends that
// never wait; where a socket is full, epoll tells it when the client has
// made room (EPOLLOUT). So one client that stops reading cannot stall the
// room, as it stalls stage 5. A line is kept once, however many it goes
// to, until the last of them has it; a client that falls too far behind
// the transcript's end is cut off, so the room's memory is bounded by that
// distance, not by how many clients there are.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <list>
#include <mutex>
#include <string>
#include <thread>

namespace chat {

using Clock = std::chrono::steady_clock;
constexpr std::uint64_t never = UINT64_MAX;

struct Outbox;

struct Line {
    std::uint64_t number;  // the room's order
    const Outbox* to;      // null: the members
    std::string text;
    std::size_t end;  // bytes posted in the room, up to this line's end
};
using Transcript = std::list<Line>;  // std::list: lines never move

// One client's place in the transcript.
struct Outbox {
    explicit Outbox(int socket) : fd(socket) {}
    const int fd;
    // Set under the room's lock: a member hears the lines for members
    // numbered from `from` up to `until` (when it left).
    std::atomic<std::uint64_t> from{never};
    std::atomic<std::uint64_t> until{never};
    bool hears(const Line& line) const
    {
        return line.to == this || (line.to == nullptr && line.number >= from &&
                                   line.number < until);
    }
    // Under the room's lock. Its socket is shut for reading at close_at, so
    // its reader sees the end (set while it has not joined).
    Clock::time_point close_at = Clock::time_point::max();
    const char* cut_off = nullptr;  // why nothing more is sent to it
    bool stopped = false;    // cut off, or gone (the Writer reads it freely)
    bool removed = false;    // the Writer has forgotten it
    Outbox* next = nullptr;  // in the list of new clients, or of all
    // The Writer's alone:
    Transcript::iterator done;  // the last line sent, or not for it
    std::size_t sent = 0;       // of its next line
    Clock::time_point took;     // when it last took bytes (or came, or
                                // its socket became full or had room)
    Clock::time_point leave_by = Clock::time_point::max();
    bool full = false;  // its socket is: waits for EPOLLOUT
};

class Writer {
public:
    // A client more than `limit` bytes behind the transcript's end, or
    // whose socket takes no byte for `stall_limit`, is cut off: its socket
    // is shut down, so its reader sees the end. `lock` is the room's.
    Writer(std::mutex& lock, std::size_t limit,
           std::chrono::milliseconds stall_limit);
    Writer(const Writer&) = delete;
    Writer& operator=(const Writer&) = delete;
    ~Writer();

    // All of the following with the room's lock held.
    void add(Outbox& box);                                 // a client came
    void join(Outbox& box) { box.from = next_number_; }    // a member now
    void leave(Outbox& box) { box.until = next_number_; }  // no more one
    void to_members(std::string text) { post(nullptr, std::move(text)); }
    void append(Outbox& box, std::string text)  // to one client
    {
        post(&box, std::move(text));
    }
    // After a reader has handled the lines of one read (64 at most): wakes
    // the Writer, and waits until it has taken what was posted. Then, so that
    // whoever talks goes at the pace of those who read, waits while a
    // client more than a quarter of the limit behind still takes bytes.
    void send_and_keep_pace(std::unique_lock<std::mutex>& lock);
    // A client leaving: waits until what is posted for it has gone (for
    // about stall_limit at most, once all posted before are let in), and
    // the Writer has forgotten it. Returns
    // why it was cut off, if it was. Nothing may be posted for it after
    // this, or after leave: the Writer forgets it once it has the rest.
    const char* remove(std::unique_lock<std::mutex>& lock, Outbox& box);

private:
    void post(const Outbox* to, std::string text);
    void wake();
    void run();  // the thread
    void take_posts();
    bool serve(Outbox& box);                      // false: forget it
    std::size_t behind(const Outbox& box) const;  // bytes of the transcript
    Transcript::iterator last() { return std::prev(lines_.end()); }
    void send_to(Outbox& box);
    void cut(Outbox& box, const char* why);
    void watch(Outbox& box, bool full);  // for EPOLLOUT, or not

    std::mutex& lock_;
    const std::size_t limit_;
    const std::chrono::milliseconds stall_limit_;
    // Under the room's lock:
    Transcript posts_;  // not taken by the Writer yet
    std::uint64_t next_number_ = 1;
    std::size_t end_ = 0;      // bytes posted in the room so far
    Outbox* added_ = nullptr;  // new clients, not taken yet
    std::uint64_t taken_ = 0;  // times posts_ was taken
    bool pace_ = false;        // a client well behind still reads
    bool woken_ = false;
    bool stopping_ = false;
    std::condition_variable progress_;  // after each pass
    // The Writer's alone:
    Transcript pending_;                     // taken, not let in yet
    Transcript lines_{{0, nullptr, "", 0}};  // a new client's place at first
    Outbox* all_ = nullptr;                  // every client
    Clock::time_point now_;                  // when this pass began
    std::size_t freed_ = 0;                  // bytes let go of, of late
    int epoll_ = -1;
    int wake_ = -1;  // an eventfd: there is work
    std::thread thread_;
};

}  // namespace chat
