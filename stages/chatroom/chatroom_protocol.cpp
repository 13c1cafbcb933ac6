#include "chatroom_protocol.hpp"

#include <algorithm>
#include <cctype>
#include <utility>

namespace chat {

namespace {

bool same_word(std::string_view a, std::string_view b)
{
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::toupper(static_cast<unsigned char>(x)) ==
                      std::toupper(static_cast<unsigned char>(y));
           });
}

bool starts_with_word(std::string_view text, std::string_view word)
{
    return text.size() >= word.size() &&
           same_word(text.substr(0, word.size()), word) &&
           (text.size() == word.size() || text[word.size()] == ' ');
}

}  // namespace

Command parse_command(std::string_view line)
{
    std::size_t space = line.find(' ');
    Command command{Verb::unknown, std::string(line.substr(0, space)), ""};
    if (space != std::string_view::npos)
        command.argument = line.substr(space + 1);
    const std::pair<const char*, Verb> verbs[] = {
        {"ADD", Verb::add},
        {"MESSAGE", Verb::message},
        {"PRIVATE", Verb::private_message},
        {"QUIT", Verb::quit},
        {"WHO", Verb::who}};
    for (const auto& [word, verb] : verbs)
        if (same_word(command.word, word))
            command.verb = verb;
    return command;
}

std::string trim(std::string_view text)
{
    std::size_t first = text.find_first_not_of(" \t");
    if (first == std::string_view::npos)
        return "";
    return std::string(
        text.substr(first, text.find_last_not_of(" \t") - first + 1));
}

std::string name_problem(std::string_view name)
{
    auto allowed = [](unsigned char c) {
        return std::isalnum(c) || c == '-' || c == '_' || c == '.';
    };
    if (name.empty() || name.size() > max_name ||
        !std::all_of(name.begin(), name.end(), allowed))
        return "a name is 1 to " + std::to_string(max_name) +
               " letters, digits, '-', '_' or '.'";
    return "";
}

// The UTF-8 sequence `text` begins with: its length if it is whole (0 for
// a stray byte or a cut sequence), and whether it is a character that a
// terminal shows as text: not a longer encoding than needed (E0 80 9B
// would be ESC to a lax decoder), not a surrogate, at most U+10FFFF, not
// a C1 control such as CSI (U+009B), and not a bidirectional override or
// isolate, which would show the rest of the row in another order.
static std::pair<std::size_t, bool> utf8_sequence(std::string_view text)
{
    unsigned char c = static_cast<unsigned char>(text[0]);
    std::size_t length = c < 0x80                ? 1
                         : c >= 0xc0 && c < 0xe0 ? 2
                         : c >= 0xe0 && c < 0xf0 ? 3
                         : c >= 0xf0 && c < 0xf8 ? 4
                                                 : 0;
    if (length == 0 || length > text.size())
        return {0, false};
    char32_t point = length == 1 ? c : c & (0x7fu >> length);
    for (std::size_t k = 1; k < length; ++k) {
        unsigned char next = static_cast<unsigned char>(text[k]);
        if ((next & 0xc0) != 0x80)
            return {0, false};
        point = point << 6 | (next & 0x3fu);
    }
    const char32_t shortest[] = {0, 0, 0x80, 0x800, 0x10000};
    bool text_char = point >= shortest[length] && point <= 0x10ffff &&
                     (point < 0xd800 || point > 0xdfff) &&
                     (point < 0x80 || point > 0x9f) &&
                     (point < 0x202a || point > 0x202e) &&  // bidi controls:
                     (point < 0x2066 || point > 0x2069);  // they reorder a row
    return {length, text_char};
}

std::string harmless(std::string_view text)
{
    std::string safe;
    safe.reserve(text.size());
    for (std::size_t i = 0; i < text.size();) {
        unsigned char c = static_cast<unsigned char>(text[i]);
        auto [length, text_char] = utf8_sequence(text.substr(i));
        if (c < 0x20 && c != '\t') {
            safe += '^';
            safe += static_cast<char>(c + 0x40);  // ESC -> ^[, BEL -> ^G
        } else if (c == 0x7f) {
            safe += "^?";
        } else if (text_char) {
            safe.append(text.substr(i, length));
        } else {
            safe += '?';  // not UTF-8, or not a character to print
        }
        i += length > 0 ? length : 1;
    }
    return safe;
}

Outgoing from_keyboard(std::string_view typed)
{
    Outgoing out;
    if (typed.empty())
        return out;
    if (same_word(typed, "quit")) {
        out.to_server = "QUIT\r\n";
        out.quit = true;
    } else if (starts_with_word(typed, "private")) {
        std::string_view rest =
            typed.substr(std::min<std::size_t>(typed.size(), 8));
        std::size_t colon = rest.find(':');
        std::string name = trim(rest.substr(0, colon));
        if (colon == std::string_view::npos || name.empty())
            out.hint = "==> usage: private NAME:text";
        else
            out.to_server = "PRIVATE " + name + "\r\n" +
                            std::string(rest.substr(colon + 1)) + "\r\n";
    } else {
        out.to_server = "MESSAGE " + std::string(typed) + "\r\n";
    }
    return out;
}

std::string wrap(std::string_view shown, std::size_t width)
{
    const std::string_view indent = "    ";
    if (width < indent.size() + 8)
        return std::string(shown);  // not a terminal, or a very narrow one
    std::string rows;
    std::size_t column = 0;
    for (std::size_t i = 0; i < shown.size();) {
        unsigned char c = static_cast<unsigned char>(shown[i]);
        std::size_t length = 1;  // the bytes of one character
        while (i + length < shown.size() &&
               (static_cast<unsigned char>(shown[i + length]) & 0xc0) == 0x80)
            ++length;
        std::size_t columns = c == '\t' ? 8 : c < 0x80 ? 1 : 2;
        if (column + columns > width) {
            rows.append("\n").append(indent);
            column = indent.size();
        }
        rows.append(shown.substr(i, length));
        column += columns;
        i += length;
    }
    return rows;
}

bool Display::show(std::string_view line, std::string& shown)
{
    if (awaiting_text_) {  // the second line of MESSAGE or PRIVATE
        awaiting_text_ = false;
        shown = "==> " + harmless(sender_) +
                (is_private_ ? " [private]: " : ": ") + harmless(line);
        return true;
    }
    std::size_t space = line.find(' ');
    std::string_view word = line.substr(0, space);
    std::string_view argument =
        space == std::string_view::npos ? "" : line.substr(space + 1);
    if (word == "MESSAGE" || word == "PRIVATE") {
        sender_ = argument;
        is_private_ = word == "PRIVATE";
        awaiting_text_ = true;
        return false;
    }
    if (word == "GOODBYE") {
        goodbye_ = true;
        return false;
    }
    if (word == "NEW") {
        shown = "==> " + harmless(argument) + " has joined the chat room";
    } else if (word == "LEFT") {
        shown = "==> " + harmless(argument) + " has left the chat room";
    } else if (word == "MEMBERS") {
        std::string names = harmless(argument);  // "alice bob", "... +3"
        std::string more;
        std::size_t plus = names.rfind(" +");
        if (plus != std::string::npos) {
            more = " and " + names.substr(plus + 2) + " more";
            names.erase(plus);
        }
        for (std::size_t at = 0; (at = names.find(' ', at)) != names.npos;
             at += 2)
            names.replace(at, 1, ", ");
        shown = "==> in the room: " + names + more;
    } else if (word == "ERROR") {
        shown = "==> error: " + harmless(argument);
    } else {
        shown = "==> " + harmless(line);  // something new: show it as is
    }
    return true;
}

}  // namespace chat
