#include "socket.hpp"

#include <cerrno>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <utility>

namespace net {

Socket::Socket(int fd, std::string peer) noexcept
    : fd_(fd), peer_(std::move(peer))
{
}

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

bool Socket::write_all(std::string_view data) noexcept
{
    return net::write_all(fd_, data);
}

bool Socket::write_line(std::string_view line)
{
    std::string framed;
    framed.reserve(line.size() + 2);
    framed.append(line).append("\r\n");
    return net::write_all(fd_, framed);
}

bool write_all(int fd, std::string_view data,
               std::chrono::milliseconds stall_limit) noexcept
{
    // With a limit, send must not block: poll does the waiting, with a
    // timeout. Without one, a plain blocking send.
    const int flags =
        MSG_NOSIGNAL | (stall_limit == no_limit ? 0 : MSG_DONTWAIT);
    while (!data.empty()) {
        ssize_t n = ::send(fd, data.data(), data.size(), flags);
        if (n > 0) {
            data.remove_prefix(static_cast<size_t>(n));  // a partial write
        } else if (n < 0 && errno == EINTR) {
            continue;  // a signal arrived: just try again
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            pollfd p{fd, POLLOUT, 0};  // buffer full: wait for room
            int ready = ::poll(&p, 1, static_cast<int>(stall_limit.count()));
            if (ready == 0)
                errno = ETIMEDOUT;  // it took nothing for stall_limit
            if (ready == 0 || (ready < 0 && errno != EINTR))
                return false;
        } else {
            return false;  // EPIPE, ECONNRESET, ...: the peer is gone
        }
    }
    return true;
}

}  // namespace net
