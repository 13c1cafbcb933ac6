// What a program prints, one whole line at a time, and how main fails.
#pragma once

#include <cstdint>
#include <cstdio>
#include <exception>
#include <fmt/core.h>
#include <stdexcept>
#include <string>
#include <utility>

namespace net {

// Writes `line` to `file` and flushes it. If no one reads the file any more
// (`chatserver5 | head -n1`), the line is dropped: the write's SIGPIPE,
// which would end the whole program, is held back in this thread only.
void print(std::FILE* file, const std::string& line);

// Prints one line on stdout and flushes it, so whoever watches (a person, a
// test) sees it at once. Lines from different threads never interleave.
template <typename... Args>
void log(fmt::format_string<Args...> format, Args&&... args)
{
    print(stdout, fmt::format(format, std::forward<Args>(args)...) + '\n');
}

// "chatserver3" from "./build/bin/chatserver3".
std::string program_name(const char* argv0);
// "chatserver3: listening on port 8888", the line tests read the port from.
void log_listening(const char* argv0, std::uint16_t port);

// A mistake on the command line: main reports it and exits with status 2.
struct UsageError : std::invalid_argument {
    using std::invalid_argument::invalid_argument;
};
// What main does with an exception: prints "chatserver3: <what>" on stderr
// and returns the exit status, 2 for a UsageError and 1 for the rest.
int fail(const char* argv0, const std::exception& error);

}  // namespace net
