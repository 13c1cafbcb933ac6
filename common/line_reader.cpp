#include "line_reader.hpp"

#include <algorithm>
#include <cerrno>
#include <poll.h>
#include <unistd.h>

namespace net {

void LineBuffer::append(std::string_view bytes)
{
    buffer_.erase(0, start_);  // the lines returned since the last append
    start_ = 0;
    buffer_.append(bytes);
}

bool LineBuffer::next_line(std::string& line)
{
    cut_ = false;
    std::string_view rest = std::string_view(buffer_).substr(start_);
    std::size_t end = rest.find('\n');
    if (end != std::string_view::npos) {
        std::size_t length = end;  // of the text, without "\r\n"
        if (length > 0 && rest[end - 1] == '\r')
            --length;
        if (length <= max_line_) {
            line.assign(rest.data(), length);
            start_ += end + 1;
            return true;
        }
    }
    // Too long, or no "\n" yet. Cut a piece only when at least two more
    // bytes follow it: then the rest is never just a line end, which would
    // read as a blank line that the client never typed.
    if (rest.size() >= max_line_ + 2) {
        line.assign(rest.data(), max_line_);
        start_ += max_line_;
        cut_ = true;
        return true;
    }
    return false;
}

bool LineBuffer::has_line() const noexcept
{
    return buffer_.find('\n', start_) != std::string::npos ||
           size() >= max_line_ + 2;
}

bool LineBuffer::starts_with(std::string_view text) const noexcept
{
    return std::string_view(buffer_).substr(start_, text.size()) == text;
}

bool LineBuffer::take_rest(std::string& line)
{
    if (size() > 0 && buffer_.back() == '\r')
        buffer_.pop_back();
    if (size() == 0)
        return false;
    std::size_t length = std::min(size(), max_line_);
    line.assign(buffer_, start_, length);
    start_ += length;
    cut_ = size() > 0;
    return true;
}

bool LineReader::read_line(std::string& line)
{
    char chunk[16384];  // what one read brings in, at most
    bool prefixed;      // the line begins with prefix_ (or its first piece)
    for (;;) {
        prefixed = continuing_ || buffer_.starts_with(prefix_);
        if (buffer_.next_line(line))
            break;
        if (ended_) {
            if (!buffer_.take_rest(line))
                return false;
            break;
        }
        if (pause_.count() > 0 && buffer_.size() > 0 && prefixed) {
            pollfd p{fd_, POLLIN, 0};
            int ready = ::poll(&p, 1, static_cast<int>(pause_.count()));
            if (ready == 0 && buffer_.take_rest(line))
                break;  // the sender paused mid-line: that is the line
        }
        ssize_t n = ::read(fd_, chunk, sizeof chunk);
        if (n > 0)
            buffer_.append(std::string_view(chunk, static_cast<size_t>(n)));
        else if (n < 0 && errno == EINTR)
            continue;
        else
            ended_ = true;  // 0: closed; < 0: reset or another error
    }
    continuing_ = buffer_.cut() && prefixed;  // a piece: the rest may pause
    return true;
}

bool LineReader::skip_rest_of_line()
{
    std::string piece;
    while (cut())
        if (!read_line(piece))
            return false;
    return true;
}

}  // namespace net
