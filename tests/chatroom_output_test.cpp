// Unit tests of the chat room's output (stages/chatroom/outbox.hpp): an
// Outbox per client, and the one Writer thread that sends them.
#include "outbox.hpp"
#include "process.hpp"
#include "socket_pair.hpp"

#include <chrono>
#include <gtest/gtest.h>
#include <mutex>
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

// A Writer, as the room has one, and one client's outbox on a socket
// pair: what the Writer sends to `box` is read at `peer`.
struct Room {
    explicit Room(std::size_t limit = 1 << 20,
                  milliseconds stall_limit = milliseconds(5000))
        : writer(mutex, limit, stall_limit)
    {
        std::lock_guard lock(mutex);
        writer.add(box);
    }
    ~Room()
    {
        std::unique_lock lock(mutex);
        if (!box.removed)  // a test may have removed it already
            writer.remove(lock, box);
        lock.unlock();
        ::close(pair.a);
        ::close(pair.b);
    }
    void append(const std::string& text)
    {
        std::lock_guard lock(mutex);
        writer.append(box, text);
    }
    void send()
    {
        std::unique_lock lock(mutex);
        writer.send_and_keep_pace(lock);
    }
    bool cut_off()
    {
        std::lock_guard lock(mutex);
        return box.cut_off != nullptr;
    }

    SocketPair pair;
    int peer = pair.b;
    std::mutex mutex;
    chat::Outbox box{pair.a};
    chat::Writer writer;
};

TEST(Writer, SendsWhatWasAppendedWhenTheReaderHasHandledItsLines)
{
    Room room;
    room.append("one\n");
    room.append("two\n");
    room.send();
    EXPECT_EQ(arrives(room.peer), "one\ntwo\n");  // in one send
}

TEST(Writer, FinishesWhatAFullSocketCouldNotTakeAtOnce)
{
    Room room(64 << 20);
    std::string sent;
    for (int i = 0; sent.size() < 4 << 20; ++i) {
        std::string line = std::to_string(i) + "\n";
        room.append(line);  // never waits for the reader
        sent += line;
    }
    room.send();
    std::string received;
    char chunk[65536];
    ssize_t n;
    while (received.size() < sent.size() &&
           (n = ::read(room.peer, chunk, sizeof chunk)) > 0)
        received.append(chunk, static_cast<size_t>(n));
    EXPECT_TRUE(received == sent);  // all of it, in order
    EXPECT_FALSE(room.cut_off());
}

TEST(Writer, CutsOffAClientTooFarBehind)
{
    Room room(1 << 16);
    const std::string line(1000, 'x');
    for (int i = 0; i < 1000; ++i)  // past what its socket takes, and the
        room.append(line);          // limit: nobody reads
    room.send();
    EXPECT_TRUE(ends_soon(room.box.fd));  // shut down: its reader sees the end
    EXPECT_TRUE(room.cut_off());
}

TEST(Writer, CutsOffAClientThatTakesNothingForTheStallLimit)
{
    Room room(64 << 20, milliseconds(200));
    room.append(std::string(8 << 20, 'x'));  // more than its socket takes
    room.send();
    EXPECT_TRUE(ends_soon(room.box.fd));  // within the next pass or two
    EXPECT_TRUE(room.cut_off());
}

// Many talkers at once may post more for everyone than a client may be
// behind, before the Writer's next pass. A member who reads is not cut off
// for it, even with a small socket buffer: only a client that no longer
// reads is cut off for being too far behind.
TEST(Writer, ABurstPastTheLimitDoesNotCutOffAMemberWhoReads)
{
    Room room;
    int small = 16 << 10;
    setsockopt(room.box.fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    std::string burst;
    {
        std::unique_lock lock(room.mutex);
        room.writer.join(room.box);
        for (int i = 0; burst.size() < 3 << 20; ++i) {  // 3 MiB at once
            std::string line = std::to_string(i) + std::string(500, 'x') + "\n";
            room.writer.to_members(line);
            burst += line;
        }
    }
    std::string received;
    std::thread reader([&] {
        for (std::string piece; received.size() < burst.size() &&
                                !(piece = arrives(room.peer)).empty();)
            received += piece;
    });
    room.send();
    reader.join();
    if (!test::sanitized) {  // slowed down, the reader may take nothing for
        EXPECT_TRUE(received == burst)  // 100 ms: then it is not waited for
            << received.size() << " bytes of " << burst.size();
        EXPECT_FALSE(room.cut_off());
    }
}

TEST(Writer, RemoveWaitsUntilWhatIsQueuedHasGone)
{
    Room room;
    room.append("GOODBYE\n");
    {
        std::unique_lock lock(room.mutex);
        room.writer.send_and_keep_pace(lock);
        EXPECT_EQ(room.writer.remove(lock, room.box), nullptr);  // not cut off
    }
    EXPECT_EQ(ready_now(room.peer), "GOODBYE\n");  // already there
}

}  // namespace
