// How fast net::LineBuffer parses short lines against long ones, and whether
// a line costs more when many arrive in one read (it did when each line was
// erased from the front of the buffer). 64 MiB of lines, fed in reads of
// 16 KiB as LineReader does, and of 1 MiB. A benchmark to run by hand, not a
// timed test:
//   cmake --build build/bench --target line_buffer_bench
//   build/bench/bin/line_buffer_bench
#include "line_reader.hpp"

#include <chrono>
#include <fmt/core.h>
#include <string>

struct Rate {
    double mb_per_s;
    double ns_per_line;
};

// `total` bytes of lines of `length` bytes, appended `read` bytes at a time.
static Rate rate(std::size_t length, std::size_t read, std::size_t total)
{
    std::string input;
    while (input.size() < read)
        input += std::string(length, 'x') + "\n";
    net::LineBuffer buffer;
    std::string line;
    std::size_t lines = 0;
    auto start = std::chrono::steady_clock::now();
    for (std::size_t fed = 0; fed < total; fed += input.size()) {
        buffer.append(input);
        while (buffer.next_line(line))
            ++lines;
    }
    std::chrono::duration<double> took =
        std::chrono::steady_clock::now() - start;
    double seconds = took.count();
    return {static_cast<double>(total) / seconds / 1e6,
            seconds * 1e9 / static_cast<double>(lines)};
}

int main()
{
    const std::size_t total = std::size_t{64} << 20;
    fmt::print("{:>14} {:>10} {:>10} {:>10}\n", "line", "read", "MB/s",
               "ns/line");
    for (std::size_t length : {1, 512})
        for (std::size_t read : {16 << 10, 1 << 20}) {
            Rate r = rate(length, read, total);
            fmt::print("{:>9} bytes {:>7} KiB {:>10.0f} {:>10.1f}\n", length,
                       read >> 10, r.mb_per_s, r.ns_per_line);
        }
}
