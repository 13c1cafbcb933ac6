#include "listener.hpp"

#include "log.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fmt/core.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <system_error>
#include <thread>

namespace net {

namespace {

[[noreturn]] void throw_errno(const std::string& what)
{
    throw std::system_error(errno, std::generic_category(), what);
}

// "127.0.0.1:50312", "[::1]:50312"; IPv4 clients of an IPv6 socket arrive
// as ::ffff:127.0.0.1 and are shown as plain IPv4.
std::string address_text(const sockaddr_storage& address)
{
    char text[INET6_ADDRSTRLEN] = "?";
    if (address.ss_family == AF_INET) {
        auto* in = reinterpret_cast<const sockaddr_in*>(&address);
        inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
        return fmt::format("{}:{}", text, ntohs(in->sin_port));
    }
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(&address);
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
        inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], text, sizeof text);
        return fmt::format("{}:{}", text, ntohs(in6->sin6_port));
    }
    inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
    return fmt::format("[{}]:{}", text, ntohs(in6->sin6_port));
}

Socket open_listening_socket(std::uint16_t port)
{
    const std::string what = fmt::format("cannot listen on port {}", port);
    int family = AF_INET6;
    int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 && errno == EAFNOSUPPORT) {
        family = AF_INET;  // a machine without IPv6
        fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    }
    if (fd < 0)
        throw_errno(what);
    Socket socket(fd);
    int on = 1;
    int off = 0;
    // Restarting right after Ctrl-C must not fail with "Address in use".
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    sockaddr_storage address{};
    socklen_t length;
    if (family == AF_INET6) {
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
        auto* in6 = reinterpret_cast<sockaddr_in6*>(&address);
        in6->sin6_family = AF_INET6;
        in6->sin6_addr = in6addr_any;
        in6->sin6_port = htons(port);
        length = sizeof(sockaddr_in6);
    } else {
        auto* in = reinterpret_cast<sockaddr_in*>(&address);
        in->sin_family = AF_INET;
        in->sin_addr.s_addr = htonl(INADDR_ANY);
        in->sin_port = htons(port);
        length = sizeof(sockaddr_in);
    }
    if (::bind(fd, reinterpret_cast<sockaddr*>(&address), length) < 0 ||
        ::listen(fd, SOMAXCONN) < 0)
        throw_errno(what);
    return socket;
}

std::uint16_t bound_port(int fd)
{
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) < 0)
        throw_errno("getsockname");
    if (address.ss_family == AF_INET)
        return ntohs(reinterpret_cast<sockaddr_in*>(&address)->sin_port);
    return ntohs(reinterpret_cast<sockaddr_in6*>(&address)->sin6_port);
}

}  // namespace

std::uint16_t parse_port(const std::string& text)
{
    bool digits = !text.empty() && text.size() <= 5 &&
                  text.find_first_not_of("0123456789") == std::string::npos;
    if (!digits || std::stoul(text) > 65535)
        throw UsageError(fmt::format("bad port '{}' (0 to 65535)", text));
    return static_cast<std::uint16_t>(std::stoul(text));
}

std::uint16_t port_from_args(int argc, char* argv[])
{
    const std::string usage =
        fmt::format("usage: {} [port]  (default {})",
                    program_name(argc > 0 ? argv[0] : nullptr), default_port);
    if (argc > 2)
        throw UsageError(usage);
    try {
        return argc < 2 ? default_port : parse_port(argv[1]);
    } catch (const UsageError& e) {
        throw UsageError(fmt::format("{}; {}", e.what(), usage));
    }
}

Listener::Listener(std::uint16_t port)
    : socket_(open_listening_socket(port)), port_(bound_port(socket_.fd()))
{
}

// The soft limit on open files up to the hard one: often 1024 up to much
// more, so a server is not out of descriptors at its 1021st client.
void raise_file_limit() noexcept
{
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 &&
        limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &limit);
    }
}

Listener::Listener(int argc, char* argv[])
    : Listener(port_from_args(argc, argv))
{
    raise_file_limit();
    log("{}: listening on port {}", program_name(argv[0]), port_);
}

Socket Listener::accept()
{
    for (;;) {
        sockaddr_storage address{};
        socklen_t length = sizeof address;
        int fd = ::accept4(socket_.fd(), reinterpret_cast<sockaddr*>(&address),
                           &length, SOCK_CLOEXEC);
        if (fd >= 0) {
            // No Nagle delay: replies are batched already (burst.hpp), and
            // a small one must not wait up to 40 ms for the client's ACK.
            int on = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
            return Socket(fd, address_text(address));
        }
        switch (errno) {
        case EMFILE:  // out of descriptors or memory: wait for clients to
        case ENFILE:  // leave instead of spinning on the same error
        case ENOBUFS:
        case ENOMEM:
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            break;
        case EINTR:         // a signal
        case ECONNABORTED:  // the client gave up while queued
        case EPROTO:
        case EPERM:  // a firewall said no to this one
        case ENETDOWN:
        case ENOPROTOOPT:
        case EHOSTDOWN:
        case ENONET:
        case EHOSTUNREACH:
        case EOPNOTSUPP:
        case ENETUNREACH:
        case ETIMEDOUT:
            break;
        default:
            throw_errno("accept");
        }
    }
}

}  // namespace net
