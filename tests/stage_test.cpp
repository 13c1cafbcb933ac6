// What every networked stage promises, whatever it teaches: its start-up
// line and errors, telnet's line ends, bounded lines, and surviving
// clients that misbehave. Each test runs against chatserver1 to 5.
#include "client.hpp"
#include "process.hpp"

#include <atomic>
#include <fmt/core.h>
#include <fstream>
#include <gtest/gtest.h>
#include <iterator>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <sys/resource.h>
#include <thread>
#include <vector>

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

        Conversation(Conversation&&) = default;
        // Its clients leave one at a time: two leaving at once would be
        // stage 4's race, which the tests of other things must not meet.
        ~Conversation()
        {
            for (Client* c : {&speaker, hearer ? &*hearer : nullptr})
                if (c != nullptr && c->fd() >= 0) {
                    std::string address = c->address();
                    c->close();
                    server.saw_disconnected(address);
                }
        }

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
        if (serves_only_one()) {  // chatserver1 is done after its one
            EXPECT_TRUE(server.running() ||  // client: it may have ended,
                        server.wait_exit(test::milliseconds(0)) == 0)
                << "chatserver1 did not end well";  // but not crashed
            return;
        }
        auto c = talk(server);
        c.speaker.send_line("still there?");
        EXPECT_EQ(c.heard(), "still there?")
            << "running: " << server.running()  // for a rare failure in CI
            << ", stderr: " << server.error_output();
    }

    // Sends `bytes` then an END line from one thread while this one reads
    // what the server makes of it: a client that both floods and reads, so
    // neither side's buffers fill for good. Returns the lines heard before
    // END, in order, without the broadcast's prefix.
    static std::vector<std::string> flood(Conversation& c,
                                          const std::string& bytes)
    {
        std::thread sender([&] {
            try {
                c.speaker.send(bytes);
                c.speaker.send("END\r\n");
            } catch (const std::runtime_error&) {
            }
        });
        std::vector<std::string> heard;
        for (std::optional<std::string> line; (line = c.heard()) != "END";) {
            if (!line) {
                ADD_FAILURE() << "no END after " << heard.size() << " lines";
                break;
            }
            heard.push_back(std::move(*line));
        }
        sender.join();
        return heard;
    }
    // `count` copies of `line`.
    static std::vector<std::string> times(int count, const std::string& line)
    {
        return std::vector<std::string>(static_cast<std::size_t>(count), line);
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

// `chatserver5 0 | head -n3`: once no one reads the log, writing a line to
// it raises SIGPIPE, which would end the server for everyone.
TEST_P(EveryStage, ALogThatNoOneReadsAnyMoreIsNoReasonToStop)
{
    Server server(stage());
    auto c = talk(server);    // the log is read until both clients are in
    server.close_stdout();    // from now on, each line logged hits EPIPE
    c.speaker.close();        // "Disconnected ..."
    if (serves_only_one()) {  // chatserver1 ends after its one client
        EXPECT_EQ(server.wait_exit(), 0);
        return;
    }
    Client newcomer(server.port());  // "Connected ..."
    newcomer.send_line("anyone still here?");
    Client& hearer = broadcasts() ? *c.hearer : newcomer;
    EXPECT_TRUE(hearer.skip_to_line_ending("anyone still here?"));
    EXPECT_TRUE(server.running());
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

TEST_P(EveryStage, LinesSentWithTheBlankLineInOneSendStillArrive)
{
    // One read brings in all three: the stage answers the lines of a read
    // in one send, and must not drop them because the session ends.
    Server server(stage());
    auto c = talk(server);
    c.speaker.send("last\r\nwords\r\n\r\nignored\r\n");
    EXPECT_EQ(c.heard(), "last");
    EXPECT_EQ(c.heard(), "words");
    EXPECT_TRUE(c.speaker.wait_closed());
    EXPECT_TRUE(server.saw_disconnected(c.speaker.address()));
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

namespace {

// Hostile clients: what a classroom throws at a server.

TEST_P(EveryStage, HugeLinesWithoutANewlineCostBoundedMemory)
{
    Server server(stage());
    {
        auto c = talk(server);
        const long start = server.resident_kib();
        // Every byte comes back, in pieces of 4096 (1 MiB is 256 of them).
        EXPECT_TRUE(flood(c, std::string(1 << 20, 'x') + "\r\n") ==
                    times(256, std::string(4096, 'x')));
        const int mib = test::sanitized ? 16 : 64;
        EXPECT_TRUE(flood(c, std::string(mib << 20, 'y') + "\n") ==
                    times(mib * 256, std::string(4096, 'y')));
        test::expect_memory_near(server, start);
        c.speaker.send_line("and now a short one");
        EXPECT_EQ(c.heard(), "and now a short one");
    }  // its clients leave, one at a time
    expect_still_serving(server);
}

TEST_P(EveryStage, AHundredThousandOneByteLines)
{
    Server server(stage());
    {
        auto c = talk(server);
        const long start = server.resident_kib();
        std::string lines;
        std::vector<std::string> expected;
        for (int i = 0; i < 100000; ++i) {
            lines += std::to_string(i % 10) + "\n";  // one byte, and a count
            expected.push_back(std::to_string(i % 10));
        }
        EXPECT_TRUE(flood(c, lines) == expected);  // all of them, in order
        test::expect_memory_near(server, start);
    }  // its clients leave, one at a time
    expect_still_serving(server);
}

TEST_P(EveryStage, AHalfClosedClientStillGetsItsAnswer)
{
    Server server(stage());
    {
        auto c = talk(server);
        c.speaker.send_line("last words");
        c.speaker.shutdown_write();  // no more from me, but I still listen
        EXPECT_EQ(c.heard(), "last words");
        EXPECT_TRUE(c.speaker.wait_closed());  // the end of its session
    }
    expect_still_serving(server);
}

TEST_P(EveryStage, AClientThatSaysNothingHoldsUpOnlyTheEarlyStages)
{
    Server server(stage());
    Client silent(server.port());
    ASSERT_TRUE(server.saw_connected(silent.address()));
    Client other(server.port());
    // Stages 1 and 2 serve one client at a time: that is their lesson. The
    // others must take it, however slow the machine: wait for the event;
    // the early ones must not, in the time the others take when quiet.
    const bool concurrent =
        stage() != "chatserver1" && stage() != "chatserver2";
    bool served = server.saw_connected(
        other.address(), concurrent ? test::event_timeout : test::quiet_period);
    EXPECT_EQ(served, concurrent);
    if (served && !broadcasts()) {
        other.send_line("anyone?");
        EXPECT_EQ(other.read_line(), "anyone?");
    }
}

// The stages that serve many clients at once, and have no race.
class ConcurrentStage : public EveryStage {};
INSTANTIATE_TEST_SUITE_P(Stages, ConcurrentStage,
                         testing::Values("chatserver3", "chatserver5"));

TEST_P(ConcurrentStage, AThousandClientsComingAndGoingDisturbNoOne)
{
    Server server(stage());
    auto c = talk(server);
    const long start = server.resident_kib();
    std::atomic<bool> churn_done{false};
    int churned = 0;
    std::thread churn([&] {  // bounded: 1000 clients, or 30 s
        auto deadline = test::Clock::now() + test::seconds(30);
        try {
            for (; churned < 1000 && test::Clock::now() < deadline; ++churned) {
                Client passer(server.port());
                if (churned % 2 == 0)
                    passer.reset();  // half leave abruptly
            }
        } catch (const std::runtime_error&) {
            ADD_FAILURE() << "a connection was refused";
        }
        churn_done = true;
    });
    int said = 0;  // meanwhile, a conversation: every line must arrive
    for (; !churn_done && said < 1000000; ++said) {
        c.speaker.send_line("line " + std::to_string(said));
        ASSERT_EQ(c.heard(), "line " + std::to_string(said));
    }
    churn.join();
    EXPECT_EQ(churned, 1000);
    EXPECT_GT(said, 0);
    test::expect_memory_near(server, start);
    expect_still_serving(server);
}

// CPU time a process has used, user and system, in clock ticks.
long cpu_ticks(pid_t pid)
{
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)),
                     std::istreambuf_iterator<char>());
    std::istringstream fields(text.substr(text.rfind(')') + 2));
    std::string field;
    long utime = 0;
    long stime = 0;
    for (int i = 3; fields >> field; ++i) {  // field 3 is the state
        if (i == 14)
            utime = std::stol(field);
        if (i == 15)
            stime = std::stol(field);
    }
    return utime + stime;
}

TEST_P(ConcurrentStage, RunningOutOfFileDescriptorsIsWaitedOut)
{
    Server server(stage(), {"0"}, 24);  // room for a dozen clients or so
    std::vector<Client> in;
    std::optional<Client> waiting;
    for (int i = 0; i < 64 && !waiting; ++i) {  // until accept fails
        Client client(server.port());  // the kernel queues it regardless
        if (server.saw_connected(client.address(), test::quiet_period))
            in.push_back(std::move(client));
        else
            waiting.emplace(std::move(client));
    }
    ASSERT_TRUE(waiting.has_value()) << "never ran out of descriptors";
    ASSERT_GE(in.size(), 2u);
    // Out of descriptors, it neither died nor spins: it waits...
    const long before = cpu_ticks(server.pid());
    in[0].send_line("still serving those it has");
    Client& hearer = broadcasts() ? in[1] : in[0];  // or the echo
    EXPECT_TRUE(hearer.skip_to_line_ending("still serving those it has"));
    EXPECT_FALSE(server.saw_connected(waiting->address(), test::seconds(1)));
    EXPECT_LT(cpu_ticks(server.pid()) - before, 30);  // < 0.3 s of CPU
    // ...and takes the waiting client once a descriptor is free again.
    in.pop_back();
    EXPECT_TRUE(server.saw_connected(waiting->address()));
    EXPECT_TRUE(server.running());
}

// The stages with a thread per client.
class ThreadedStage : public EveryStage {};
INSTANTIATE_TEST_SUITE_P(Stages, ThreadedStage,
                         testing::Values("chatserver3", "chatserver4",
                                         "chatserver5"));

TEST_P(ThreadedStage, OutOfThreadsOneClientIsRefusedAndTheOthersGoOn)
{
    if (test::sanitized)
        GTEST_SKIP() << "a sanitizer reserves terabytes of address space";
    Server server(stage());
    auto c = talk(server);
    // Room for a few more threads only: each reserves 8 MiB of stack.
    const long kib = test::proc_status(server.pid(), "VmSize") + 40L * 1024;
    ASSERT_GT(kib, 40L * 1024);
    const rlimit limit{static_cast<rlim_t>(kib) * 1024,
                       static_cast<rlim_t>(kib) * 1024};
    ASSERT_EQ(::prlimit(server.pid(), RLIMIT_AS, &limit, nullptr), 0);
    std::vector<Client> in;
    std::optional<Client> refused;
    for (int i = 0; i < 64 && !refused; ++i) {
        Client client(server.port());
        const std::string address = client.address();
        auto line = server.wait_for_line([&](const std::string& l) {
            return l == "Connected " + address ||
                   l.rfind("Refused " + address + " (", 0) == 0;
        });
        ASSERT_TRUE(line) << "the server said nothing of " << address;
        if (line->rfind("Refused", 0) == 0)
            refused.emplace(std::move(client));
        else
            in.push_back(std::move(client));
    }
    ASSERT_TRUE(refused) << "threads never ran out";
    EXPECT_EQ(refused->read_line(), std::nullopt);  // closed at once
    c.speaker.send_line("still talking");           // the others go on
    EXPECT_EQ(c.heard(), "still talking");
    for (Client& client : in) {  // one at a time: stage 4 races otherwise
        std::string address = client.address();
        client.close();
        EXPECT_TRUE(server.saw_disconnected(address));
    }
    expect_still_serving(server);  // a thread can be made again
}

TEST(Listen, RaisesTheLimitOnOpenFilesAsFarAsItMayGo)
{
    test::Process p({"/bin/sh", "-c",
                     "ulimit -S -n 64 && exec \"$0\" 0",  // soft limit only
                     test::stage_path("chatserver5")});
    ASSERT_TRUE(p.shows("listening on port"));
    std::ifstream limits("/proc/" + std::to_string(p.pid()) + "/limits");
    std::string line;
    while (std::getline(limits, line) && line.rfind("Max open files", 0) != 0) {
    }
    std::istringstream fields(
        line.substr(std::string("Max open files").size()));
    std::string soft;
    std::string hard;
    fields >> soft >> hard;
    ASSERT_FALSE(soft.empty()) << "no 'Max open files' line";
    EXPECT_EQ(soft, hard) << line;
    EXPECT_NE(soft, "64");
}

}  // namespace
