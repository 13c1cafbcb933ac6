// Unit tests of the chat room's output (stages/chatroom/): an Outbox per
// client, whose sends wait for the end of the sending thread's burst.
#include "burst.hpp"
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

TEST(Outbox, SendsWhenItsThreadsBurstEndsAllAtOnce)
{
    SocketPair pair;
    net::Socket socket(pair.a);
    chat::Outbox outbox(socket, 1 << 20, milliseconds(5000));
    ASSERT_TRUE(outbox.send("one\r\n"));
    ASSERT_TRUE(outbox.send("two\r\n"));
    EXPECT_EQ(ready_now(pair.b), "");  // it waits
    chat::end_burst();
    EXPECT_EQ(ready_now(pair.b), "one\r\ntwo\r\n");  // in one send
    ::close(pair.b);
}

TEST(Outbox, WhatOtherThreadsQueueMeanwhileGoesInTheSameSend)
{
    SocketPair pair;
    net::Socket socket(pair.a);
    chat::Outbox outbox(socket, 1 << 20, milliseconds(5000));
    ASSERT_TRUE(outbox.send("one\r\n"));  // this thread will send it...
    std::thread([&] { outbox.send("two\r\n"); }).join();  // its burst ends
    EXPECT_EQ(ready_now(pair.b), "");  // ...so "two" waits for it
    chat::end_burst();
    EXPECT_EQ(ready_now(pair.b), "one\r\ntwo\r\n");  // in one send
    ::close(pair.b);
}

TEST(Outbox, ABurstEndsWhenItsThreadEnds)
{
    SocketPair pair;
    net::Socket socket(pair.a);
    chat::Outbox outbox(socket, 1 << 20, milliseconds(5000));
    std::thread([&] {
        chat::set_burst(true);  // as the room's reader does
        outbox.send("reply\r\n");
    }).join();
    EXPECT_EQ(arrives(pair.b), "reply\r\n");
    ::close(pair.b);
}

TEST(Outbox, ItsThreadFinishesWhatTheSocketCouldNotTakeAtOnce)
{
    SocketPair pair;
    net::Socket socket(pair.a);
    std::string sent;
    std::string received;
    {
        chat::Outbox outbox(socket, 64 << 20, milliseconds(5000));
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
        chat::end_burst();  // what the socket cannot take, the thread sends
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
    chat::Outbox outbox(socket, 1 << 16, milliseconds(5000));
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
    chat::Outbox outbox(socket, 64 << 20, milliseconds(200));
    ASSERT_TRUE(outbox.send(std::string(8 << 20, 'x')));  // nobody reads
    chat::end_burst();
    EXPECT_TRUE(ends_soon(pair.a));
    EXPECT_TRUE(outbox.cut_off());
    EXPECT_FALSE(outbox.send("more"));
    ::close(pair.b);
}

}  // namespace
