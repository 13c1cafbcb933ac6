// What a server prints: one line at a time, at once, whole.
#pragma once

#include <cstdio>
#include <exception>
#include <fmt/core.h>
#include <string>
#include <utility>

namespace net {

// Prints one line on stdout and flushes it, so whoever watches (a person, a
// test) sees it at once. Lines from different threads never interleave.
template <typename... Args>
void log(fmt::format_string<Args...> format, Args&&... args)
{
    std::string line = fmt::format(format, std::forward<Args>(args)...);
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fflush(stdout);
}

// "chatserver3" from "./build/bin/chatserver3".
std::string program_name(const char* argv0);

// What main does with an exception: prints "chatserver3: <what>" on stderr
// and returns the exit status: 2 for a bad command line, 1 for the rest.
int fail(const char* argv0, const std::exception& error);

}  // namespace net
