// Unit tests of common/: the socket, the line reader, the command line.
#include "line_reader.hpp"
#include "log.hpp"
#include "socket.hpp"
#include "socket_pair.hpp"

#include <cerrno>
#include <chrono>
#include <fcntl.h>
#include <future>
#include <gtest/gtest.h>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <type_traits>
#include <unistd.h>
#include <vector>

namespace {

bool is_open_fd(int fd)
{
    return ::fcntl(fd, F_GETFD) != -1;
}

using std::chrono::milliseconds;
using test::SocketPair;

// Writes `data` to a descriptor the test keeps (net::Socket would close it).
bool send_all(int fd, std::string_view data)
{
    return ::send(fd, data.data(), data.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(data.size());
}

// Everything a LineBuffer gives for `input` fed in pieces of `chunk` bytes.
std::vector<std::string> lines_of(const std::string& input, size_t chunk,
                                  size_t max_line = net::default_max_line)
{
    net::LineBuffer buffer(max_line);
    std::vector<std::string> lines;
    std::string line;
    for (size_t at = 0; at < input.size(); at += chunk) {
        buffer.append(std::string_view(input).substr(at, chunk));
        while (buffer.next_line(line))
            lines.push_back(line);
    }
    while (buffer.take_rest(line))
        lines.push_back(line);
    return lines;
}

using Lines = std::vector<std::string>;

TEST(Socket, IsMoveOnly)
{
    static_assert(!std::is_copy_constructible_v<net::Socket>);
    static_assert(!std::is_copy_assignable_v<net::Socket>);
    static_assert(std::is_nothrow_move_constructible_v<net::Socket>);
}

TEST(Socket, ClosesItsDescriptorWhenDestroyed)
{
    SocketPair pair;
    {
        net::Socket socket(pair.a);
        EXPECT_TRUE(is_open_fd(pair.a));
    }
    EXPECT_FALSE(is_open_fd(pair.a));
    ::close(pair.b);
}

TEST(Socket, MoveLeavesTheSourceEmptyAndClosesNothing)
{
    SocketPair pair;
    net::Socket first(pair.a, "peer");
    net::Socket second(std::move(first));
    // NOLINTNEXTLINE(bugprone-use-after-move,clang-analyzer-cplusplus.Move)
    EXPECT_FALSE(first.is_open());  // the point of the test
    EXPECT_EQ(second.fd(), pair.a);
    EXPECT_EQ(second.peer(), "peer");
    EXPECT_TRUE(is_open_fd(pair.a));
    ::close(pair.b);
}

TEST(Socket, MoveAssignmentClosesTheOldDescriptor)
{
    SocketPair pair;
    net::Socket first(pair.a);
    net::Socket second(pair.b);
    second = std::move(first);
    EXPECT_FALSE(is_open_fd(pair.b));
    EXPECT_TRUE(is_open_fd(pair.a));
    EXPECT_EQ(second.fd(), pair.a);
}

TEST(Socket, WriteLineEndsWithCrLf)
{
    SocketPair pair;
    net::Socket socket(pair.a);
    ASSERT_TRUE(socket.write_line("hi"));
    char text[8] = {};
    ASSERT_EQ(::read(pair.b, text, sizeof text), 4);
    EXPECT_STREQ(text, "hi\r\n");
    ::close(pair.b);
}

TEST(Socket, WriteAllSendsEveryByteThroughPartialWrites)
{
    SocketPair pair;
    int small = 4096;
    ::setsockopt(pair.a, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    ::fcntl(pair.a, F_SETFL, O_NONBLOCK);  // so send() stops short
    std::string data;
    for (int i = 0; data.size() < 1 << 20; ++i)
        data += std::to_string(i) + ",";
    std::string received;
    std::thread reader([&] {
        char chunk[1000];  // smaller than what the writer offers
        ssize_t n;
        while ((n = ::read(pair.b, chunk, sizeof chunk)) > 0)
            received.append(chunk, static_cast<size_t>(n));
    });
    net::Socket socket(pair.a);
    EXPECT_TRUE(socket.write_all(data));
    socket.close();
    reader.join();
    EXPECT_EQ(received.size(), data.size());
    EXPECT_TRUE(received == data);
    ::close(pair.b);
}

TEST(Socket, WriteAllToAVanishedPeerFailsWithoutSigpipe)
{
    SocketPair pair;
    ::close(pair.b);
    net::Socket socket(pair.a);
    EXPECT_FALSE(socket.write_all("anyone there?"));  // alive: no SIGPIPE
    EXPECT_FALSE(socket.write_line("hello?"));
}

TEST(Socket, WriteLineHasSentItsBytesWhenItReturns)
{
    // The writer's thread has read "a" of two buffered lines, replies, and
    // then blocks on something else: the reply must reach the peer anyway.
    SocketPair in;
    SocketPair out;
    ASSERT_TRUE(send_all(in.b, "a\nb\n"));
    std::promise<void> release;
    std::thread writer([&] {
        net::LineReader reader(in.a);
        std::string line;
        EXPECT_TRUE(reader.read_line(line));
        EXPECT_TRUE(reader.has_line());  // "b" waits in the reader
        net::Socket socket(out.a);
        EXPECT_TRUE(socket.write_line("reply to " + line));
        release.get_future().wait();  // blocked, until we have read it
    });
    pollfd p{out.b, POLLIN, 0};
    char text[32] = {};
    bool arrived = ::poll(&p, 1, 5000) == 1 &&
                   ::recv(out.b, text, sizeof text - 1, MSG_DONTWAIT) > 0;
    release.set_value();
    writer.join();
    EXPECT_TRUE(arrived);
    EXPECT_STREQ(text, "reply to a\r\n");
    ::close(in.a);
    ::close(in.b);
    ::close(out.b);
}

TEST(LineBuffer, SplitsOnNewlineAndDropsCr)
{
    EXPECT_EQ(lines_of("one\ntwo\r\nthree\n", 100),
              (Lines{"one", "two", "three"}));
}

TEST(LineBuffer, KeepsACrInsideALineAndBlankLines)
{
    EXPECT_EQ(lines_of("a\rb\n\r\n\n", 100), (Lines{"a\rb", "", ""}));
}

TEST(LineBuffer, SameLinesHoweverTheBytesAreSplit)
{
    const std::string input = "hello\r\nworld\n\nlast\r\n";
    const Lines expected{"hello", "world", "", "last"};
    for (size_t chunk = 1; chunk <= input.size(); ++chunk)
        EXPECT_EQ(lines_of(input, chunk), expected) << "chunk " << chunk;
}

TEST(LineBuffer, SameLinesAtEverySplitPoint)
{
    const std::string input = "ab\r\ncd\n";
    for (size_t cut = 0; cut <= input.size(); ++cut) {
        net::LineBuffer buffer;
        Lines lines;
        std::string line;
        buffer.append(input.substr(0, cut));
        while (buffer.next_line(line))
            lines.push_back(line);
        buffer.append(input.substr(cut));
        while (buffer.next_line(line))
            lines.push_back(line);
        EXPECT_EQ(lines, (Lines{"ab", "cd"})) << "cut at " << cut;
    }
}

TEST(LineBuffer, AnUnfinishedLastLineComesOutAtTheEnd)
{
    EXPECT_EQ(lines_of("one\ntwo", 100), (Lines{"one", "two"}));
    EXPECT_EQ(lines_of("one\ntwo\r", 100), (Lines{"one", "two"}));
}

TEST(LineBuffer, CutsALongLineIntoPiecesOfMaxLine)
{
    EXPECT_EQ(lines_of("abcdefghij\n", 3, 4), (Lines{"abcd", "efgh", "ij"}));
}

TEST(LineBuffer, ALineOfExactlyMaxLineIsOneLine)
{
    for (size_t chunk = 1; chunk <= 6; ++chunk) {
        EXPECT_EQ(lines_of("abcd\r\nx\n", chunk, 4), (Lines{"abcd", "x"}));
        EXPECT_EQ(lines_of("abcd\nx\n", chunk, 4), (Lines{"abcd", "x"}));
    }
}

TEST(LineBuffer, CuttingNeverMakesABlankLineUp)
{
    // Lines of 8 and 12 bytes cut into pieces of 4: no "" from the cuts.
    for (size_t chunk = 1; chunk <= 14; ++chunk)
        EXPECT_EQ(lines_of("abcdefgh\r\nABCDEFGHIJKL\n", chunk, 4),
                  (Lines{"abcd", "efgh", "ABCD", "EFGH", "IJKL"}))
            << "chunk " << chunk;
}

TEST(LineBuffer, MemoryStaysBoundedWithoutANewline)
{
    net::LineBuffer buffer(100);
    std::string line;
    size_t most = 0;
    for (int i = 0; i < 10000; ++i) {
        buffer.append(std::string(37, 'x'));
        while (buffer.next_line(line))
            EXPECT_EQ(line.size(), 100u);
        most = std::max(most, buffer.size());
    }
    EXPECT_LE(most, 100u + 1 + 37);
}

TEST(LineBuffer, BinaryBytesPassThrough)
{
    const std::string binary("\0\xff\xfe\x01 \xff\xfb\x01", 8);
    EXPECT_EQ(lines_of(binary + "\n", 3), (Lines{binary}));
}

TEST(LineReader, ReadsLinesThenReportsTheEnd)
{
    SocketPair pair;
    ASSERT_TRUE(send_all(pair.b, "one\r\ntwo\nthree"));
    ::close(pair.b);
    net::LineReader reader(pair.a);
    std::string line;
    Lines lines;
    while (reader.read_line(line))
        lines.push_back(line);
    EXPECT_EQ(lines, (Lines{"one", "two", "three"}));
    EXPECT_FALSE(reader.read_line(line));
    ::close(pair.a);
}

TEST(LineReader, WaitsForTheRestOfASplitLine)
{
    SocketPair pair;
    net::LineReader reader(pair.a);
    std::string line;
    ASSERT_TRUE(send_all(pair.b, "hel"));
    std::thread writer([&] {
        send_all(pair.b, "lo\r");
        send_all(pair.b, "\nworld\n");
    });
    ASSERT_TRUE(reader.read_line(line));
    EXPECT_EQ(line, "hello");
    ASSERT_TRUE(reader.read_line(line));
    EXPECT_EQ(line, "world");
    writer.join();
    ::close(pair.a);
    ::close(pair.b);
}

TEST(PortFromArgs, DefaultsTo8888)
{
    char name[] = "chatserver3";
    char* argv[] = {name, nullptr};
    EXPECT_EQ(net::port_from_args(1, argv), 8888);
}

TEST(PortFromArgs, TakesZeroToMax)
{
    char name[] = "chatserver3";
    for (std::string port : {"0", "1", "8888", "65535", "00080"}) {
        char* argv[] = {name, port.data(), nullptr};
        EXPECT_EQ(net::port_from_args(2, argv), std::stoi(port));
    }
}

TEST(PortFromArgs, RejectsWhatIsNotAPort)
{
    char name[] = "chatserver3";
    for (std::string port : {"abc", "70000", "65536", "-1", "", "80x",
                             "99999999999999999999", " 80", "8.8"}) {
        char* argv[] = {name, port.data(), nullptr};
        EXPECT_THROW(net::port_from_args(2, argv), net::UsageError) << port;
    }
    char one[] = "1";
    char two[] = "2";
    char* argv[] = {name, one, two, nullptr};
    EXPECT_THROW(net::port_from_args(3, argv), net::UsageError);
}

TEST(Fail, ReturnsTwoForUsageAndOneForTheRest)
{
    testing::internal::CaptureStderr();
    EXPECT_EQ(net::fail("./bin/chatserver3", net::UsageError("bad")), 2);
    EXPECT_EQ(net::fail("chatserver3",
                        std::system_error(EADDRINUSE, std::generic_category(),
                                          "cannot listen on port 8888")),
              1);
    EXPECT_EQ(testing::internal::GetCapturedStderr(),
              "chatserver3: bad\n"
              "chatserver3: cannot listen on port 8888: Address already in "
              "use\n");
}

// A listening socket, as a stage makes one.
net::Socket listening_on(std::uint16_t port)
{
    net::Socket listener = net::socket();
    listener.bind(port);
    listener.listen(SOMAXCONN);
    return listener;
}

TEST(Listen, PortZeroGetsAFreePort)
{
    EXPECT_NE(listening_on(0).port(), 0);
}

TEST(Listen, APortInUseIsASystemError)
{
    net::Socket first = listening_on(0);
    try {
        listening_on(first.port());
        FAIL() << "two listeners on one port";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code().value(), EADDRINUSE);
        EXPECT_EQ(std::string(e.what()), "cannot listen on port " +
                                             std::to_string(first.port()) +
                                             ": Address already in use");
    }
}

TEST(Listen, AcceptsIPv4AndIPv6ClientsAndNamesThem)
{
    net::Socket listener = listening_on(0);
    for (const char* host : {"127.0.0.1", "::1"}) {
        net::Socket client;
        try {
            client = net::connect(host, listener.port());
        } catch (const std::system_error& e) {
            GTEST_SKIP() << host << ": " << e.what();  // no IPv6 here
        }
        net::Socket served = listener.accept();
        std::string prefix = host[0] == ':' ? "[::1]:" : "127.0.0.1:";
        EXPECT_EQ(served.peer().rfind(prefix, 0), 0u) << served.peer();
        ASSERT_TRUE(served.write_line("hello"));
        char text[16] = {};
        EXPECT_EQ(::read(client.fd(), text, sizeof text), 7);
        EXPECT_STREQ(text, "hello\r\n");
    }
}

}  // namespace
