// Reading text lines from a socket (or any descriptor), however TCP splits
// or merges them, in bounded memory.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

namespace net {

// Lines end at "\n"; a "\r" before it (telnet sends "\r\n") is dropped. A
// line longer than max_line comes out in pieces of max_line bytes, so a
// client that never sends "\n" costs at most max_line bytes of buffer.
constexpr std::size_t default_max_line = 4096;

// The parsing half, with no I/O: feed it bytes as they arrive, take lines.
class LineBuffer {
public:
    explicit LineBuffer(std::size_t max_line = default_max_line);

    void append(std::string_view bytes) { buffer_.append(bytes); }
    // Moves the next complete line (or max_line piece) into `line`.
    bool next_line(std::string& line);
    // Moves whatever is left, if anything, into `line` (at end of input,
    // or when the sender has paused: see LineReader::complete_after).
    bool take_rest(std::string& line);
    // Whether the line just taken was a max_line piece of a longer one.
    bool cut() const noexcept { return cut_; }
    std::size_t size() const noexcept { return buffer_.size(); }
    // Whether next_line would give a line now, without more bytes.
    bool has_line() const noexcept;

private:
    std::size_t max_line_;
    std::string buffer_;  // received, not yet returned
    bool cut_ = false;
};

// Lines from a descriptor. While it holds more complete lines than the one
// it returned, this thread is in a burst (burst.hpp): replies wait, and go
// out together before the reader next waits for input.
class LineReader {
public:
    explicit LineReader(int fd, std::size_t max_line = default_max_line);
    LineReader(LineReader&& other) = default;
    LineReader& operator=(LineReader&& other) = default;
    ~LineReader();  // ends the burst: sends the replies that waited

    // The next line, without its line end. False when the input has ended
    // (closed, reset, or an error): that is the end of the conversation.
    // A last line with no "\n" before the end still counts as a line.
    bool read_line(std::string& line);
    // Whether that line was a max_line piece of a longer one.
    bool cut() const noexcept { return buffer_.cut(); }
    // After a cut() line: reads and drops the rest of that long line.
    // False if the input ended first.
    bool skip_rest_of_line();
    // From now on, an unfinished line followed by `pause` with no more
    // bytes counts as a whole line: for clients that send a message with
    // no "\n" and wait. Zero (the default) waits for the "\n".
    void complete_after(std::chrono::milliseconds pause) { pause_ = pause; }

private:
    int fd_;
    LineBuffer buffer_;
    bool ended_ = false;
    std::chrono::milliseconds pause_{0};
};

}  // namespace net
