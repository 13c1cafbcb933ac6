// How fast net::LineBuffer parses short lines against long ones, and whether
// a line costs more when many arrive in one read (it did when each line was
// erased from the front of the buffer). 64 MiB of lines, fed in reads of
// 16 KiB as LineReader does, and of 1 MiB; the best of 3 runs each. A benchmark
// to run by hand, not a timed test:
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
    double ns[2][2] = {};  // [1 byte, 512 bytes][16 KiB, 1 MiB reads]
    for (int l = 0; l < 2; ++l)
        for (int r = 0; r < 2; ++r) {
            std::size_t length = l == 0 ? 1 : 512;
            std::size_t read = r == 0 ? 16 << 10 : 1 << 20;
            Rate rate_now = rate(length, read, total);  // the best of 3:
            for (int run = 0; run < 2; ++run) {         // the first is cold
                Rate again = rate(length, read, total);
                if (again.ns_per_line < rate_now.ns_per_line)
                    rate_now = again;
            }
            ns[l][r] = rate_now.ns_per_line;
            fmt::print("{:>9} bytes {:>7} KiB {:>10.0f} {:>10.1f}\n", length,
                       read >> 10, rate_now.mb_per_s, rate_now.ns_per_line);
        }
    fmt::print("1 MiB reads against 16 KiB: {:.2f}x the time a line "
               "(1 byte), {:.2f}x (512 bytes)\n",
               ns[0][1] / ns[0][0], ns[1][1] / ns[1][0]);
    fmt::print("a 512-byte line against a 1-byte line: {:.2f}x the time\n",
               ns[1][0] / ns[0][0]);
}
