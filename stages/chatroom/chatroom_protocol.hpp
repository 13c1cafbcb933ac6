// The chat room's protocol (docs/chatroom.md), with no I/O: what the
// server makes of a line, which names are allowed, and what the client
// makes of the user's typing and of the server's lines.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace chat {

constexpr std::size_t max_line = 512;  // bytes of text, as in IRC
constexpr std::size_t max_name = 20;
// MEMBERS lists at most this many names, then "+N" for the N others:
// about 21 KB at most, well within a client's longest line.
constexpr std::size_t max_listed = 1000;

enum class Verb { add, message, private_message, quit, who, unknown };

struct Command {
    Verb verb;
    std::string word;      // the command as sent, e.g. "ADD"
    std::string argument;  // what follows the first space, e.g. "alice"
};

// "ADD alice" -> {add, "ADD", "alice"}. Commands are matched ignoring case.
Command parse_command(std::string_view line);

// `text` without the spaces and tabs around it: "  bob " -> "bob".
std::string trim(std::string_view text);

// Why `name` cannot be a screen name, or "" if it can.
std::string name_problem(std::string_view name);

// `text` with control characters (ESC, BEL, NUL, DEL, C1 controls...)
// shown as ^[, ^G, ^@, ^?, ?: safe to print on anybody's terminal.
std::string harmless(std::string_view text);

// The client's side: the line to send for what the user typed ("" for
// nothing), or a hint for the user when the typing makes no sense.
struct Outgoing {
    std::string to_server;  // one or more protocol lines, "\r\n" each
    std::string hint;       // for the user, e.g. how to use "private"
    bool quit = false;
};
Outgoing from_keyboard(std::string_view typed);

// The client's side: `shown` in rows for a terminal `width` columns wide
// (0: not a terminal, as it is), each row after the first indented by 4
// spaces, so that no text inside a message can start a row and look like
// a line of its own ("==> bob [private]: ..."). A character outside ASCII
// counts as 2 columns and a tab as 8, the most they take on a terminal,
// so the terminal never wraps a row itself.
std::string wrap(std::string_view shown, std::size_t width);

// The client's side: turns the server's lines into what the user sees,
// "==> alice: hello". MESSAGE and PRIVATE take two lines, so it keeps
// state between them.
class Display {
public:
    // What to show for this line of the server's, if anything yet.
    bool show(std::string_view line, std::string& shown);
    bool saw_goodbye() const { return goodbye_; }

private:
    std::string sender_;  // of a MESSAGE or PRIVATE whose text is next
    bool is_private_ = false;
    bool awaiting_text_ = false;
    bool goodbye_ = false;
};

}  // namespace chat
