#include "connect.hpp"

#include <cerrno>
#include <fmt/core.h>
#include <netdb.h>
#include <sys/socket.h>
#include <system_error>

namespace net {

Socket connect_to(const std::string& host, std::uint16_t port)
{
    const std::string what =
        fmt::format("cannot connect to {} port {}", host, port);
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints,
                           &found);
    if (rc != 0)
        throw std::system_error(EHOSTUNREACH, std::generic_category(),
                                what + " (" + gai_strerror(rc) + ")");
    int error = ECONNREFUSED;
    for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
        Socket socket(::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC,
                               a->ai_protocol));
        if (socket.is_open() &&
            ::connect(socket.fd(), a->ai_addr, a->ai_addrlen) == 0) {
            ::freeaddrinfo(found);
            return socket;
        }
        error = errno;
    }
    ::freeaddrinfo(found);
    throw std::system_error(error, std::generic_category(), what);
}

}  // namespace net
