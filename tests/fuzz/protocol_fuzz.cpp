// libFuzzer target: the chat room's protocol, on anything a client or a
// server might send. The first byte chooses which side is fuzzed.
#include "chatroom_protocol.hpp"
#include "line_reader.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

// Nothing that reaches a terminal may be a control character.
void check_harmless(std::string_view shown)
{
    for (unsigned char c : shown)
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size)
{
    if (size < 1)
        return 0;
    std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
    if (data[0] % 2 == 0) {  // the server's side: lines from a client
        net::LineBuffer buffer(chat::max_line);
        buffer.append(bytes);
        std::string line;
        while (buffer.next_line(line) || buffer.take_rest(line)) {
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
    } else {  // the client's side: lines from a server, shown to the user
        net::LineBuffer buffer(64 * 1024);
        buffer.append(bytes);
        chat::Display display;
        std::string line;
        std::string shown;
        while (buffer.next_line(line) || buffer.take_rest(line))
            if (display.show(line, shown))
                check_harmless(shown);
    }
    return 0;
}
