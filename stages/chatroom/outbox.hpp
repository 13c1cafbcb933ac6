// Outbox: the bytes waiting to be sent to one client. Whoever queues a
// message never waits for the client, so one client that stops reading
// cannot stall everybody else. What is queued is sent when the thread that
// queued ends its burst (burst.hpp), without waiting and without holding a
// lock: by one thread at a time for all outboxes, so that what many
// threads queue for one client meanwhile goes out in one send. What the
// socket cannot take then, a thread of the Outbox's own finishes.
#pragma once

#include "socket.hpp"  // common/

#include <chrono>
#include <cstddef>
#include <memory>
#include <string_view>
#include <thread>

namespace chat {

class Outbox {
public:
    // Sends to `socket`, which must outlive the Outbox. A client with more
    // than `limit` bytes waiting, or that takes no byte for `stall_limit`,
    // is cut off: its connection is shut down, so its reader sees the end.
    Outbox(net::Socket& socket, std::size_t limit,
           std::chrono::milliseconds stall_limit);
    Outbox(const Outbox&) = delete;
    Outbox& operator=(const Outbox&) = delete;
    // Sends what is still queued, then stops: within stall_limit, or the
    // client is cut off (a client reading a byte now and then included).
    ~Outbox();

    // Queues `text`. It is sent at the end of this thread's burst (before
    // its reader next waits for input: burst.hpp), or at the end of the
    // burst of another thread that queued for this client first and has
    // not ended it yet. So a thread that sends must end its bursts: a
    // the room's reader does before it waits, or call chat::end_burst(). False
    // if the client has been cut off, or is gone.
    bool send(std::string_view text);
    // For whoever talks, before it reads on. If more than a quarter of its
    // limit waits for this client, or for another this thread has sent to
    // since it last called and that still reads, waits until at most an
    // eighth does (ending this thread's burst first). So whoever talks goes
    // at the pace of those who read, and one who talks faster than it
    // reads is slowed down, not cut off. A client that takes less than 16
    // KiB in 50 ms is not waited for: its limit cuts it off. False if
    // this client was cut off, or went, meanwhile.
    bool keep_pace();
    // Whether the client was cut off for not keeping up.
    bool cut_off() const;

private:
    struct State;  // shared with the threads that will flush it
    void run();    // the thread: sends what did not fit at once

    std::shared_ptr<State> state_;
    std::thread thread_;
};

}  // namespace chat
