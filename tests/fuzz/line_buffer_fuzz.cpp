// libFuzzer target: the line reader's parsing half, fed as TCP would feed
// it, in pieces of any size. The first byte chooses the line cap, the next
// ones the piece sizes; the rest is what the client sent.
#include "line_reader.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace {

std::vector<std::string> lines_of(std::string_view input, std::size_t max_line,
                                  std::string_view pieces)
{
    net::LineBuffer buffer(max_line);
    std::vector<std::string> lines;
    std::string line;
    std::size_t at = 0;
    for (std::size_t i = 0; at < input.size(); ++i) {
        std::size_t size =
            pieces.empty()
                ? input.size()
                : 1 + static_cast<unsigned char>(pieces[i % pieces.size()]);
        buffer.append(input.substr(at, size));
        at += size;
        while (buffer.next_line(line)) {
            if (line.size() > max_line || line.find('\n') != line.npos)
                std::abort();  // a line too long, or not cut at "\n"
            lines.push_back(line);
        }
        if (buffer.size() > max_line + 1 + size)
            std::abort();  // memory must stay bounded
    }
    while (buffer.take_rest(line)) {
        if (line.size() > max_line)
            std::abort();
        lines.push_back(line);
    }
    return lines;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size)
{
    if (size < 2)
        return 0;
    std::string_view bytes(reinterpret_cast<const char*>(data), size);
    std::size_t max_line = 1 + static_cast<unsigned char>(bytes[0]) % 64;
    std::size_t piece_count = 1 + static_cast<unsigned char>(bytes[1]) % 8;
    std::string_view pieces = bytes.substr(2, piece_count);
    std::string_view input = bytes.substr(std::min(size, 2 + piece_count));
    // However TCP cuts the bytes, the lines are the same.
    if (lines_of(input, max_line, pieces) != lines_of(input, max_line, ""))
        std::abort();
    return 0;
}
