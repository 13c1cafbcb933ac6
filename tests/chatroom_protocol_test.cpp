// Unit tests of the chat room's protocol: commands, names, and what the
// client shows, however TCP cuts the server's bytes.
#include "chatroom_protocol.hpp"
#include "line_reader.hpp"

#include <gtest/gtest.h>
#include <string>
#include <vector>

namespace {

using chat::Verb;
using Lines = std::vector<std::string>;

TEST(ParseCommand, SplitsTheVerbFromItsArgument)
{
    auto c = chat::parse_command("MESSAGE hello there ");
    EXPECT_EQ(c.verb, Verb::message);
    EXPECT_EQ(c.word, "MESSAGE");
    EXPECT_EQ(c.argument, "hello there ");
    EXPECT_EQ(chat::parse_command("ADD alice").verb, Verb::add);
    EXPECT_EQ(chat::parse_command("PRIVATE bob").argument, "bob");
    EXPECT_EQ(chat::parse_command("QUIT").verb, Verb::quit);
    EXPECT_EQ(chat::parse_command("QUIT").argument, "");
    EXPECT_EQ(chat::parse_command("WHO").verb, Verb::who);
}

TEST(ParseCommand, IgnoresCaseAndKnowsWhatItDoesNotKnow)
{
    EXPECT_EQ(chat::parse_command("add alice").verb, Verb::add);
    EXPECT_EQ(chat::parse_command("Quit").verb, Verb::quit);
    EXPECT_EQ(chat::parse_command("ADDalice").verb, Verb::unknown);
    EXPECT_EQ(chat::parse_command("").verb, Verb::unknown);
    EXPECT_EQ(chat::parse_command(" ADD x").verb, Verb::unknown);
    EXPECT_EQ(chat::parse_command("NICK x").word, "NICK");
}

TEST(Trim, DropsSpacesAndTabsAround)
{
    EXPECT_EQ(chat::trim("  bob \t"), "bob");
    EXPECT_EQ(chat::trim("a b"), "a b");
    EXPECT_EQ(chat::trim(" \t "), "");
}

TEST(NameProblem, AllowsShortPlainNames)
{
    for (const char* name :
         {"alice", "Bob_2", "x", "a.b-c", "abcdefghij0123456789"})
        EXPECT_EQ(chat::name_problem(name), "") << name;
}

TEST(NameProblem, RefusesEmptyLongSpacedOrOddNames)
{
    const std::vector<std::string> names{"",
                                         "two words",
                                         "abcdefghij0123456789x",
                                         "tab\there",
                                         "esc\x1b",
                                         "colon:",
                                         "caf\xc3\xa9",
                                         std::string("nul\0", 4),
                                         std::string(10000, 'a')};
    for (const std::string& name : names)
        EXPECT_NE(chat::name_problem(name), "") << name;
}

TEST(Harmless, ShowsControlCharactersInsteadOfObeyingThem)
{
    EXPECT_EQ(chat::harmless("\x1b[2Jhi\x07"), "^[[2Jhi^G");
    EXPECT_EQ(chat::harmless(std::string("a\0b\x7f", 4)), "a^@b^?");
    EXPECT_EQ(chat::harmless("\r\n"), "^M^J");
    EXPECT_EQ(chat::harmless("\xc2\x9b"
                             "31m"),
              "?31m");  // UTF-8 CSI
    EXPECT_EQ(chat::harmless("\x9b"
                             "31m"),
              "?31m");                            // raw CSI
    EXPECT_EQ(chat::harmless("\xe2\x82"), "??");  // cut short
}

// What a lax decoder would read as ESC, CSI or a non-character.
TEST(Harmless, ReplacesOverlongSurrogateAndOutOfRangeUtf8)
{
    EXPECT_EQ(chat::harmless("\xe0\x80\x9b[2J"), "?[2J");  // ESC, overlong
    EXPECT_EQ(chat::harmless("\xe0\x82\x9b"
                             "31m"),
              "?31m");                                   // CSI, overlong
    EXPECT_EQ(chat::harmless("\xc0\x9b"), "?");          // ESC, overlong
    EXPECT_EQ(chat::harmless("\xed\xa0\x80!"), "?!");    // a surrogate
    EXPECT_EQ(chat::harmless("\xf4\x90\x80\x80"), "?");  // past U+10FFFF
    EXPECT_EQ(chat::harmless("\xf8\x88\x80\x80\x80"), "?????");  // 5 bytes
    EXPECT_EQ(chat::harmless("a\xe2\x80\xaez"),
              "a?z");                                  // U+202E, right-to-left
    EXPECT_EQ(chat::harmless("\xe2\x81\xa6x"), "?x");  // U+2066, an isolate
}

TEST(Harmless, KeepsTextTabsAndUtf8)
{
    EXPECT_EQ(chat::harmless("caf\xc3\xa9\tok"), "caf\xc3\xa9\tok");
    EXPECT_EQ(chat::harmless("\xe2\x82\xac 5"), "\xe2\x82\xac 5");
    EXPECT_EQ(chat::harmless("\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf"),
              "\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf");  // U+1F600, U+10FFFF
}

TEST(FromKeyboard, PlainTextIsAMessageToEveryone)
{
    EXPECT_EQ(chat::from_keyboard("hello all").to_server,
              "MESSAGE hello all\r\n");
    EXPECT_EQ(chat::from_keyboard("privateer ahoy").to_server,
              "MESSAGE privateer ahoy\r\n");
    EXPECT_EQ(chat::from_keyboard("").to_server, "");
}

TEST(FromKeyboard, PrivateNameColonText)
{
    auto out = chat::from_keyboard("private bob:see you: at 5");
    EXPECT_EQ(out.to_server, "PRIVATE bob\r\nsee you: at 5\r\n");
    EXPECT_EQ(out.hint, "");
    EXPECT_EQ(chat::from_keyboard("PRIVATE bob:x").to_server,
              "PRIVATE bob\r\nx\r\n");
    EXPECT_EQ(chat::from_keyboard("private  bob :x").to_server,
              "PRIVATE bob\r\nx\r\n");  // spaces around the name go
}

TEST(FromKeyboard, PrivateWithoutAColonGetsAHint)
{
    for (const char* typed :
         {"private bob hello", "private", "private :x", "private  :x"}) {
        auto out = chat::from_keyboard(typed);
        EXPECT_EQ(out.to_server, "") << typed;
        EXPECT_EQ(out.hint, "==> usage: private NAME:text") << typed;
    }
}

TEST(FromKeyboard, QuitLeaves)
{
    for (const char* typed : {"quit", "QUIT", "Quit"}) {
        auto out = chat::from_keyboard(typed);
        EXPECT_TRUE(out.quit);
        EXPECT_EQ(out.to_server, "QUIT\r\n");
    }
    EXPECT_FALSE(chat::from_keyboard("quit now").quit);
}

// What the client shows for `bytes` from the server, fed `chunk` at a time.
Lines shown_for(const std::string& bytes, size_t chunk)
{
    net::LineBuffer buffer;
    chat::Display display;
    Lines shown;
    std::string line;
    std::string text;
    for (size_t at = 0; at < bytes.size(); at += chunk) {
        buffer.append(std::string_view(bytes).substr(at, chunk));
        while (buffer.next_line(line))
            if (display.show(line, text))
                shown.push_back(text);
    }
    return shown;
}

// Its rows as a terminal shows them: split at "\n".
Lines rows_of(const std::string& text)
{
    Lines rows;
    std::size_t start = 0;
    for (std::size_t end; (end = text.find('\n', start)) != text.npos;
         start = end + 1)
        rows.push_back(text.substr(start, end - start));
    rows.push_back(text.substr(start));
    return rows;
}

// A message padded so that its end would start a row of an 80-column
// terminal: the client's own rows keep it indented, at any width.
TEST(Wrap, NoTextInsideAMessageCanStartARow)
{
    const std::string shown =
        "==> mallory: " + std::string(67, ' ') + "==> bob [private]: psst";
    for (std::size_t width = 12; width <= 200; ++width) {
        Lines rows = rows_of(chat::wrap(shown, width));
        for (std::size_t i = 0; i < rows.size(); ++i) {
            EXPECT_LE(rows[i].size(), width) << width;
            if (i > 0) {
                EXPECT_EQ(rows[i].rfind("    ", 0), 0u) << width;
            }
        }
    }
    EXPECT_EQ(chat::wrap(shown, 0), shown);  // not a terminal
    EXPECT_EQ(
        rows_of(chat::wrap("==> a: \xc3\xa9\xc3\xa9\tz", 13)),
        (Lines{"==> a: \xc3\xa9\xc3\xa9", "    \tz"}));  // 2 and 8 columns
}

TEST(Display, ShowsEachServerLineAsTheTextbookDoes)
{
    const std::string from_server = "NEW alice\r\n"
                                    "MEMBERS alice bob\r\n"
                                    "MEMBERS alice bob +998\r\n"
                                    "MESSAGE alice\r\nhello\r\n"
                                    "PRIVATE bob\r\npsst: MESSAGE x\r\n"
                                    "ERROR name taken: bob\r\n"
                                    "LEFT alice\r\n"
                                    "SURPRISE \x1b[31m\r\n";
    const Lines expected{"==> alice has joined the chat room",
                         "==> in the room: alice, bob",
                         "==> in the room: alice, bob and 998 more",
                         "==> alice: hello",
                         "==> bob [private]: psst: MESSAGE x",
                         "==> error: name taken: bob",
                         "==> alice has left the chat room",
                         "==> SURPRISE ^[[31m"};
    for (size_t chunk = 1; chunk <= from_server.size(); ++chunk)
        EXPECT_EQ(shown_for(from_server, chunk), expected) << chunk;
}

TEST(Display, MakesTheSendersNameAndTextHarmless)
{
    EXPECT_EQ(shown_for("MESSAGE ev\x1bil\r\n\x1b[2Jboom\x07\r\n", 5),
              (Lines{"==> ev^[il: ^[[2Jboom^G"}));
}

TEST(Display, NoticesGoodbye)
{
    chat::Display display;
    std::string shown;
    EXPECT_FALSE(display.show("GOODBYE", shown));
    EXPECT_TRUE(display.saw_goodbye());
}

}  // namespace
