// libFuzzer target: the chat room's protocol, on anything a client or a
// server might send, in pieces as TCP would cut it. The first byte chooses
// which side is fuzzed, the second the size of the pieces.
#include "chatroom_protocol.hpp"
#include "line_reader.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

// Nothing that reaches a terminal may be a control character, and all of
// it is well-formed UTF-8 (the Unicode standard's table 3-7) with no C1
// control: nothing a lax decoder could read as ESC or CSI.
void check_harmless(std::string_view shown)
{
    for (std::size_t i = 0; i < shown.size();) {
        auto at = [&](std::size_t k) -> unsigned {
            return i + k < shown.size()
                       ? static_cast<unsigned char>(shown[i + k])
                       : 0;
        };
        unsigned c = at(0);
        unsigned low = 0x80;  // the second byte's range
        unsigned high = 0xbf;
        std::size_t length = 1;
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            std::abort();
        if (c >= 0xc2 && c <= 0xdf) {
            length = 2;
            low = c == 0xc2 ? 0xa0 : 0x80;  // C2 80..9F: C1 controls
        } else if (c >= 0xe0 && c <= 0xef) {
            length = 3;
            low = c == 0xe0 ? 0xa0 : 0x80;
            high = c == 0xed ? 0x9f : 0xbf;
        } else if (c >= 0xf0 && c <= 0xf4) {
            length = 4;
            low = c == 0xf0 ? 0x90 : 0x80;
            high = c == 0xf4 ? 0x8f : 0xbf;
        } else if (c >= 0x80) {
            std::abort();
        }
        if (length > 1 && (at(1) < low || at(1) > high))
            std::abort();
        for (std::size_t k = 2; k < length; ++k)
            if (at(k) < 0x80 || at(k) > 0xbf)
                std::abort();
        i += length;
    }
}

// What the server makes of one line must make sense.
void check_command(const std::string& line)
{
    chat::Command command = chat::parse_command(line);
    if (command.word.size() > line.size() ||
        command.argument.size() > line.size())
        std::abort();
    std::string name = chat::trim(command.argument);
    if (chat::name_problem(name).empty() &&
        (name.empty() || name.size() > chat::max_name))
        std::abort();  // a bad name accepted
    check_harmless(chat::harmless(line));
    chat::Outgoing out = chat::from_keyboard(line);
    if (out.quit && out.to_server != "QUIT\r\n")
        std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size)
{
    if (size < 2)
        return 0;
    std::string_view bytes(reinterpret_cast<const char*>(data + 2), size - 2);
    const std::size_t piece = 1 + data[1] % 64;
    if (data[0] % 2 == 0) {  // the server's side: lines from a client
        net::LineBuffer buffer(chat::max_line);
        std::string line;
        for (std::size_t at = 0; at <= bytes.size(); at += piece) {
            buffer.append(bytes.substr(std::min(at, bytes.size()), piece));
            bool last = at + piece > bytes.size();
            while (buffer.next_line(line) || (last && buffer.take_rest(line)))
                check_command(line);
        }
    } else {  // the client's side: lines from a server, shown to the user
        net::LineBuffer buffer(64 * 1024);
        chat::Display display;
        std::string line;
        std::string shown;
        for (std::size_t at = 0; at <= bytes.size(); at += piece) {
            buffer.append(bytes.substr(std::min(at, bytes.size()), piece));
            bool last = at + piece > bytes.size();
            while (buffer.next_line(line) || (last && buffer.take_rest(line)))
                if (display.show(line, shown))
                    check_harmless(shown);
        }
    }
    return 0;
}
