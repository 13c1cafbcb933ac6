#include "socket.hpp"

#include "burst.hpp"

#include <cerrno>
#include <mutex>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <utility>

namespace net {

// A burst's lines for one socket wait until this many bytes, at most.
constexpr std::size_t send_at = 64 << 10;

namespace detail {

// The lines waiting to be sent to one socket. Threads that deferred them
// share it, and may flush after the Socket has gone: then fd is -1, and
// nothing is sent (the descriptor's number may belong to another by then).
struct Output {
    explicit Output(int socket) : fd(socket) {}

    std::mutex mutex;  // guards everything below
    int fd;
    std::string waiting;
    bool deferred = false;  // a thread will flush it when its burst ends

    bool send_locked() noexcept
    {
        bool sent = fd >= 0 && net::write_all(fd, waiting);
        waiting.clear();
        if (waiting.capacity() > send_at)
            std::string().swap(waiting);  // give back what a big burst took
        return sent;
    }

    void flush() noexcept
    {
        std::lock_guard lock(mutex);
        deferred = false;
        if (!waiting.empty())
            send_locked();
    }
};

}  // namespace detail

Socket::Socket(int fd, std::string peer)
    : fd_(fd), peer_(std::move(peer)),
      output_(fd >= 0 ? std::make_shared<detail::Output>(fd) : nullptr)
{
}

Socket::Socket(Socket&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), peer_(std::move(other.peer_)),
      output_(std::move(other.output_))
{
}

Socket& Socket::operator=(Socket&& other) noexcept
{
    if (this != &other) {
        close();
        fd_ = std::exchange(other.fd_, -1);
        peer_ = std::move(other.peer_);
        output_ = std::move(other.output_);
    }
    return *this;
}

Socket::~Socket()
{
    close();
}

void Socket::close() noexcept
{
    if (output_) {
        std::lock_guard lock(output_->mutex);
        if (!output_->waiting.empty())
            output_->send_locked();  // the last lines of a burst
        output_->fd = -1;  // for threads that still hold it: send nothing
        ::close(fd_);  // not retried on EINTR: on Linux the fd is gone anyway
    } else if (fd_ >= 0) {
        ::close(fd_);
    }
    output_.reset();
    fd_ = -1;
}

bool Socket::write_all(std::string_view data) noexcept
{
    if (!output_)
        return net::write_all(fd_, data);  // closed: it fails
    std::lock_guard lock(output_->mutex);
    return output_->send_locked() && net::write_all(fd_, data);
}

bool Socket::write_line(std::string_view line)
{
    if (!output_)
        return net::write_all(fd_, line);  // closed: it fails
    bool first_to_wait = false;
    {
        std::lock_guard lock(output_->mutex);
        output_->waiting.append(line).append("\r\n");
        if (!in_burst() || output_->waiting.size() >= send_at)
            return output_->send_locked();  // with any lines that waited
        first_to_wait = !std::exchange(output_->deferred, true);
    }
    if (first_to_wait)
        defer(output_);  // this thread sends it when its burst ends
    return true;
}

ssize_t write_some(int fd, std::string_view data,
                   std::chrono::milliseconds stall_limit) noexcept
{
    // With a limit, send must not block: poll does the waiting, with a
    // timeout. Without one, a plain blocking send.
    const int flags =
        MSG_NOSIGNAL | (stall_limit == no_limit ? 0 : MSG_DONTWAIT);
    for (;;) {
        ssize_t n = ::send(fd, data.data(), data.size(), flags);
        if (n >= 0) {
            return n;  // all of it, or as much as fitted
        } else if (errno == EINTR) {
            continue;  // a signal arrived: just try again
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            pollfd p{fd, POLLOUT, 0};  // buffer full: wait for room
            int ready = ::poll(&p, 1, static_cast<int>(stall_limit.count()));
            if (ready == 0)
                errno = ETIMEDOUT;  // it took nothing for stall_limit
            if (ready == 0 || (ready < 0 && errno != EINTR))
                return -1;
        } else {
            return -1;  // EPIPE, ECONNRESET, ...: the peer is gone
        }
    }
}

bool write_all(int fd, std::string_view data,
               std::chrono::milliseconds stall_limit) noexcept
{
    while (!data.empty()) {
        ssize_t n = write_some(fd, data, stall_limit);
        if (n <= 0)
            return false;
        data.remove_prefix(static_cast<size_t>(n));  // a partial write
    }
    return true;
}

}  // namespace net
