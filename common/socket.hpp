// Socket: one connected TCP socket, closed when the object goes away.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <sys/types.h>

namespace net {

constexpr std::chrono::milliseconds no_limit{-1};  // for write_all

namespace detail {
struct Output;  // socket.cpp: lines waiting for the end of a burst
}

class Socket {
public:
    explicit Socket(int fd = -1, std::string peer = {});
    Socket(Socket&& other) noexcept;
    Socket& operator=(Socket&& other) noexcept;
    Socket(const Socket&) = delete;  // one owner per descriptor
    Socket& operator=(const Socket&) = delete;
    ~Socket();

    int fd() const noexcept { return fd_; }
    bool is_open() const noexcept { return fd_ >= 0; }
    // Who is at the other end, e.g. "127.0.0.1:50312" or "[::1]:50312".
    const std::string& peer() const noexcept { return peer_; }

    // Sends every byte, now (after any lines still waiting). Returns false
    // if the peer is gone; never raises SIGPIPE, so a vanished client
    // cannot kill the server.
    bool write_all(std::string_view data) noexcept;
    // Sends line + "\r\n", the line end telnet expects. During a burst of
    // input (burst.hpp) the line waits, and goes out with the others in one
    // send when the burst ends. Returns false if the peer is gone (as far
    // as is known yet, for a line that waits).
    bool write_line(std::string_view line);
    // Sends what waits, then closes.
    void close() noexcept;

private:
    int fd_;
    std::string peer_;
    std::shared_ptr<detail::Output> output_;
};

// The same as Socket::write_all, for any socket descriptor. With a
// `stall_limit`, it also gives up (returns false, errno ETIMEDOUT) when the
// peer has taken no byte for that long: a client that stopped reading.
bool write_all(int fd, std::string_view data,
               std::chrono::milliseconds stall_limit = no_limit) noexcept;
// One step of write_all: sends what the socket takes of `data` (waiting
// for room first if it takes nothing), and returns how many bytes that
// was; -1 if the peer is gone or took nothing for `stall_limit`.
ssize_t write_some(int fd, std::string_view data,
                   std::chrono::milliseconds stall_limit = no_limit) noexcept;

}  // namespace net
