// Listener: a TCP server socket on every local address, IPv6 and IPv4.
#pragma once

#include "socket.hpp"

#include <cstdint>
#include <stdexcept>
#include <string>

namespace net {

constexpr std::uint16_t default_port = 8888;

// A mistake on the command line: main reports it and exits with status 2.
struct UsageError : std::invalid_argument {
    using std::invalid_argument::invalid_argument;
};

// A port number, 0 to 65535; throws UsageError for anything else.
std::uint16_t parse_port(const std::string& text);
// Reads the optional port argument: argv[1], 8888 when absent, 0 for "let
// the system pick". Throws UsageError for anything else.
std::uint16_t port_from_args(int argc, char* argv[]);

class Listener {
public:
    // Listens on `port` (IPv6 "::" with IPv4 mapped in, or IPv4 alone
    // where there is no IPv6). Throws std::system_error if it cannot.
    explicit Listener(std::uint16_t port);
    // Listens on the port given on the command line and says so on stdout:
    // "chatserver3: listening on port 8888". A server with a thread per
    // client needs a descriptor per client too: this also raises the
    // process's limit on open files (RLIMIT_NOFILE) as far as it may go.
    Listener(int argc, char* argv[]);

    std::uint16_t port() const noexcept { return port_; }
    // Waits for the next client. Errors a server should survive (a client
    // that gave up while queued, running out of descriptors) are waited
    // out and retried, so only a broken listener throws.
    Socket accept();

private:
    Socket socket_;
    std::uint16_t port_;
};

}  // namespace net
