// How fast net::LineBuffer parses short lines against long ones: the same
// 64 MiB of input, fed in reads of 16 KiB as LineReader does, as lines of
// 1 byte and of 512 bytes. A benchmark to run by hand, not a timed test:
//   cmake --build build/bench --target line_buffer_bench
//   build/bench/bin/line_buffer_bench
#include "line_reader.hpp"

#include <chrono>
#include <fmt/core.h>
#include <string>
#include <string_view>

// Megabytes per second for `total` bytes of lines of `length` bytes.
static double rate(std::size_t length, std::size_t total)
{
    std::string input;
    while (input.size() < (16 << 10))
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
    if (lines == 0)
        return 0;
    return static_cast<double>(total) / took.count() / 1e6;
}

int main()
{
    const std::size_t total = std::size_t{64} << 20;
    double short_lines = rate(1, total);
    double long_lines = rate(512, total);
    fmt::print("1-byte lines:   {:8.0f} MB/s\n", short_lines);
    fmt::print("512-byte lines: {:8.0f} MB/s\n", long_lines);
    fmt::print("long / short:   {:8.1f}\n", long_lines / short_lines);
}
