#include "client.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fmt/core.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdexcept>
#include <sys/socket.h>
#include <system_error>
#include <unistd.h>
#include <utility>

namespace test {

namespace {

std::runtime_error failure(const char* what)
{
    return std::runtime_error(std::string(what) + ": " +
                              std::generic_category().message(errno));
}

}  // namespace

Client::Client(std::uint16_t port, const char* host)
{
    sockaddr_storage address{};
    socklen_t length;
    auto* in = reinterpret_cast<sockaddr_in*>(&address);
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&address);
    if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons(port);
        length = sizeof *in;
    } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        length = sizeof *in6;
    } else {
        throw std::invalid_argument(std::string("not an address: ") + host);
    }
    fd_ = ::socket(address.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0)
        throw failure("socket");
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), length) < 0) {
        auto error = failure("connect");
        ::close(fd_);
        throw error;
    }
    sockaddr_storage local{};
    length = sizeof local;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&local), &length);
    char text[INET6_ADDRSTRLEN] = "";
    if (local.ss_family == AF_INET) {
        auto* l = reinterpret_cast<sockaddr_in*>(&local);
        inet_ntop(AF_INET, &l->sin_addr, text, sizeof text);
        address_ = fmt::format("{}:{}", text, ntohs(l->sin_port));
    } else {
        auto* l = reinterpret_cast<sockaddr_in6*>(&local);
        inet_ntop(AF_INET6, &l->sin6_addr, text, sizeof text);
        address_ = fmt::format("[{}]:{}", text, ntohs(l->sin6_port));
    }
}

Client::Client(Client&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), address_(std::move(other.address_)),
      buffer_(std::move(other.buffer_)), start_(other.start_),
      closed_by_server_(other.closed_by_server_)
{
}

Client::~Client()
{
    close();
}

void Client::send(std::string_view data)
{
    while (!data.empty()) {
        ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            throw failure("send");
        data.remove_prefix(static_cast<size_t>(n));
    }
}

std::optional<std::string> Client::read_line(milliseconds timeout)
{
    auto deadline = Clock::now() + timeout;
    for (;;) {
        size_t end = buffer_.find('\n', start_);
        if (end != std::string::npos) {
            std::string line = buffer_.substr(start_, end - start_);
            start_ = end + 1;  // erasing line by line would be quadratic
            if (!line.empty() && line.back() == '\r')
                line.pop_back();
            return line;
        }
        if (closed_by_server_)
            return std::nullopt;
        auto left =
            std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
        pollfd p{fd_, POLLIN, 0};
        int rc = ::poll(&p, 1, left.count() > 0 ? int(left.count()) : 0);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            return std::nullopt;  // timed out
        char chunk[65536];
        ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            closed_by_server_ = true;
        } else {
            buffer_.erase(0, start_);
            start_ = 0;
            buffer_.append(chunk, static_cast<size_t>(n));
        }
    }
}

bool Client::skip_to_line_ending(std::string_view text, milliseconds timeout)
{
    auto deadline = Clock::now() + timeout;
    while (auto line = read_line(std::chrono::duration_cast<milliseconds>(
               deadline - Clock::now())))
        if (line->size() >= text.size() &&
            line->compare(line->size() - text.size(), text.size(), text) == 0)
            return true;
    return false;
}

bool Client::wait_closed(milliseconds timeout)
{
    auto deadline = Clock::now() + timeout;
    while (!closed_by_server_ && Clock::now() < deadline)
        read_line(
            std::chrono::duration_cast<milliseconds>(deadline - Clock::now()));
    return closed_by_server_;
}

void Client::shutdown_write()
{
    ::shutdown(fd_, SHUT_WR);
}

void Client::reset()
{
    linger hard{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
    close();
}

void Client::close()
{
    if (fd_ >= 0)
        ::close(fd_);
    fd_ = -1;
}

}  // namespace test
