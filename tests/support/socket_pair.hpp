// Two connected local sockets, for unit tests: what is written to one is
// read from the other. Each test closes what it does not hand to a Socket.
#pragma once

#include <gtest/gtest.h>
#include <sys/socket.h>

namespace test {

struct SocketPair {
    int a, b;
    SocketPair()
    {
        int fds[2];
        EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
        a = fds[0];
        b = fds[1];
    }
};

}  // namespace test
