// Outbox: the bytes waiting to be sent to one client, and a thread that
// sends them. Whoever queues a message never waits for the client, so one
// client that stops reading cannot stall everybody else.
#pragma once

#include "socket.hpp"

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace net {

class Outbox {
public:
    // Sends to `socket`, which must outlive the Outbox. A client with more
    // than `limit` bytes waiting, or that takes no byte for `stall_limit`,
    // is cut off: its connection is shut down, so its reader sees the end.
    Outbox(Socket& socket, std::size_t limit,
           std::chrono::milliseconds stall_limit);
    Outbox(const Outbox&) = delete;
    Outbox& operator=(const Outbox&) = delete;
    // Sends what is still queued, then stops: within stall_limit, or the
    // client is cut off (a client reading a byte now and then included).
    ~Outbox();

    // Queues `text`; false if the client has been cut off, or is gone.
    bool send(std::string_view text);
    // Waits until at most `bytes` wait to be sent; false if the client was
    // cut off, or went, meanwhile. A client that talks faster than it reads
    // what it is sent is slowed down to its own pace this way, not cut off.
    bool wait_until_below(std::size_t bytes);
    // Whether the client was cut off for not keeping up.
    bool cut_off() const;

private:
    void run();
    // No more sending; `falling_behind` says it is the client's fault.
    void stop_locked(bool falling_behind);

    Socket& socket_;
    const std::size_t limit_;
    const std::chrono::milliseconds stall_limit_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::string queue_;  // what the next write will send, all at once
    bool closing_ = false;
    bool stopped_ = false;  // cut off, or the client is gone
    bool cut_off_ = false;
    bool finished_ = false;  // the writer thread is done
    std::thread thread_;
};

}  // namespace net
