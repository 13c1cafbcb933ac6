// What every networked stage promises, whatever it teaches: its start-up
// line and errors, telnet's line ends, bounded lines, and surviving
// clients that misbehave. Each test runs against chatserver1 to 5.
#include "client.hpp"
#include "process.hpp"

#include <atomic>
#include <fmt/core.h>
#include <gtest/gtest.h>
#include <string>
#include <thread>

namespace {

using test::Client;
using test::Server;

class EveryStage : public testing::TestWithParam<const char*> {
protected:
    std::string stage() const { return GetParam(); }
    bool broadcasts() const  // stages 4 and 5 send a line to the others
    {
        return stage() == "chatserver4" || stage() == "chatserver5";
    }
    bool serves_only_one() const { return stage() == "chatserver1"; }

    // Where `speaker`'s lines arrive: back at the speaker (echo), or at a
    // second client, marked with who said it (broadcast).
    struct Conversation {
        Server& server;
        Client speaker;
        std::optional<Client> hearer;
        std::string prefix;

        std::optional<std::string> heard()
        {
            auto line = (hearer ? *hearer : speaker).read_line();
            if (line && line->rfind(prefix, 0) == 0)
                return line->substr(prefix.size());
            return line;
        }
    };

    Conversation talk(Server& server, const char* host = "127.0.0.1")
    {
        Conversation c{server, Client(server.port(), host), std::nullopt, ""};
        EXPECT_TRUE(server.saw_connected(c.speaker.address()));
        if (broadcasts()) {
            c.hearer.emplace(server.port());
            EXPECT_TRUE(server.saw_connected(c.hearer->address()));
            c.prefix = c.speaker.address() + ": ";
        }
        return c;
    }

    // The server still serves a client that has just arrived.
    void expect_still_serving(Server& server)
    {
        if (serves_only_one())
            return;  // chatserver1 is done after its one client
        auto c = talk(server);
        c.speaker.send_line("still there?");
        EXPECT_EQ(c.heard(), "still there?");
    }
};

INSTANTIATE_TEST_SUITE_P(Stages, EveryStage,
                         testing::Values("chatserver1", "chatserver2",
                                         "chatserver3", "chatserver4",
                                         "chatserver5"));

TEST_P(EveryStage, SaysItsPortOnTheFirstLine)
{
    Server server(stage());
    EXPECT_EQ(server.output().at(0),
              stage() + ": listening on port " + std::to_string(server.port()));
}

TEST_P(EveryStage, ABadPortIsAOneLineErrorAndExitStatus2)
{
    for (auto args : std::vector<std::vector<std::string>>{
             {"abc"}, {"70000"}, {"-1"}, {"1", "2"}}) {
        test::Process p([&] {
            std::vector<std::string> argv{test::stage_path(stage())};
            argv.insert(argv.end(), args.begin(), args.end());
            return argv;
        }());
        EXPECT_EQ(p.wait_exit(), 2) << args[0];
        std::string error = p.error_output();
        EXPECT_EQ(error.rfind(stage() + ": ", 0), 0u) << error;
        EXPECT_EQ(error.find('\n'), error.size() - 1) << error;
        EXPECT_TRUE(p.wait_for_output().empty());
    }
}

TEST_P(EveryStage, APortInUseIsAOneLineErrorAndExitStatus1)
{
    Server first(stage());
    test::Process second(
        {test::stage_path(stage()), std::to_string(first.port())});
    EXPECT_EQ(second.wait_exit(), 1);
    EXPECT_EQ(second.error_output(), stage() + ": cannot listen on port " +
                                         std::to_string(first.port()) +
                                         ": Address already in use\n");
}

TEST_P(EveryStage, ServesIPv4AndIPv6Clients)
{
    Server server(stage());
    {
        auto c = talk(server, serves_only_one() ? "::1" : "127.0.0.1");
        c.speaker.send_line("hello");
        EXPECT_EQ(c.heard(), "hello");
    }
    if (!serves_only_one()) {
        auto c6 = talk(server, "::1");
        EXPECT_EQ(c6.speaker.address().rfind("[::1]:", 0), 0u);
        c6.speaker.send_line("hello over IPv6");
        EXPECT_EQ(c6.heard(), "hello over IPv6");
    }
}

TEST_P(EveryStage, LinesAreTheSameHoweverTcpSplitsOrMergesThem)
{
    Server server(stage());
    auto c = talk(server);
    c.speaker.send("hel");
    c.speaker.send("lo\r");
    c.speaker.send("\n");
    c.speaker.send("two\r\nthree\nfour\r\n");
    for (const char* expected : {"hello", "two", "three", "four"})
        EXPECT_EQ(c.heard(), expected);
}

TEST_P(EveryStage, ABlankLineEndsTheSession)
{
    Server server(stage());
    auto c = talk(server);
    c.speaker.send_line("bye");
    EXPECT_EQ(c.heard(), "bye");
    c.speaker.send_line("");
    EXPECT_TRUE(c.speaker.wait_closed());
    EXPECT_TRUE(server.saw_disconnected(c.speaker.address()));
    expect_still_serving(server);
}

TEST_P(EveryStage, ALongLineComesOutInPiecesOf4KiB)
{
    Server server(stage());
    auto c = talk(server);
    c.speaker.send_line(std::string(10000, 'x'));
    EXPECT_EQ(c.heard(), std::string(4096, 'x'));
    EXPECT_EQ(c.heard(), std::string(4096, 'x'));
    EXPECT_EQ(c.heard(), std::string(10000 - 2 * 4096, 'x'));
    c.speaker.send_line("next");
    EXPECT_EQ(c.heard(), "next");
}

TEST_P(EveryStage, BinaryBytesAndTelnetNegotiationPassThrough)
{
    Server server(stage());
    {
        auto c = talk(server);
        const char bytes[] = "\xff\xfb\x01\xff\xfd\x03\0nul\xc3\x28";
        const std::string odd(bytes, sizeof bytes - 1);  // NUL and all
        c.speaker.send(odd + "\r\n");
        EXPECT_EQ(c.heard(), odd);
    }
    expect_still_serving(server);
}

TEST_P(EveryStage, AClientResetMidLineHurtsNobodyElse)
{
    Server server(stage());
    Client rude(server.port());
    ASSERT_TRUE(server.saw_connected(rude.address()));
    rude.send("half a li");
    rude.reset();
    EXPECT_TRUE(server.saw_disconnected(rude.address()));
    if (serves_only_one()) {
        EXPECT_EQ(server.wait_exit(), 0);  // its normal end, not a crash
    }
    expect_still_serving(server);
}

TEST_P(EveryStage, AClientThatVanishesWhileServedCannotKillTheServer)
{
    if (stage() == "chatserver4")  // it would crash, of its race, not this
        GTEST_SKIP() << "a client leaving mid-broadcast is stage 4's race";
    Server server(stage());
    auto c = talk(server);
    // The server is busy writing to the receiver when the receiver resets
    // the connection: its next writes fail with EPIPE, which must not
    // raise SIGPIPE (that would kill the whole server).
    std::string many;
    for (int i = 0; i < 20000; ++i)
        many += fmt::format("line {:5} {:80}\r\n", i, "");
    if (!c.hearer) {
        std::atomic<bool> sent{false};
        std::thread flood([&] {
            c.speaker.send(many);
            sent = true;  // in the kernel's buffers, far from all echoed
        });
        while (!sent)
            c.speaker.read_line(test::milliseconds(10));  // keep echo going
        flood.join();
        c.speaker.reset();
    } else {
        std::thread flood([&] {  // blocks whenever the server falls behind
            c.speaker.send(many);
            c.speaker.send_line("");
        });
        EXPECT_TRUE(c.hearer->read_line().has_value());  // broadcasting
        c.hearer->reset();
        EXPECT_TRUE(server.saw_disconnected(c.hearer->address()));
        flood.join();
    }
    EXPECT_TRUE(server.saw_disconnected(c.speaker.address()));
    if (serves_only_one()) {
        EXPECT_EQ(server.wait_exit(), 0);
    } else {
        EXPECT_TRUE(server.running());
    }
    expect_still_serving(server);
}

}  // namespace
