// The chat room's output (docs/chatroom.md, "Inside the server"). Talkers
// post lines under the room's lock; one Writer thread keeps each line once,
// in a transcript, and sends each client its lines from there with sends
// that never wait. So a client that stops reading cannot stall the room; it
// is cut off once it is too far behind the transcript's end.
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
#include <utility>

namespace chat {

using Clock = std::chrono::steady_clock;
constexpr std::uint64_t never = UINT64_MAX;

struct Outbox;

struct Line {
    std::uint64_t number;  // the room's order
    const Outbox* to;      // null: the members
    std::size_t end;       // bytes posted in the room, up to this line's end
    std::string text;
};
using Transcript = std::list<Line>;  // std::list: lines never move

// One client's place in the transcript.
struct Outbox {
    explicit Outbox(int socket) : fd(socket) {}
    const int fd;
    // A member hears the lines for members numbered from `from` up to
    // `until` (when it left). Set under the room's lock.
    std::atomic<std::uint64_t> from{never};
    std::atomic<std::uint64_t> until{never};
    bool hears(const Line& line) const
    {
        return line.to == this || (line.to == nullptr && line.number >= from &&
                                   line.number < until);
    }
    // Under the room's lock:
    Clock::time_point close_at = Clock::time_point::max();  // if not joined
    const char* cut_off = nullptr;  // why nothing more is sent to it
    bool stopped = false;           // cut off, or gone
    bool removed = false;           // the Writer has forgotten it
    Outbox* next = nullptr;  // in the list of new clients (then the Writer's)
    // The Writer's alone:
    Transcript::iterator done;  // the last line sent, or not for it
    std::size_t sent = 0;       // bytes of its next line
    Clock::time_point took;     // when it last took bytes (or came, or its
                                // socket became full)
    bool full = false;          // its socket, until EPOLLOUT says it has room
    int queued = 0;             // bytes its kernel held for it, when we looked
};

class Writer {
public:
    // A client more than `limit` bytes behind the transcript's end whose
    // socket took nothing for 100 ms, or whose full socket takes nothing
    // for `stall_limit` (nor does what the kernel holds for it shrink), is
    // cut off: its socket is shut down, and its reader sees the end. `lock`
    // is the room's.
    Writer(std::mutex& lock, std::size_t limit,
           std::chrono::milliseconds stall_limit);
    ~Writer();

    // All of the following with the room's lock held.
    void add(Outbox& box) { box.next = std::exchange(added_, &box); }  // came
    void join(Outbox& box) { box.from = next_number_; }    // a member now
    void leave(Outbox& box) { box.until = next_number_; }  // no more one
    void to_members(std::string text) { post(nullptr, std::move(text)); }
    void append(Outbox& box, std::string text) { post(&box, std::move(text)); }
    // After a reader has posted the lines of one read (64 at most): waits
    // until the Writer has taken them, and while a client well behind still
    // reads, so that talkers go at the pace of those who read.
    void send_and_keep_pace(std::unique_lock<std::mutex>& lock);
    // A client going: waits until the Writer has sent what was posted for
    // it, or cut it off, and has forgotten it. Returns why it was cut off,
    // if it was. Post nothing for it after this, or after leave.
    const char* remove(std::unique_lock<std::mutex>& lock, Outbox& box);

private:
    void post(const Outbox* to, std::string text)
    {
        posts_.push_back(
            {next_number_, to, end_ + text.size(), std::move(text)});
        end_ = posts_.back().end;
        ++next_number_;  // once it is posted: push_back may throw
    }
    void wake();
    void run();  // the thread
    void take_posts();
    bool serve(Outbox& box);   // false: it has left, and has had all
    bool drains(Outbox& box);  // its full socket took bytes since we looked
    void send_to(Outbox& box);
    void cut(Outbox& box, const char* why);
    // A client whose socket took nothing for this long no longer reads: it
    // is not waited for, and may be cut off if it is too far behind.
    static constexpr std::chrono::milliseconds patience{100};
    bool reads(const Outbox& box) const { return now_ - box.took < patience; }
    std::size_t behind(const Outbox& box) const
    {
        return lines_.back().end - box.done->end - box.sent;
    }
    Transcript::iterator last() { return std::prev(lines_.end()); }

    std::mutex& lock_;
    const std::size_t limit_;
    const std::chrono::milliseconds stall_limit_;
    // Under the room's lock:
    Transcript posts_;  // not in the transcript yet
    std::uint64_t next_number_ = 1;
    std::size_t end_ = 0;      // bytes posted in the room so far
    Outbox* added_ = nullptr;  // new clients, not taken yet
    bool pace_ = false;        // a client well behind still reads
    bool stopping_ = false;
    std::condition_variable progress_;  // after each pass
    // The Writer's alone:
    Transcript lines_{{0, nullptr, 0, ""}};  // the transcript
    Outbox* all_ = nullptr;                  // every client
    Clock::time_point now_;                  // when this pass began
    int epoll_ = -1;
    int wake_ = -1;  // an eventfd: there is work
    std::thread thread_;
};

}  // namespace chat
