#include "socket.hpp"

#include "log.hpp"

#include <cerrno>
#include <chrono>
#include <fmt/core.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <system_error>
#include <thread>
#include <unistd.h>
#include <utility>

namespace net {

namespace {

template <typename... Args>
[[noreturn]] void throw_errno(fmt::format_string<Args...> what, Args&&... args)
{
    int error = errno;  // as it is now, before the message is made
    throw std::system_error(error, std::generic_category(),
                            fmt::format(what, std::forward<Args>(args)...));
}

// "127.0.0.1:50312", "[::1]:50312"; IPv4 clients of an IPv6 socket arrive
// as ::ffff:127.0.0.1 and are shown as plain IPv4.
std::string address_text(const sockaddr_storage& address, socklen_t length)
{
    char host[NI_MAXHOST] = "?";
    char port[NI_MAXSERV] = "?";
    ::getnameinfo(reinterpret_cast<const sockaddr*>(&address), length, host,
                  sizeof host, port, sizeof port,
                  NI_NUMERICHOST | NI_NUMERICSERV);
    std::string text = host;
    if (text.rfind("::ffff:", 0) == 0 && text.find('.') != std::string::npos)
        text.erase(0, 7);
    bool v6 = text.find(':') != std::string::npos;
    return (v6 ? "[" + text + "]" : text) + ":" + port;
}

}  // namespace

Socket::Socket(int fd, std::string peer) : fd_(fd), peer_(std::move(peer)) {}

Socket::Socket(Socket&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), peer_(std::move(other.peer_))
{
}

Socket& Socket::operator=(Socket&& other) noexcept
{
    if (this != &other) {
        close();
        fd_ = std::exchange(other.fd_, -1);
        peer_ = std::move(other.peer_);
    }
    return *this;
}

Socket::~Socket()
{
    close();
}

void Socket::close() noexcept
{
    if (fd_ >= 0)
        ::close(fd_);  // not retried on EINTR: on Linux the fd is gone anyway
    fd_ = -1;
}

Socket socket()
{
    int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 && errno == EAFNOSUPPORT)  // a machine without IPv6
        fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        throw_errno("cannot create a socket");
    int off = 0;  // IPv6 and IPv4 both: ::ffff:127.0.0.1 is 127.0.0.1
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
    return Socket(fd);
}

void Socket::bind(std::uint16_t port)
{
    int on = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    int family = AF_INET6;  // what net::socket() made: IPv6, or IPv4
    socklen_t size = sizeof family;
    ::getsockopt(fd_, SOL_SOCKET, SO_DOMAIN, &family, &size);
    sockaddr_in6 in6{};  // "::", every address
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(port);
    sockaddr_in in{};  // 0.0.0.0, every IPv4 address
    in.sin_family = AF_INET;
    in.sin_port = htons(port);
    int bound = family == AF_INET6
                    ? ::bind(fd_, reinterpret_cast<sockaddr*>(&in6), sizeof in6)
                    : ::bind(fd_, reinterpret_cast<sockaddr*>(&in), sizeof in);
    if (bound < 0)
        throw_errno("cannot listen on port {}", port);
}

void Socket::listen(int backlog)
{
    if (::listen(fd_, backlog) < 0)
        throw_errno("cannot listen");
    rlimit limit{};  // open files: soft limit (often 1024) up to the hard one
    if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) {
        limit.rlim_cur = limit.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &limit);
    }
}

std::uint16_t Socket::port() const
{
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) < 0)
        throw_errno("getsockname");
    if (address.ss_family == AF_INET)
        return ntohs(reinterpret_cast<sockaddr_in*>(&address)->sin_port);
    return ntohs(reinterpret_cast<sockaddr_in6*>(&address)->sin6_port);
}

Socket Socket::accept()
{
    for (;;) {
        sockaddr_storage address{};
        socklen_t length = sizeof address;
        int fd = ::accept4(fd_, reinterpret_cast<sockaddr*>(&address), &length,
                           SOCK_CLOEXEC);
        if (fd >= 0) {
            int on = 1;  // no Nagle delay: a short write goes now
            ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
            return Socket(fd, address_text(address, length));
        }
        if (errno == EBADF || errno == EINVAL || errno == ENOTSOCK)
            throw_errno("accept");  // the listening socket itself is broken
        if (errno != EINTR && errno != ECONNABORTED)  // not just one client:
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }  // out of descriptors, say: wait for clients to leave, not spin
}

Socket connect(const std::string& host, std::uint16_t port)
{
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints,
                           &found);
    if (rc != 0)  // no such host, say
        throw std::runtime_error(fmt::format("cannot connect to {} port {}: {}",
                                             host, port, gai_strerror(rc)));
    Socket socket;
    int error = ECONNREFUSED;
    for (addrinfo* a = found; a != nullptr && !socket.is_open();
         a = a->ai_next) {
        socket =
            Socket(::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, 0));
        if (!socket.is_open() ||
            ::connect(socket.fd(), a->ai_addr, a->ai_addrlen) < 0) {
            error = errno;  // try the next address
            socket.close();
        }
    }
    ::freeaddrinfo(found);
    errno = error;
    if (!socket.is_open())
        throw_errno("cannot connect to {} port {}", host, port);
    return socket;
}

bool Socket::write_all(std::string_view data) noexcept
{
    while (!data.empty()) {
        ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;  // a signal arrived before anything was sent: again
        pollfd p{fd_, POLLOUT, 0};
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
            (::poll(&p, 1, -1) >= 0 || errno == EINTR))
            continue;  // a non-blocking socket is full: wait for room
        if (n <= 0)
            return false;  // EPIPE, ECONNRESET, ...: the peer is gone
        data.remove_prefix(static_cast<std::size_t>(n));  // a partial write
    }
    return true;
}

bool Socket::write_line(std::string_view line)
{
    return write_all(std::string(line) + "\r\n");  // in one send: whole
}

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
    if (argc > 2)
        throw UsageError(fmt::format("usage: {} [port]  (default {})",
                                     program_name(argv[0]), default_port));
    return argc < 2 ? default_port : parse_port(argv[1]);
}

}  // namespace net
