// Reading text lines from a socket (or any descriptor), however TCP splits
// or merges them, in bounded memory.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

namespace net {

// Lines end at "\n"; a "\r" before it (telnet sends "\r\n") is dropped. A
// longer line than max_line comes out in pieces of max_line bytes, so a
// client that never sends "\n" costs a piece and one read's bytes at most.
constexpr std::size_t default_max_line = 4096;

// The parsing, with no I/O: feed it bytes as they arrive, take lines.
class LineBuffer {
public:
    explicit LineBuffer(std::size_t max_line = default_max_line)
        : max_line_(max_line < 1 ? 1 : max_line)
    {
    }

    void append(std::string_view bytes);
    // Moves the next line (or max_line piece) into `line`, if there is one.
    bool next_line(std::string& line);
    bool has_line() const noexcept;  // next_line would give one now
    // Moves the rest, if any, into `line`: at the end of the input, or
    // after a pause (LineReader::complete_after).
    bool take_rest(std::string& line);
    bool cut() const noexcept { return cut_; }  // that was a piece
    std::size_t size() const noexcept { return buffer_.size() - start_; }
    bool starts_with(std::string_view text) const noexcept;

private:
    std::size_t max_line_;
    std::string buffer_;     // received; returned up to start_
    std::size_t start_ = 0;  // moved to the front once per append, so a
    bool cut_ = false;       // line costs the same however many share a read
};

// Lines from a descriptor: read() as often as it takes to make a line.
class LineReader {
public:
    explicit LineReader(int fd, std::size_t max_line = default_max_line)
        : fd_(fd), buffer_(max_line)
    {
    }

    // The next line, without its line end; false when the input has ended
    // (closed, reset, an error). A last line with no "\n" still counts.
    bool read_line(std::string& line);
    // Whether another line is here already, from the same read.
    bool has_line() const noexcept { return buffer_.has_line(); }
    // Whether the line read was a max_line piece of a longer one; then
    // skip_rest_of_line drops the rest of it (false if the input ends).
    bool cut() const noexcept { return buffer_.cut(); }
    bool skip_rest_of_line();
    // For clients that send a line with no "\n" and wait: from now on, a
    // line that begins with `prefix`, followed by `pause` with no more
    // bytes, is whole without it. Other lines wait for their "\n".
    void complete_after(std::chrono::milliseconds pause, std::string prefix)
    {
        pause_ = pause;
        prefix_ = std::move(prefix);
    }

private:
    int fd_;
    LineBuffer buffer_;
    bool ended_ = false;
    std::chrono::milliseconds pause_{0};
    std::string prefix_;
    bool continuing_ = false;  // the rest of a prefixed line's piece
};

}  // namespace net
