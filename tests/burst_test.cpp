// Unit tests of bursts (common/burst.hpp): replies that wait for the end
// of the input that caused them, in Socket and in Outbox.
#include "burst.hpp"
#include "line_reader.hpp"
#include "outbox.hpp"
#include "socket.hpp"
#include "socket_pair.hpp"

#include <chrono>
#include <gtest/gtest.h>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

namespace {

using std::chrono::milliseconds;

using test::SocketPair;

// What is in `fd` right now, without waiting: "" if nothing.
std::string ready_now(int fd)
{
    char chunk[4096];
    ssize_t n = ::recv(fd, chunk, sizeof chunk, MSG_DONTWAIT);
    return n > 0 ? std::string(chunk, static_cast<size_t>(n)) : "";
}

// Whatever arrives in `fd` within `deadline` (first arrival only).
std::string arrives(int fd, milliseconds deadline = milliseconds(5000))
{
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(deadline.count())) != 1)
        return "";
    return ready_now(fd);
}

// Whether reading `fd` meets the end (it was shut down) within 5 s.
bool ends_soon(int fd)
{
    pollfd p{fd, POLLIN, 0};
    char byte;
    return ::poll(&p, 1, 5000) == 1 && ::recv(fd, &byte, 1, MSG_DONTWAIT) == 0;
}

// A reader whose input already holds `input`.
struct Input {
    SocketPair pair;
    net::LineReader reader{pair.a};
    std::string line;
    explicit Input(const std::string& input)
    {
        EXPECT_TRUE(net::write_all(pair.b, input));
    }
    ~Input()
    {
        ::close(pair.a);
        ::close(pair.b);
    }
    std::string next()
    {
        EXPECT_TRUE(reader.read_line(line));
        return line;
    }
    // In a thread of its own (a burst belongs to one thread): takes the
    // first line, calls reply(), then reads on until the input ends.
    // Returns what arrived at `peer` while that thread waited for input.
    template <typename Reply>
    std::string replies_before_waiting(int peer, Reply reply)
    {
        std::thread conversation([&] {
            next();
            reply();
            while (reader.read_line(line)) {  // waits for more input
            }
        });
        std::string arrived = arrives(peer);
        ::shutdown(pair.b, SHUT_WR);  // let the reader go
        conversation.join();
        return arrived;
    }
};

TEST(Burst, LastsWhileTheReaderHoldsMoreLines)
{
    Input input("a\nb\r\nc\nunfinished");
    EXPECT_EQ(input.next(), "a");
    EXPECT_TRUE(net::in_burst());
    EXPECT_EQ(input.next(), "b");
    EXPECT_TRUE(net::in_burst());
    EXPECT_EQ(input.next(), "c");
    EXPECT_FALSE(net::in_burst());  // "unfinished" is not a line yet
}

// Two lines of input, and a socket to reply on, read at `out.b`.
class BurstReplies : public ::testing::Test {
protected:
    ~BurstReplies() override { ::close(out.b); }
    Input input{"a\nb\n"};
    SocketPair out;
    net::Socket socket{out.a};
};

TEST_F(BurstReplies, ALineWrittenDuringABurstWaitsAndGoesOutWithTheLast)
{
    input.next();
    ASSERT_TRUE(socket.write_line("reply to a"));
    EXPECT_EQ(ready_now(out.b), "");  // it waits
    input.next();
    ASSERT_TRUE(socket.write_line("reply to b"));
    EXPECT_EQ(ready_now(out.b), "reply to a\r\nreply to b\r\n");  // one send
}

TEST(Burst, EndsBeforeTheReaderWaitsForInput)
{
    Input input("a\n\n");  // the blank line: nothing to reply
    SocketPair out;
    net::Socket socket(out.a);
    EXPECT_EQ(input.replies_before_waiting(out.b,
                                           [&] { socket.write_line("reply"); }),
              "reply\r\n");  // sent before it waited
    ::close(out.b);
}

TEST(Burst, EndsWhenTheReaderGoesAndWhenTheThreadEnds)
{
    SocketPair out;
    net::Socket socket(out.a);
    {
        Input input("a\nb\n");
        input.next();
        ASSERT_TRUE(socket.write_line("one"));
    }
    EXPECT_EQ(ready_now(out.b), "one\r\n");
    std::thread([&] {
        net::set_burst(true);  // as a reader would
        socket.write_line("two");
    }).join();
    EXPECT_EQ(ready_now(out.b), "two\r\n");
    ::close(out.b);
}

TEST_F(BurstReplies, ClosingTheSocketSendsWhatWaits)
{
    input.next();
    ASSERT_TRUE(socket.write_line("last words"));
    socket.close();
    EXPECT_EQ(ready_now(out.b), "last words\r\n");
    net::end_burst();  // the socket is gone: nothing to do, nothing breaks
}

TEST_F(BurstReplies, WriteAllSendsWhatWaitsFirst)
{
    input.next();
    ASSERT_TRUE(socket.write_line("first"));
    ASSERT_TRUE(socket.write_all("second\r\n"));
    EXPECT_EQ(arrives(out.b), "first\r\nsecond\r\n");
}

TEST(Outbox, SendsWhenItsThreadsBurstEndsAllAtOnce)
{
    SocketPair pair;
    net::Socket socket(pair.a);
    net::Outbox outbox(socket, 1 << 20, milliseconds(5000));
    ASSERT_TRUE(outbox.send("one\r\n"));
    ASSERT_TRUE(outbox.send("two\r\n"));
    EXPECT_EQ(ready_now(pair.b), "");  // it waits
    net::end_burst();
    EXPECT_EQ(ready_now(pair.b), "one\r\ntwo\r\n");  // in one send
    ::close(pair.b);
}

TEST(Outbox, WhatOtherThreadsQueueMeanwhileGoesInTheSameSend)
{
    SocketPair pair;
    net::Socket socket(pair.a);
    net::Outbox outbox(socket, 1 << 20, milliseconds(5000));
    ASSERT_TRUE(outbox.send("one\r\n"));  // this thread will send it...
    std::thread([&] { outbox.send("two\r\n"); }).join();  // its burst ends
    EXPECT_EQ(ready_now(pair.b), "");  // ...so "two" waits for it
    net::end_burst();
    EXPECT_EQ(ready_now(pair.b), "one\r\ntwo\r\n");  // in one send
    ::close(pair.b);
}

TEST(Outbox, AReaderEndsTheBurstBeforeItWaits)
{
    Input input("a\n");
    SocketPair pair;
    net::Socket socket(pair.a);
    net::Outbox outbox(socket, 1 << 20, milliseconds(5000));
    EXPECT_EQ(
        input.replies_before_waiting(pair.b, [&] { outbox.send("reply\r\n"); }),
        "reply\r\n");
    ::close(pair.b);
}

TEST(Outbox, ItsThreadFinishesWhatTheSocketCouldNotTakeAtOnce)
{
    SocketPair pair;
    net::Socket socket(pair.a);
    std::string sent;
    std::string received;
    {
        net::Outbox outbox(socket, 64 << 20, milliseconds(5000));
        for (int i = 0; sent.size() < 4 << 20; ++i) {
            std::string line = std::to_string(i) + "\r\n";
            ASSERT_TRUE(outbox.send(line));  // never waits for the reader
            sent += line;
        }
        std::thread reader([&] {
            char chunk[65536];
            ssize_t n;
            while (received.size() < sent.size() &&
                   (n = ::read(pair.b, chunk, sizeof chunk)) > 0)
                received.append(chunk, static_cast<size_t>(n));
        });
        net::end_burst();  // what the socket cannot take, the thread sends
        reader.join();
        EXPECT_FALSE(outbox.cut_off());
    }
    EXPECT_TRUE(received == sent);  // all of it, in order
    ::close(pair.b);
}

TEST(Outbox, CutsOffAClientTooFarBehind)
{
    SocketPair pair;
    net::Socket socket(pair.a);
    net::Outbox outbox(socket, 1 << 16, milliseconds(5000));
    const std::string line(1000, 'x');
    int accepted = 0;
    while (outbox.send(line) && accepted < 100000)  // nobody reads
        ++accepted;
    EXPECT_LT(accepted, 100000);
    EXPECT_TRUE(outbox.cut_off());
    EXPECT_TRUE(ends_soon(pair.a));  // shut down: its reader sees the end
    ::close(pair.b);
}

TEST(Outbox, CutsOffAClientThatTakesNothingForTheStallLimit)
{
    SocketPair pair;
    net::Socket socket(pair.a);
    net::Outbox outbox(socket, 64 << 20, milliseconds(200));
    ASSERT_TRUE(outbox.send(std::string(8 << 20, 'x')));  // nobody reads
    net::end_burst();
    EXPECT_TRUE(ends_soon(pair.a));
    EXPECT_TRUE(outbox.cut_off());
    EXPECT_FALSE(outbox.send("more"));
    ::close(pair.b);
}

}  // namespace
