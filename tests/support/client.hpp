// A test client that behaves as telnet would: connects over loopback,
// sends text, and reads the server's lines with a deadline.
#pragma once

#include "process.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace test {

class Client {
public:
    explicit Client(std::uint16_t port, const char* host = "127.0.0.1");
    Client(Client&& other) noexcept;
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;
    ~Client();

    // How the server names us in its log: "127.0.0.1:50312", "[::1]:50312".
    const std::string& address() const { return address_; }
    int fd() const { return fd_; }

    void send(std::string_view data);
    void send_line(std::string_view line) { send(std::string(line) + "\r\n"); }
    // The next line from the server, without "\r\n"; nothing if the
    // server closed the connection or the timeout passed first.
    std::optional<std::string> read_line(milliseconds timeout = event_timeout);
    // Reads lines until one ends with `text`; false if none did in time.
    bool skip_to_line_ending(std::string_view text,
                             milliseconds timeout = event_timeout);
    // True when the server has closed the connection (read returns 0).
    bool wait_closed(milliseconds timeout = event_timeout);
    void shutdown_write();
    // Close with SO_LINGER 0: the server sees a reset, not a goodbye.
    void reset();
    void close();

private:
    int fd_ = -1;
    std::string address_;
    std::string buffer_;  // received; lines before start_ already read
    size_t start_ = 0;
    bool closed_by_server_ = false;
};

}  // namespace test
