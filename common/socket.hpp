// Socket: one TCP socket, closed when the object goes away. Its methods are
// named after the system calls they make and add error checks, so that a
// stage reads as the happy path (docs/common.md says what else they do).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <sys/socket.h>  // SOMAXCONN, the longest queue listen() allows

namespace net {

constexpr std::uint16_t default_port = 8888;

class Socket {
public:
    explicit Socket(int fd = -1, std::string peer = {});
    Socket(Socket&& other) noexcept;
    Socket& operator=(Socket&& other) noexcept;
    Socket(const Socket&) = delete;  // one owner per descriptor
    Socket& operator=(const Socket&) = delete;
    ~Socket();  // closes it

    int fd() const noexcept { return fd_; }
    bool is_open() const noexcept { return fd_ >= 0; }
    // Who is at the other end, e.g. "127.0.0.1:50312" or "[::1]:50312".
    const std::string& peer() const noexcept { return peer_; }

    // bind(): `port` on every local address (0: any free one), with
    // SO_REUSEADDR. Throws std::system_error "cannot listen on port 8888".
    void bind(std::uint16_t port);
    // listen(): clients can connect, and up to `backlog` wait for accept.
    // Also raises the limit on open files, for a descriptor per client.
    void listen(int backlog);
    // The port it is bound to: the one the system picked, for port 0.
    std::uint16_t port() const;
    // accept(): waits for the next client. An error about one client is
    // skipped, running out of descriptors waited out; TCP_NODELAY is set.
    Socket accept();

    // send() until every byte is with the kernel: false if the peer is
    // gone. Never raises SIGPIPE, so a vanished client cannot kill us.
    bool write_all(std::string_view data) noexcept;
    // write_all(line + "\r\n"), the line end telnet expects.
    bool write_line(std::string_view line);
    // close(): hang up. The destructor does it too.
    void close() noexcept;

private:
    int fd_;
    std::string peer_;
};

// socket(): a TCP socket that takes IPv6 and IPv4 clients both (IPv4
// alone where there is no IPv6). Throws std::system_error.
Socket socket();

// socket() and connect(), the client's side: to each address of `host`
// in turn. Throws: "cannot connect to localhost port 8888: ...".
Socket connect(const std::string& host, std::uint16_t port);

// The port argument, argv[1]: 8888 when absent, 0 for any free one.
// Throws UsageError (log.hpp) for anything else.
std::uint16_t port_from_args(int argc, char* argv[]);
std::uint16_t parse_port(const std::string& text);

}  // namespace net
