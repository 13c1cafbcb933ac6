// One test per claim the lecture makes about a stage, good or bad.
#include "client.hpp"
#include "process.hpp"

#include <atomic>
#include <gtest/gtest.h>
#include <set>
#include <stdexcept>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <vector>

namespace {

using test::Client;
using test::Server;
using Lines = std::vector<std::string>;

// Stage 0: the keyboard loop.

TEST(Stage0, EchoesEachLineFollowedByABlankLine)
{
    test::Process p({test::stage_path("chatserver0")});
    p.write_stdin("hello\nworld\r\n");
    p.close_stdin();
    EXPECT_EQ(p.wait_for_output(),
              (Lines{"Connected", "hello", "", "world", "", "Disconnected"}));
    EXPECT_EQ(p.wait_exit(), 0);
}

TEST(Stage0, StopsAtABlankLine)
{
    test::Process p({test::stage_path("chatserver0")});
    p.write_stdin("one\n\nnot echoed\n");  // stdin stays open
    EXPECT_EQ(p.wait_for_output(),
              (Lines{"Connected", "one", "", "Disconnected"}));
    EXPECT_EQ(p.wait_exit(), 0);
}

// Stage 1: one client, then the server is done.

TEST(Stage1, EchoesToItsClientThenExitsWhenTheClientLeaves)
{
    Server server("chatserver1");
    std::string address;
    {
        Client client(server.port());
        address = client.address();
        client.send_line("hello");
        EXPECT_EQ(client.read_line(), "hello");
    }  // the client closes the connection
    EXPECT_EQ(server.wait_exit(), 0);
    EXPECT_EQ(server.output(),
              (Lines{"chatserver1: listening on port " +
                         std::to_string(server.port()),
                     "Connected " + address, "Disconnected " + address}));
}

TEST(Stage1, NobodyIsServedAfterItsOneClient)
{
    Server server("chatserver1");
    Client first(server.port());
    ASSERT_TRUE(server.saw_connected(first.address()));
    Client second(server.port());  // the kernel queues it; stage 1 never
    first.send_line("");           // accepts it, and ends after the first
    EXPECT_TRUE(first.wait_closed());
    EXPECT_EQ(server.wait_exit(), 0);
    EXPECT_EQ(second.read_line(), std::nullopt);  // reset, never answered
    EXPECT_FALSE(server.saw_connected(second.address(), test::seconds(0)));
}

// Stage 2: clients one after another.

TEST(Stage2, GoesOnAfterAClientLeaves)
{
    Server server("chatserver2");
    for (int i = 0; i < 3; ++i) {
        Client client(server.port());
        client.send_line("client " + std::to_string(i));
        EXPECT_EQ(client.read_line(), "client " + std::to_string(i));
    }
    EXPECT_TRUE(server.running());
}

TEST(Stage2, ASecondClientWaitsUntilTheFirstLeaves)
{
    Server server("chatserver2");
    Client first(server.port());
    first.send_line("first");
    EXPECT_EQ(first.read_line(), "first");
    Client second(server.port());  // connected: the kernel queues it
    second.send_line("early");
    EXPECT_EQ(second.read_line(test::quiet_period), std::nullopt);
    EXPECT_FALSE(server.saw_connected(second.address(), test::milliseconds(0)));
    first.send_line("");                     // the first leaves...
    EXPECT_EQ(second.read_line(), "early");  // ...and the second is served
    EXPECT_TRUE(server.saw_connected(second.address()));
}

// Stage 3: a thread per client.

TEST(Stage3, ServesTwoClientsAtOnce)
{
    Server server("chatserver3");
    Client a(server.port());
    Client b(server.port());
    for (int round = 0; round < 3; ++round) {  // turn by turn, both open
        a.send_line("a" + std::to_string(round));
        b.send_line("b" + std::to_string(round));
        EXPECT_EQ(b.read_line(), "b" + std::to_string(round));
        EXPECT_EQ(a.read_line(), "a" + std::to_string(round));
    }
}

TEST(Stage3, ClientsDoNotHearEachOther)
{
    Server server("chatserver3");
    Client a(server.port());
    Client b(server.port());
    a.send_line("for a only");
    EXPECT_EQ(a.read_line(), "for a only");  // the server has dealt with it
    b.send_line("for b only");
    EXPECT_EQ(b.read_line(), "for b only");  // not a's line first
}

// Stages 4 and 5: broadcast.

class Broadcast : public testing::TestWithParam<const char*> {};
INSTANTIATE_TEST_SUITE_P(Stages, Broadcast,
                         testing::Values("chatserver4", "chatserver5"));

TEST_P(Broadcast, ALineGoesToEveryoneElseMarkedWithItsSender)
{
    Server server(GetParam());
    std::vector<Client> clients;
    for (int i = 0; i < 3; ++i) {
        clients.emplace_back(server.port());
        ASSERT_TRUE(server.saw_connected(clients.back().address()));
    }
    clients[0].send_line("hi all");
    EXPECT_EQ(clients[1].read_line(), clients[0].address() + ": hi all");
    EXPECT_EQ(clients[2].read_line(), clients[0].address() + ": hi all");
    clients[1].send_line("hi 0");
    // The sender does not hear itself: 0's next line is 1's, not its own.
    EXPECT_EQ(clients[0].read_line(), clients[1].address() + ": hi 0");
}

TEST_P(Broadcast, AClientWhoLeftHearsNothingAndOthersGoOn)
{
    Server server(GetParam());
    Client a(server.port());
    ASSERT_TRUE(server.saw_connected(a.address()));  // one at a time: at
    Client b(server.port());                         // once would be
    ASSERT_TRUE(server.saw_connected(b.address()));  // stage 4's race
    Client c(server.port());
    ASSERT_TRUE(server.saw_connected(c.address()));
    b.send_line("");
    ASSERT_TRUE(server.saw_disconnected(b.address()));
    a.send_line("after b left");
    EXPECT_EQ(c.read_line(), a.address() + ": after b left");
    EXPECT_EQ(b.read_line(), std::nullopt);  // the end, and not one line
    EXPECT_TRUE(b.wait_closed());
}

TEST(Stage5, AStormOfClientsStillGetsEveryBroadcast)
{
    Server server("chatserver5");
    constexpr int threads = 4;
    constexpr int stay = 25;     // per thread: these stay connected
    constexpr int come_go = 50;  // per thread: these connect and leave
    std::vector<std::vector<Client>> stayers(threads);
    std::vector<std::thread> storm;
    storm.reserve(threads);
    std::atomic<int> refused{0};
    for (int t = 0; t < threads; ++t)
        storm.emplace_back([&, t] {
            try {
                for (int i = 0; i < stay + come_go; ++i) {
                    Client client(server.port());
                    if (i % 3 == 0 && stayers[t].size() < stay)
                        stayers[t].push_back(std::move(client));
                    else if (i % 2 == 0)
                        client.reset();  // abruptly; the others close
                }
                while (stayers[t].size() < stay)
                    stayers[t].emplace_back(server.port());
            } catch (const std::runtime_error&) {
                ++refused;  // connect failed: the server is in trouble
            }
        });
    for (std::thread& t : storm)
        t.join();
    ASSERT_EQ(refused, 0);
    std::vector<Client*> everyone;
    for (auto& group : stayers)
        for (Client& client : group) {
            ASSERT_TRUE(server.saw_connected(client.address()));
            everyone.push_back(&client);
        }
    Client speaker(server.port());
    ASSERT_TRUE(server.saw_connected(speaker.address()));
    speaker.send_line("did everyone get this?");
    int received = 0;
    for (Client* client : everyone)
        received += client->read_line() ==
                    speaker.address() + ": did everyone get this?";
    EXPECT_EQ(received, threads * stay);
}

TEST(Stage5, OneClientThatNeverReadsFreezesTheRoom)
{
    // Stage 5's weakness, which the chat room fixes: broadcast writes while
    // holding the lock, so a full socket blocks every other client.
    Server server("chatserver5");
    Client lazy(server.port());
    int small = 4096;
    setsockopt(lazy.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    Client talker(server.port());
    Client reader(server.port());
    for (Client* c : {&lazy, &talker, &reader})
        ASSERT_TRUE(server.saw_connected(c->address()));
    constexpr int count = 20000;  // 8 MB: more than lazy's buffers hold
    std::atomic<int> sent{0};
    std::thread chatter([&] {
        try {
            for (; sent < count; ++sent)
                talker.send_line(std::string(400, 'x'));
        } catch (const std::runtime_error&) {
        }
    });
    int received = 0;
    while (reader.read_line(test::milliseconds(1500)))  // until it stops
        ++received;
    // A busy machine can pause for 1.5 s too. Frozen is for good: for 3 s
    // more, the reader gets nothing and the talker gets nothing sent.
    const int sent_then = sent;
    EXPECT_FALSE(reader.read_line(test::milliseconds(3000)));
    EXPECT_EQ(sent, sent_then) << "the talker still got lines through";
    EXPECT_LT(received, count) << "the room never froze";
    lazy.reset();  // the stuck write fails, the lock is released...
    while (received < count && reader.read_line())
        ++received;
    EXPECT_EQ(received, count);  // ...and the room goes on
    chatter.join();
}

}  // namespace
