// The chat room server over raw sockets, as telnet would talk to it, and
// the chatclient program driven through pipes.
#include "client.hpp"
#include "line_reader.hpp"
#include "process.hpp"
#include "socket.hpp"
#include "socket_pair.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <gtest/gtest.h>
#include <optional>
#include <poll.h>
#include <sstream>
#include <stdexcept>
#include <string>
#include <sys/resource.h>
#include <sys/socket.h>
#include <thread>
#include <vector>

namespace {

using test::Client;
using test::milliseconds;
using test::Server;

// Joins the room as `name`; the greeting (NEW, MEMBERS) is read.
Client join(Server& server, const std::string& name)
{
    Client client(server.port());
    client.send_line("ADD " + name);
    EXPECT_EQ(client.read_line(), "NEW " + name);
    std::string members = client.read_line().value_or("(nothing)");
    EXPECT_EQ(members.rfind("MEMBERS ", 0), 0u) << members;
    return client;
}

// The next line `client` receives is `expected`: nothing else came first.
void expect_next(Client& client, const std::string& expected)
{
    EXPECT_EQ(client.read_line(), expected);
}

// A talker that says `text` `count` times as fast as the room lets it,
// while another thread reads what comes back (its own messages too).
class Chatter {
public:
    Chatter(Client& talker, int count, const std::string& text)
        : says_([&talker, count, text, this] {
              try {
                  for (int i = 0; i < count; ++i)
                      talker.send_line("MESSAGE " + text);
              } catch (const std::runtime_error&) {
                  cut_off_ = true;
              }
          }),
          hears_([&talker, count, text, this] {
              while (heard_ < count)
                  if (auto line = talker.read_line())
                      heard_ += *line == text;
                  else
                      return;
          }),
          count_(count)
    {
    }
    Chatter(const Chatter&) = delete;
    Chatter& operator=(const Chatter&) = delete;
    ~Chatter() { finish(); }

    // Waits until it has said all and heard it back; false if cut off.
    bool finish()
    {
        if (says_.joinable())
            says_.join();
        if (hears_.joinable())
            hears_.join();
        return !cut_off_;
    }
    bool heard_all() const { return heard_ == count_; }  // after finish

private:
    std::atomic<bool> cut_off_{false};
    std::atomic<int> heard_{0};
    std::thread says_;
    std::thread hears_;
    int count_;
};

class ChatRoom : public testing::Test {
protected:
    Server server{"chatroom"};
};

TEST_F(ChatRoom, EveryoneHearsOfANewcomerAndTheNewcomerLearnsWhoIsThere)
{
    Client alice = join(server, "alice");
    Client bob(server.port());
    bob.send_line("ADD bob");
    expect_next(bob, "NEW bob");
    expect_next(bob, "MEMBERS alice bob");
    expect_next(alice, "NEW bob");
    bob.send_line("WHO");
    expect_next(bob, "MEMBERS alice bob");
}

TEST_F(ChatRoom, AMessageGoesToEveryoneWithTheSendersRegisteredName)
{
    Client alice = join(server, "alice");
    Client bob = join(server, "bob");
    expect_next(alice, "NEW bob");
    alice.send_line("MESSAGE bob says hi");  // no way to speak as bob
    for (Client* c : {&alice, &bob}) {
        expect_next(*c, "MESSAGE alice");
        expect_next(*c, "bob says hi");
    }
}

TEST_F(ChatRoom, APrivateMessageReachesItsRecipientAndNoOneElse)
{
    Client alice = join(server, "alice");
    Client bob = join(server, "bob");
    Client carol = join(server, "carol");
    alice.send_line("PRIVATE bob");
    alice.send_line("psst");
    expect_next(bob, "NEW carol");
    expect_next(bob, "PRIVATE alice");
    expect_next(bob, "psst");
    alice.send_line("MESSAGE all");  // carol's and alice's next lines
    expect_next(carol, "MESSAGE alice");
    expect_next(alice, "NEW bob");
    expect_next(alice, "NEW carol");
    expect_next(alice, "MESSAGE alice");
}

TEST_F(ChatRoom, EachMistakeGetsOneErrorAndChangesNothing)
{
    Client watcher = join(server, "watcher");
    Client taken = join(server, "taken");
    expect_next(watcher, "NEW taken");
    Client c(server.port());
    const std::vector<std::pair<std::string, std::string>> mistakes{
        {"MESSAGE too early", "ERROR join first: ADD <name>"},
        {"PRIVATE x", "ERROR join first: ADD <name>"},
        {"WHO", "ERROR join first: ADD <name>"},
        {"ADD", "ERROR invalid name: a name is 1 to 20 letters, digits, "
                "'-', '_' or '.'"},
        {"ADD two words", "ERROR invalid name: a name is 1 to 20 letters, "
                          "digits, '-', '_' or '.'"},
        {"ADD " + std::string(21, 'n'),
         "ERROR invalid name: a name is 1 to 20 letters, digits, '-', '_' "
         "or '.'"},
        {"ADD bell\x07", "ERROR invalid name: a name is 1 to 20 letters, "
                         "digits, '-', '_' or '.'"},
        {"ADD taken", "ERROR name taken: taken"},
        {"ADD me", "NEW me"},
        {"ADD again", "ERROR already joined as me"},
        {"PRIVATE nobody\r\nhello?", "ERROR no one named nobody"},
        {"PRIVATE ", "ERROR usage: PRIVATE <name>, then the text on the next "
                     "line"},
        {"PRIVATE taken\r\n", "ERROR empty message"},
        {"MESSAGE", "ERROR empty message"},
        {"SHOUT hi", "ERROR unknown command: SHOUT"},
        {"\x1b[2J", "ERROR unknown command: ^[[2J"},
    };
    for (const auto& [sent, reply] : mistakes) {
        c.send_line(sent);
        expect_next(c, reply);
        if (reply == "NEW me") {
            ASSERT_EQ(c.read_line().value_or("").rfind("MEMBERS", 0), 0u);
        }
    }
    c.send_line("WHO");
    expect_next(c, "MEMBERS me taken watcher");
    // The watcher heard only the one join, nothing of the mistakes.
    expect_next(watcher, "NEW me");
    c.send_line("MESSAGE done");
    expect_next(watcher, "MESSAGE me");
}

TEST_F(ChatRoom, TheTextbooksOwnClientShowsEveryLineCleanly)
{
    // tests/support/textbook_client.py parses what it receives as the
    // textbook's client does: it splits on "\n" only, so a "\r" at the end
    // of a line would end up in the names and texts it prints.
    Client bob = join(server, "bob");
    const std::string script =
        std::string(CHAT_SOURCE_DIR) + "/tests/support/textbook_client.py";
    test::Process textbook({"/usr/bin/env", "python3", script,
                            std::to_string(server.port()), "alice", "bob"});
    expect_next(bob, "NEW alice");
    expect_next(bob, "MESSAGE alice");  // sent with no line end: a pause
    expect_next(bob, "hello everyone");
    expect_next(bob, "PRIVATE alice");
    expect_next(bob, "psst");
    bob.send_line("PRIVATE alice");
    bob.send_line("back at you");
    expect_next(bob, "LEFT alice");
    EXPECT_EQ(textbook.wait_exit(), 0) << textbook.error_output();
    EXPECT_EQ(textbook.error_output(), "");
    EXPECT_TRUE(textbook.output() == (std::vector<std::string>{
                                         "==> alice has joined the chat room",
                                         "==> alice: hello everyone",
                                         "==> bob [private]: back at you",
                                     }));
}

// `chatroom 0 | head -n1`: once no one reads the log, each line logged
// raises SIGPIPE, which would end the room for everyone.
TEST_F(ChatRoom, ALogThatNoOneReadsAnyMoreIsNoReasonToStop)
{
    Client alice = join(server, "alice");
    server.close_stdout();
    Client bob = join(server, "bob");  // "Connected ..." hits EPIPE
    expect_next(alice, "NEW bob");
    bob.send_line("MESSAGE still here");
    expect_next(alice, "MESSAGE bob");
    expect_next(alice, "still here");
    EXPECT_TRUE(server.running());
}

// How many lines of `length` bytes a local socket holds before its
// writer waits: what the server's log holds while the test reads nothing.
int lines_a_socket_holds(std::size_t length)
{
    test::SocketPair pair;
    const std::string line = std::string(length - 1, 'x') + "\n";
    int held = 0;
    while (::send(pair.a, line.data(), line.size(), MSG_DONTWAIT) > 0)
        ++held;
    ::close(pair.a);
    ::close(pair.b);
    return held;
}

// How many connections to `port` wait in its listening socket's queue for
// the server to accept them (the kernel's /proc/net/tcp and tcp6).
long waiting_to_be_accepted(std::uint16_t port)
{
    char local_port[8];
    std::snprintf(local_port, sizeof local_port, ":%04X", port);
    for (const char* table : {"/proc/net/tcp6", "/proc/net/tcp"}) {
        std::ifstream in(table);
        std::string line;
        std::getline(in, line);  // the header
        while (std::getline(in, line)) {
            std::istringstream fields(line);
            std::string slot, local, remote, state, queues;
            fields >> slot >> local >> remote >> state >> queues;
            if (state == "0A" && local.size() > 5 &&
                local.compare(local.size() - 5, 5, local_port) == 0)
                return std::stol(queues.substr(queues.find(':') + 1), nullptr,
                                 16);
        }
    }
    return -1;
}

// A log that nobody reads for a while (a terminal stopped with Ctrl-S)
// stops only the threads that write to it, each at its next line: the
// members talk on, and the accept loop, which does not log, goes on.
TEST_F(ChatRoom, ALogThatBlocksHoldsUpOnlyWhoeverLogs)
{
    Client alice = join(server, "alice");
    Client bob = join(server, "bob");
    expect_next(alice, "NEW bob");
    server.hold_stdout();
    // Each visitor is logged, "Connected 127.0.0.1:PORT": twice as many
    // as the log holds, so that some wait to be logged...
    const int length = sizeof "Connected 127.0.0.1:65535";  // with its \n
    const int holds = lines_a_socket_holds(length);
    if (holds > 2000)
        GTEST_SKIP() << "the log holds " << holds << " lines here";
    // ...and more than the test's reader may take in its last read (4 KiB).
    const int count = 2 * holds + 4096 / length;
    std::vector<Client> visitors;
    visitors.reserve(static_cast<std::size_t>(count));
    for (int i = 0; i < count; ++i) {
        visitors.emplace_back(server.port());
        visitors.back().send_line("WHO");  // answered once it is logged
    }
    alice.send_line("MESSAGE still talking");
    expect_next(bob, "MESSAGE alice");
    expect_next(bob, "still talking");
    Client late(server.port());  // every one of them is accepted
    // A thread each: under TSan on a busy machine, that takes a while.
    auto deadline = test::Clock::now() + test::seconds(60);
    while (waiting_to_be_accepted(server.port()) != 0 &&
           test::Clock::now() < deadline)
        std::this_thread::sleep_for(milliseconds(10));  // polling /proc
    EXPECT_EQ(waiting_to_be_accepted(server.port()), 0);
    // Which visitors' threads log first is the scheduler's choice: count.
    std::vector<bool> answered(visitors.size());
    answered[0] = visitors[0].read_line(test::quiet_period).has_value();
    for (std::size_t i = 1; i < visitors.size(); ++i)
        answered[i] = visitors[i].read_line(milliseconds(0)).has_value();
    EXPECT_LT(std::count(answered.begin(), answered.end(), true), count)
        << "none held up by the log";
    server.release_stdout();
    for (std::size_t i = 0; i < visitors.size(); ++i) {
        if (!answered[i]) {
            EXPECT_EQ(visitors[i].read_line(), "ERROR join first: ADD <name>");
        }
    }
}

// MEMBERS names at most chat::max_listed members, then how many more: a
// room of thousands does not send a line longer than any client reads.
TEST_F(ChatRoom, MembersListsAThousandNamesThenHowManyMore)
{
    rlimit files{};
    ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &files), 0);
    if (files.rlim_max < 1200)
        GTEST_SKIP() << "1,002 clients need more descriptors than allowed";
    files.rlim_cur = std::max<rlim_t>(files.rlim_cur, 1200);
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &files), 0);
    std::vector<Client> members;
    members.reserve(1001);
    for (int i = 0; i < 1001; ++i)  // one after another: all are in
        members.push_back(join(server, "m" + std::to_string(1000 + i)));
    Client last(server.port());
    last.send_line("ADD m2001");
    expect_next(last, "NEW m2001");
    std::optional<std::string> line = last.read_line();
    ASSERT_TRUE(line);
    std::string expected = "MEMBERS";
    for (int i = 0; i < 1000; ++i)  // sorted: m1000 to m1999
        expected += " m" + std::to_string(1000 + i);
    EXPECT_EQ(*line, expected + " +2");
}

// Sets the server's peak memory (VmHWM) to what it holds now, and returns
// that: "5" to clear_refs does it (proc(5)).
long reset_peak(Server& server)
{
    std::ofstream("/proc/" + std::to_string(server.pid()) + "/clear_refs")
        << "5";
    return test::proc_status(server.pid(), "VmRSS");
}

// WHO answers its 4 bytes with the whole MEMBERS line, here 10 KB. A
// client that sends 16 KB of WHO at once and reads none of the answers
// gets them one at a time: the room's peak memory grows by about an
// outbox's limit (1.2 MB), not by thousands of answers waiting to be
// taken by the writer at once (18-33 MB when they were not).
TEST_F(ChatRoom, AFloodOfWhoIsAnsweredOneAtATime)
{
    std::vector<Client> members;
    members.reserve(500);
    for (int i = 0; i < 500; ++i) {  // names of 20 characters
        std::string number = std::to_string(1000000 + i);
        members.push_back(join(server, "a_member_named_" + number.substr(2)));
    }
    Client asker = join(server, "asker");
    const long start = reset_peak(server);
    ASSERT_GT(start, 0);
    std::string flood;
    for (int i = 0; i < 4000; ++i)
        flood += "WHO\n";
    asker.send(flood);  // and reads nothing
    EXPECT_TRUE(server.shows("(cut off: too far behind)"));
    const long peak = test::proc_status(server.pid(), "VmHWM");
    ASSERT_GT(peak, 0) << "the room has gone";
    if (!test::sanitized) {  // ASan keeps freed memory in quarantine
        EXPECT_LT(peak - start, 8 * 1024) << "KiB more at the peak";
    }
}

// Each bad line gets an ERROR of 30 bytes or more: a 2-byte line 15 times
// its size. 20 visitors who send 16 KB of bad lines at once get them one
// at a time, as WHO's: the peak grows by about a MB, not by 160,000
// answers waiting to be taken by the writer at once.
TEST_F(ChatRoom, AFloodOfBadLinesIsAnsweredOneAtATime)
{
    const int visitors = test::sanitized ? 5 : 20;  // a writer's pass each
    constexpr int lines = 8192;
    std::vector<Client> flooders;
    flooders.reserve(visitors);
    for (int i = 0; i < visitors; ++i)
        flooders.emplace_back(server.port());
    const long start = reset_peak(server);
    ASSERT_GT(start, 0);
    std::string flood;
    for (int i = 0; i < lines; ++i)
        flood += "x\n";  // not joined: "ERROR join first: ADD <name>"
    std::vector<int> errors(visitors, 0);
    std::vector<std::thread> threads;
    threads.reserve(visitors);
    for (int i = 0; i < visitors; ++i)
        threads.emplace_back([&, i] {
            flooders[i].send(flood + "QUIT\n");
            auto line = flooders[i].read_line();
            for (; line && *line != "GOODBYE"; line = flooders[i].read_line())
                errors[i] += line->rfind("ERROR join first", 0) == 0;
        });
    for (std::thread& t : threads)
        t.join();
    EXPECT_EQ(std::count(errors.begin(), errors.end(), lines), visitors);
    const long peak = test::proc_status(server.pid(), "VmHWM");
    ASSERT_GT(peak, 0) << "the room has gone";
    if (!test::sanitized) {  // ASan keeps freed memory in quarantine
        EXPECT_LT(peak - start, 4 * 1024) << "KiB more at the peak";
    }
}

// 120 members send 16 KB of messages each at the same moment: 1.9 MB for
// everyone, more than a client may be behind. A member who reads is not
// cut off for it: only one that no longer reads is cut off for being too
// far behind (with a small socket buffer, where this matters most:
// Writer.ABurstPastTheLimitDoesNotCutOff...).
TEST_F(ChatRoom, ManyTalkersAtOnceDoNotCutOffAReader)
{
    constexpr int talkers = 120;
    Client reader = join(server, "reader");
    std::vector<Client> members;
    members.reserve(talkers);
    for (int i = 0; i < talkers; ++i)
        members.push_back(join(server, "t" + std::to_string(i)));
    const std::string text(400, 'y');
    std::string burst;
    int per_talker = 0;
    for (; burst.size() + text.size() < 16000; ++per_talker)
        burst += "MESSAGE " + text + "\n";
    std::atomic<bool> done{false};
    std::thread drain([&] {  // the talkers read too, all in this thread
        std::vector<pollfd> fds;
        fds.reserve(members.size());
        for (Client& c : members)
            fds.push_back({c.fd(), POLLIN, 0});
        char chunk[65536];
        while (!done)
            if (::poll(fds.data(), fds.size(), 100) > 0)
                for (pollfd& p : fds)
                    if (p.revents != 0 &&
                        ::recv(p.fd, chunk, sizeof chunk, MSG_DONTWAIT) == 0)
                        p.fd = -1;  // closed: poll skips it
    });
    std::vector<std::thread> senders;
    senders.reserve(members.size());
    for (Client& c : members)
        senders.emplace_back([&] { c.send(burst); });
    for (std::thread& t : senders)
        t.join();
    int received = 0;
    while (received < talkers * per_talker) {
        auto line = reader.read_line();
        if (!line)
            break;
        received += *line == text;
    }
    done = true;
    drain.join();
    EXPECT_EQ(received, talkers * per_talker) << "the reader was cut off";
    EXPECT_FALSE(server.shows("cut off", milliseconds(0)));
}

// The edges of the protocol, end to end, as docs/chatroom.md states them.
TEST_F(ChatRoom, TheProtocolsEdgesAreWhereTheDocsSay)
{
    Client alice = join(server, "alice");
    {
        Client passer(server.port());  // QUIT before ADD: a goodbye, and
        passer.send_line("QUIT");      // no LEFT for one who never joined
        expect_next(passer, "GOODBYE");
        EXPECT_TRUE(passer.wait_closed());
    }
    Client upper(server.port());     // names are case-sensitive
    upper.send_line("ADD  Alice ");  // and the spaces around are dropped
    expect_next(upper, "NEW Alice");
    expect_next(upper, "MEMBERS Alice alice");
    expect_next(alice, "NEW Alice");  // the next line: no LEFT before it
    const std::string longest(512 - 8, 'x');  // "MESSAGE " + 504 bytes
    alice.send_line("MESSAGE " + longest);
    alice.send_line("MESSAGE " + longest + "y");  // 513 bytes
    alice.send_line("MESSAGE a\rb");              // a \r inside a line is shown
    for (Client* c : {&upper, &alice}) {
        expect_next(*c, "MESSAGE alice");
        expect_next(*c, longest);
        if (c == &alice) {
            expect_next(alice, "ERROR line too long (at most 512 bytes)");
        }
        expect_next(*c, "MESSAGE alice");
        expect_next(*c, "a^Mb");
    }
}

TEST_F(ChatRoom, QuitSaysGoodbyeAndTheOthersHearWhoLeft)
{
    Client alice = join(server, "alice");
    Client bob = join(server, "bob");
    bob.send_line("QUIT");
    expect_next(bob, "GOODBYE");
    EXPECT_TRUE(bob.wait_closed());
    expect_next(alice, "NEW bob");
    expect_next(alice, "LEFT bob");
    Client bob_again = join(server, "bob");  // the name is free again
}

// A member well behind sends QUIT and more after it. Closing a socket with
// unread input resets the connection, and a reset throws away what the
// server's kernel still holds for the client: GOODBYE too. The room hangs
// up its side first and reads on until the client hangs up too.
TEST_F(ChatRoom, WhatFollowsQuitDoesNotCostTheGoodbye)
{
    Client lazy = join(server, "lazy");
    int small = 4096;  // so that most of what it is sent waits in the server
    setsockopt(lazy.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    const std::string text(400, 'x');
    std::string burst;  // 100 messages back to itself, read only at the end
    for (int i = 0; i < 100; ++i)
        burst += "MESSAGE " + text + "\r\n";
    lazy.send(burst + "QUIT\r\n" + std::string(64 << 10, 'x'));
    EXPECT_TRUE(server.shows("Disconnected " + lazy.address()));
    int heard = 0;
    std::optional<std::string> line;
    while ((line = lazy.read_line()) && *line != "GOODBYE")
        heard += *line == text;
    EXPECT_EQ(line, "GOODBYE") << "after " << heard << " of 100 messages";
    EXPECT_EQ(heard, 100);
}

TEST_F(ChatRoom, AClientThatJustDisappearsLeavesToo)
{
    Client alice = join(server, "alice");
    Client bob = join(server, "bob");
    expect_next(alice, "NEW bob");
    bob.send_line("MESSAGE bye");
    expect_next(alice, "MESSAGE bob");  // the server has read all bob sent
    expect_next(alice, "bye");
    bob.reset();  // no QUIT, no goodbye: a reset
    expect_next(alice, "LEFT bob");
}

// A client's thread that ends by an exception (here: out of memory at its
// message) still leaves the room on its way out, through Visit's
// destructor: the others hear LEFT, the name is free again, and no
// pointer to its freed outbox stays with the writer (docs/chatroom.md).
TEST(ChatRoomFailing, AClientWhoseThreadFailsStillLeavesTheRoom)
{
    // chatroom_failing_new fails every allocation of exactly this size:
    // the copy of this text (libstdc++ asks for its length + 1), made by
    // alice's thread only. No thread of this test reads the environment.
    const std::string text(333, 'x');
    std::string size = std::to_string(text.size() + 1);
    // NOLINTNEXTLINE(concurrency-mt-unsafe)
    ::setenv("CHAT_FAILING_NEW_SIZE", size.c_str(), 1);
    Server server("chatroom_failing_new");
    ::unsetenv("CHAT_FAILING_NEW_SIZE");  // NOLINT(concurrency-mt-unsafe)
    Client bob = join(server, "bob");
    Client alice = join(server, "alice");
    expect_next(bob, "NEW alice");
    alice.send_line("MESSAGE " + text);
    EXPECT_TRUE(server.shows(" (std::bad_alloc)")) << "the thread did not fail";
    expect_next(bob, "LEFT alice");  // and not the message
    EXPECT_TRUE(alice.wait_closed());
    Client alice_again = join(server, "alice");
    expect_next(bob, "NEW alice");
    alice_again.send_line("MESSAGE back");
    expect_next(bob, "MESSAGE alice");
    expect_next(bob, "back");
}

// A connection that never joins holds a thread and a descriptor for
// nothing: the room closes it a minute after it came (docs/chatroom.md),
// however busy it keeps, and says why. A member is not touched.
TEST_F(ChatRoom, AConnectionThatNeverJoinsIsClosedAfterAMinute)
{
    auto came = test::Clock::now();
    Client silent(server.port());
    Client busy(server.port());
    Client alice = join(server, "alice");
    std::vector<std::string> heard;  // busy asks every 2 s: WHO
    while (!busy.wait_closed(milliseconds(0)) &&
           test::Clock::now() < came + std::chrono::seconds(90)) {
        busy.send_line("WHO");
        auto next = test::Clock::now() + std::chrono::seconds(2);
        while (auto line =
                   busy.read_line(std::chrono::duration_cast<milliseconds>(
                       next - test::Clock::now())))
            heard.push_back(*line);
    }
    auto lasted = test::Clock::now() - came;
    EXPECT_GE(lasted, std::chrono::seconds(60)) << "closed too soon";
    EXPECT_LE(lasted, std::chrono::seconds(75)) << "not closed in time";
    ASSERT_FALSE(heard.empty());
    EXPECT_EQ(heard.back(), "ERROR no ADD within 60 s");
    EXPECT_TRUE(silent.wait_closed()) << "closed too";
    EXPECT_TRUE(server.shows("(did not join in time)"));
    alice.send_line("WHO");
    expect_next(alice, "MEMBERS alice");  // and still served
}

TEST_F(ChatRoom, AMessageWithNoNewlineIsDeliveredAfterAPause)
{
    Client alice = join(server, "alice");
    Client shy(server.port());
    shy.send("ADD shy\n");  // as the textbook's client sends it
    expect_next(shy, "NEW shy");
    expect_next(alice, "NEW shy");
    shy.send("MESSAGE no newline here");  // nothing more: a pause ends it
    expect_next(alice, "MESSAGE shy");
    expect_next(alice, "no newline here");
    shy.send("MESSAGE and now\r\nMESSAGE proper lines\r\n");
    for (const char* text : {"and now", "proper lines"}) {
        expect_next(alice, "MESSAGE shy");
        expect_next(alice, text);
    }
}

// The textbook's client sends a MESSAGE longer than 512 bytes with no line
// end too: the pause must end its rest as well, or the rest would swallow
// the next message while waiting for a "\n" that never comes.
TEST_F(ChatRoom, ATooLongMessageWithNoNewlineStillEndsAtThePause)
{
    Client alice = join(server, "alice");
    Client bob = join(server, "bob");
    expect_next(alice, "NEW bob");
    bob.send("MESSAGE " + std::string(600, 'y'));
    expect_next(bob, "ERROR line too long (at most 512 bytes)");
    std::this_thread::sleep_for(milliseconds(400));  // the input: a pause
    bob.send("MESSAGE hello after the long one");
    expect_next(alice, "MESSAGE bob");
    expect_next(alice, "hello after the long one");
}

// The pause ends only a MESSAGE (the textbook's client sends it with no
// line end). Anything else waits for its "\n": a PRIVATE whose name is
// interrupted by a pause goes to the whole name, with the text after it.
TEST_F(ChatRoom, APauseInsideAnyOtherLineDoesNotSplitIt)
{
    Client alice = join(server, "alice");
    Client al = join(server, "al");
    expect_next(alice, "NEW al");
    Client bob = join(server, "bob");
    expect_next(alice, "NEW bob");
    expect_next(al, "NEW bob");
    bob.send("PRIVATE al");
    std::this_thread::sleep_for(milliseconds(400));  // the input: a pause
    bob.send("ice\nthe code is 1234\n");
    expect_next(alice, "PRIVATE bob");
    expect_next(alice, "the code is 1234");
    for (Client* c : {&al, &bob}) {  // al got nothing, bob no ERROR
        c->send_line("WHO");
        expect_next(*c, "MEMBERS al alice bob");
    }
}

TEST_F(ChatRoom, ATooLongLineGetsAnErrorAndIsDroppedWhole)
{
    Client c(server.port());
    c.send_line("ADD " + std::string(10000, 'x'));
    expect_next(c, "ERROR line too long (at most 512 bytes)");
    c.send_line("ADD ok");
    expect_next(c, "NEW ok");
}

TEST_F(ChatRoom, ALoneCarriageReturnAndAPauseDoNotEndTheConversation)
{
    Client alice = join(server, "alice");
    Client bob = join(server, "bob");
    bob.send("\r");  // what is left after the pause is no line at all
    EXPECT_EQ(bob.read_line(milliseconds(600)), std::nullopt);
    bob.send("\nMESSAGE still here\r\n");
    expect_next(alice, "NEW bob");
    expect_next(alice, "MESSAGE bob");
    expect_next(alice, "still here");
}

TEST_F(ChatRoom, ATooLongPrivateTextDropsTheWholeMessage)
{
    Client alice = join(server, "alice");
    Client bob = join(server, "bob");
    alice.send_line("PRIVATE bob");
    alice.send_line(std::string(600, 'x'));
    alice.send_line("QUIT");  // a command again, not the private text
    expect_next(alice, "NEW bob");
    expect_next(alice, "ERROR line too long (at most 512 bytes)");
    expect_next(alice, "GOODBYE");
    expect_next(bob, "LEFT alice");  // and nothing private came first
}

TEST_F(ChatRoom, BinaryAndControlBytesAreShownNotObeyed)
{
    Client alice = join(server, "alice");
    Client bob = join(server, "bob");
    const char bytes[] = "MESSAGE \x1b[2J\0\xff\r\n";
    bob.send(std::string(bytes, sizeof bytes - 1));  // NUL and all
    expect_next(alice, "NEW bob");
    expect_next(alice, "MESSAGE bob");
    expect_next(alice, "^[[2J^@?");  // ESC, NUL, not UTF-8
}

TEST_F(ChatRoom, OneClientThatNeverReadsCannotStallTheRoom)
{
    Client lazy = join(server, "lazy");
    int small = 4096;  // so its buffers fill sooner
    setsockopt(lazy.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    Client talker = join(server, "talker");
    Client reader = join(server, "reader");
    expect_next(talker, "NEW reader");
    constexpr int count = 20000;  // 8 MB for lazy: past its buffers
    const std::string text(400, 'x');
    Chatter chatter(talker, count, text);
    int received = 0;
    bool saw_lazy_leave = false;
    while (received < count || !saw_lazy_leave) {
        auto line = reader.read_line();
        if (!line)
            break;
        saw_lazy_leave = saw_lazy_leave || *line == "LEFT lazy";
        received += *line == text;
    }
    EXPECT_TRUE(chatter.finish()) << "the talker reads: not to be cut off";
    EXPECT_EQ(received, count);
    EXPECT_TRUE(saw_lazy_leave);
    // Cut off for being 1 MiB behind: the room went on talking past it. Had
    // the room waited for lazy (stage 5 waits until lazy goes), lazy would
    // have been cut off by the 5 s rule instead, for taking nothing.
    EXPECT_TRUE(server.shows("(cut off: too far behind)"));
}

// A client cut off leaves megabytes it never took in the server's kernel
// buffers. Closed as usual, the kernel would keep them, and keep trying to
// send them, for as long as the client holds its end open. The room resets
// the connection instead, which throws them away.
TEST_F(ChatRoom, WhatAClientCutOffNeverTookIsThrownAway)
{
    Client lazy = join(server, "lazy");
    int small = 4096;
    setsockopt(lazy.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    timeval patience{15, 0};  // so a server that never ends it fails here
    setsockopt(lazy.fd(), SOL_SOCKET, SO_RCVTIMEO, &patience, sizeof patience);
    Client talker = join(server, "talker");
    Chatter chatter(talker, 20000, std::string(400, 'x'));  // 8 MB for lazy
    EXPECT_TRUE(chatter.finish());
    ASSERT_TRUE(server.shows("Disconnected " + lazy.address()));
    char chunk[65536];
    ssize_t n;
    while ((n = ::recv(lazy.fd(), chunk, sizeof chunk, 0)) > 0) {
    }
    EXPECT_EQ(n, -1) << "an ordinary end: what it never took was kept";
    EXPECT_EQ(errno, ECONNRESET);
}

// A member whose socket takes no byte for 5 s is cut off (docs/chatroom.md)
// before it is 1 MiB behind: whispered to at 100 KB/s once its buffers are
// full, it would pass 1 MiB only after 10 s.
TEST_F(ChatRoom, AMemberWhoTakesNothingForFiveSecondsIsCutOff)
{
    Client lazy = join(server, "lazy");
    Client talker = join(server, "talker");
    const std::string text(400, 'x');
    const std::string whisper = "PRIVATE lazy\r\n" + text + "\r\n";
    std::string burst;  // 2 MB at once: no more than the buffers take
    for (int i = 0; i < 5000; ++i)
        burst += whisper;
    talker.send(burst);
    auto deadline = test::Clock::now() + std::chrono::seconds(60);
    while (!server.shows("cut off", milliseconds(0)) &&
           test::Clock::now() < deadline) {
        std::string second;  // 100 KB, as the input's pace: 250 a second
        for (int i = 0; i < 250; ++i)
            second += whisper;
        talker.send(second);
        std::this_thread::sleep_for(std::chrono::seconds(1));
    }
    EXPECT_TRUE(server.shows("(cut off: took nothing for too long)"));
    talker.send_line("WHO");
    EXPECT_TRUE(talker.skip_to_line_ending("MEMBERS talker"));
}

// Over loopback a socket's send buffer grows to 4 MiB, and a full one says
// it has room only once about a third of it is free. A member who reads
// 100 KB/s what is already queued for it frees that much only after more
// than 5 s; it reads all the while, and is not cut off for taking nothing:
// the room also looks at how much the kernel still holds for it.
TEST_F(ChatRoom, AMemberReadingSlowlyWhatIsQueuedIsNotCutOff)
{
    Client slow = join(server, "slow");
    Client talker = join(server, "talker");
    expect_next(slow, "NEW talker");
    const std::string text(500, 'x');
    Chatter chatter(talker, 9000, text);  // 4.5 MB at once, for slow too:
    // its kernel buffers take most of it, the room keeps the rest
    EXPECT_TRUE(chatter.finish());
    int received = 0;
    auto slowly_until = test::Clock::now() + std::chrono::seconds(7);
    while (received < 9000) {
        auto line = slow.read_line();
        if (!line)
            break;
        received += *line == text;
        if (test::Clock::now() < slowly_until)  // about 100 KB/s; then all
            std::this_thread::sleep_for(milliseconds(5));  // the rest at once
    }
    EXPECT_EQ(received, 9000);
    EXPECT_FALSE(server.shows("cut off", milliseconds(0)));
}

// A member may fall 1 MiB behind before it is cut off; had each its own
// copy of what it has not read, 300 members who never read would cost 300
// MiB. The room keeps each line once, until every member has had it or
// has been cut off, and a member who reads is never cut off.
TEST_F(ChatRoom, MembersWhoNeverReadCostTheRoomABoundedTotal)
{
    std::vector<Client> lazy;
    for (int i = 0; i < 300; ++i) {
        lazy.push_back(join(server, "lazy" + std::to_string(i)));
        int small = 4096;  // so their buffers fill sooner
        setsockopt(lazy.back().fd(), SOL_SOCKET, SO_RCVBUF, &small,
                   sizeof small);
    }
    Client talker = join(server, "talker");
    const long start = server.resident_kib();
    ASSERT_GT(start, 0);
    const int count = test::sanitized ? 2048 : 16384;  // 8 MiB of text each
    Chatter chatter(talker, count, std::string(500, 'x'));
    EXPECT_TRUE(chatter.finish()) << "the talker reads: not to be cut off";
    EXPECT_TRUE(chatter.heard_all());
    const long peak = test::proc_status(server.pid(), "VmHWM");
    ASSERT_GT(peak, 0) << "the room has gone";
    if (!test::sanitized) {  // ASan keeps freed memory in quarantine
        EXPECT_LT(peak - start, 128 * 1024) << "KiB more at the peak";
    }
}

// A talker floods 8 MB (far past the 1 MiB limit) at `slow`, which reads
// 8 KB at a time (20 messages) with `pause` between; how many of the
// messages `slow` received.
int flood_a_slow_reader(Server& server, milliseconds pause)
{
    Client slow = join(server, "slow");
    // Small, so what it has not read waits in its outbox; not below
    // loopback's segments of 64 KiB, or TCP would pause it for seconds.
    int small = 128 << 10;
    setsockopt(slow.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    Client talker = join(server, "talker");
    expect_next(slow, "NEW talker");
    constexpr int count = 20000;
    const std::string text(400, 'x');
    Chatter chatter(talker, count, text);  // it reads as fast as it can
    int received = 0;
    for (int lines = 0; received < count; ++lines) {
        if (lines % 40 == 0)
            std::this_thread::sleep_for(pause);
        auto line = slow.read_line();
        if (!line)
            break;
        received += *line == text;
    }
    EXPECT_TRUE(chatter.finish()) << "the talker reads: not to be cut off";
    return received;
}

TEST_F(ChatRoom, AReaderSlowerThanTheTalkerIsWaitedForNotCutOff)
{
    int received = flood_a_slow_reader(server, milliseconds(1));
    EXPECT_EQ(received, 20000) << "lost the slow reader";
}

// The other side of the pace: the server sees a reader take bytes only
// when its socket does, and over loopback the socket takes them in steps
// of a few 64 KiB segments. Reading 500 KB/s, a reader takes some too
// seldom to be told from one that stopped (100 ms, docs/chatroom.md): in
// a flood it is cut off. (With 1 s, each member that stopped reading
// would hold up the room for 1 s.)
TEST_F(ChatRoom, AReaderOfHalfAMegabyteASecondIsCutOffInAFlood)
{
    int received = flood_a_slow_reader(server, milliseconds(16));
    EXPECT_LT(received, 20000) << "waited for";
    EXPECT_TRUE(server.shows("(cut off: too far behind)"));
}

// Hostile clients.

TEST_F(ChatRoom, OddArgumentsGetErrorsAndNothingElse)
{
    Client watcher = join(server, "watcher");
    Client c = join(server, "odd");
    expect_next(watcher, "NEW odd");
    const char nul_name[] = "ADD \0nul";
    const std::vector<std::pair<std::string, std::string>> odd{
        {"ADD \xff\xfe", "ERROR already joined as odd"},
        {std::string(nul_name, sizeof nul_name - 1),
         "ERROR already joined as odd"},
        {"PRIVATE \x01\r\ntext", "ERROR no one named ^A"},
        {"PRIVATE \t \r\n", "ERROR usage: PRIVATE <name>, then the text on "
                            "the next line"},
        {"MESSAGE \t", "MESSAGE odd"},  // a tab is something to say
        {"\xff\xfb\x01", "ERROR unknown command: ??^A"},  // telnet IAC
        {"MESSAGE " + std::string(600, 'm'),
         "ERROR line too long (at most 512 bytes)"},
    };
    for (const auto& [sent, reply] : odd) {
        c.send_line(sent);
        expect_next(c, reply);
        if (reply == "MESSAGE odd")
            expect_next(c, "\t");
    }
    c.send_line("MESSAGE done");
    expect_next(watcher, "MESSAGE odd");  // the tab, the one real message
    expect_next(watcher, "\t");
    expect_next(watcher, "MESSAGE odd");
    expect_next(watcher, "done");
}

// A PRIVATE's text waits for its line end, however long the sender
// pauses (the pause rule is MESSAGE's only); the last line before the
// connection ends counts without one, as every last line does.
TEST_F(ChatRoom, APrivateTextWithNoLineEndWaitsForItOrForTheEnd)
{
    Client alice = join(server, "alice");
    Client bob = join(server, "bob");
    expect_next(alice, "NEW bob");
    bob.send("PRIVATE alice\nthe code");
    std::this_thread::sleep_for(milliseconds(400));  // the input: a pause
    bob.send(" is 1234\n");
    expect_next(alice, "PRIVATE bob");
    expect_next(alice, "the code is 1234");
    bob.send("PRIVATE alice\nlast words");
    bob.shutdown_write();  // the end of its input, with no line end
    expect_next(alice, "PRIVATE bob");
    expect_next(alice, "last words");
    expect_next(alice, "LEFT bob");
}

TEST_F(ChatRoom, APrivateWithNoTextBeforeLeavingIsJustALeaving)
{
    Client alice = join(server, "alice");
    {
        Client bob = join(server, "bob");
        bob.send_line("PRIVATE alice");
    }  // bob closes before the text line
    expect_next(alice, "NEW bob");
    expect_next(alice, "LEFT bob");
}

TEST_F(ChatRoom, AFloodOfAddsGetsAnErrorEachAndCostsNothing)
{
    Client c = join(server, "first");
    const long start = server.resident_kib();
    std::string adds;
    for (int i = 0; i < 10000; ++i)
        adds += "ADD name" + std::to_string(i) + "\r\n";
    std::thread sender([&] { c.send(adds + "WHO\r\n"); });
    int errors = 0;
    while (auto line = c.read_line()) {
        if (line->rfind("MEMBERS", 0) == 0) {
            EXPECT_EQ(*line, "MEMBERS first");
            break;
        }
        errors += *line == "ERROR already joined as first";
    }
    sender.join();
    EXPECT_EQ(errors, 10000);
    test::expect_memory_near(server, start);
}

TEST_F(ChatRoom, AThousandVisitorsComingAndGoingDisturbNoOne)
{
    Client alice = join(server, "alice");
    Client bob = join(server, "bob");
    expect_next(alice, "NEW bob");
    std::atomic<bool> churn_done{false};
    int visitors = 0;
    std::vector<std::string> joiners;  // visitors who sent ADD
    std::thread churn([&] {            // bounded: 1000 visitors, or 30 s
        auto deadline = test::Clock::now() + test::seconds(30);
        try {
            for (; visitors < 1000 && test::Clock::now() < deadline;
                 ++visitors) {
                Client visitor(server.port());
                if (visitors % 3 == 0) {
                    visitor.send_line("ADD v" + std::to_string(visitors));
                    joiners.push_back(visitor.address());
                }
                if (visitors % 2 == 0)
                    visitor.reset();
            }
        } catch (const std::runtime_error&) {
            ADD_FAILURE() << "a connection was refused";
        }
        churn_done = true;
    });
    int said = 0;
    for (; !churn_done && said < 1000000; ++said) {
        alice.send_line("MESSAGE " + std::to_string(said));
        ASSERT_TRUE(bob.skip_to_line_ending(std::to_string(said)));
    }
    churn.join();
    EXPECT_EQ(visitors, 1000);
    for (const std::string& address : joiners)  // all of them have left
        ASSERT_TRUE(server.saw_disconnected(address));
    bob.send_line("WHO");
    EXPECT_TRUE(bob.skip_to_line_ending("MEMBERS alice bob"));
}

// The client program, through pipes, as a person at a terminal would.
class ChatClient : public ChatRoom {
protected:
    test::Process start_client(const char* host = "localhost")
    {
        return test::Process({test::stage_path("chatclient"), host,
                              std::to_string(server.port())});
    }
};

TEST_F(ChatClient, TwoPeopleJoinTalkWhisperAndLeave)
{
    test::Process alice = start_client();
    alice.write_stdin("alice\n");
    ASSERT_TRUE(alice.shows("==> alice has joined the chat room"));
    test::Process bob = start_client("127.0.0.1");
    bob.write_stdin("bob\n");
    ASSERT_TRUE(bob.shows("==> in the room: alice, bob"));
    EXPECT_TRUE(alice.shows("==> bob has joined the chat room"));
    alice.write_stdin("hello\n");
    EXPECT_TRUE(bob.shows("==> alice: hello"));
    EXPECT_TRUE(alice.shows("==> alice: hello"));
    bob.write_stdin("private alice:psst\n");
    EXPECT_TRUE(alice.shows("==> bob [private]: psst"));
    bob.write_stdin("private alice psst\n");
    EXPECT_TRUE(bob.shows("==> usage: private NAME:text"));
    bob.write_stdin("private  alice :spaces around the name\n");
    EXPECT_TRUE(alice.shows("==> bob [private]: spaces around the name"));
    alice.write_stdin("quit\n");
    EXPECT_EQ(alice.wait_exit(), 0);
    EXPECT_EQ(alice.output().back(), "==> goodbye");
    EXPECT_TRUE(bob.shows("==> alice has left the chat room"));
    bob.close_stdin();  // Ctrl-D leaves the same way
    EXPECT_EQ(bob.wait_exit(), 0);
}

TEST_F(ChatClient, ATakenNameIsExplainedAndAskedAgain)
{
    Client alice = join(server, "alice");
    test::Process p = start_client();
    p.write_stdin("alice\n");
    EXPECT_TRUE(p.shows("==> error: name taken: alice"));
    p.write_stdin("alice2\n");
    EXPECT_TRUE(p.shows("==> alice2 has joined the chat room"));
}

TEST(ChatClientAlone, SaysSoWhenTheServerGoesAway)
{
    std::optional<Server> server(std::in_place, "chatroom");
    test::Process p({test::stage_path("chatclient"), "localhost",
                     std::to_string(server->port())});
    p.write_stdin("alice\n");
    ASSERT_TRUE(p.shows("has joined"));
    server.reset();  // kills the server
    EXPECT_EQ(p.wait_exit(), 1);
    EXPECT_EQ(p.output().back(), "==> the server has closed the connection");
}

// The server's side played by the test, to make chatclient meet what a
// real server may send, or fail to send.
class ScriptedServer {
public:
    ScriptedServer()
    {
        listener_.bind(0);
        listener_.listen(1);
    }
    std::vector<std::string> client_command() const
    {
        return {test::stage_path("chatclient"), "127.0.0.1",
                std::to_string(listener_.port())};
    }
    // Waits for the client to connect; reads from it end after a while.
    bool accept()
    {
        pollfd ready{listener_.fd(), POLLIN, 0};
        if (::poll(&ready, 1, test::event_timeout.count()) != 1)
            return false;
        socket_ = listener_.accept();
        timeval wait{test::event_timeout.count() / 1000, 0};
        ::setsockopt(socket_.fd(), SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
        reader_.emplace(socket_.fd());
        return true;
    }
    // The next line the client sent; nothing if it closed or said nothing.
    std::optional<std::string> read_line()
    {
        std::string line;
        if (!reader_ || !reader_->read_line(line))
            return std::nullopt;
        return line;
    }
    bool send(const std::string& text) { return socket_.write_all(text); }
    void close() { socket_ = net::Socket(); }

private:
    net::Socket listener_ = net::socket();
    net::Socket socket_;
    std::optional<net::LineReader> reader_;
};

// The client connects, is asked for a name, and joins as `name`.
void join_scripted(ScriptedServer& server, test::Process& client,
                   const std::string& name)
{
    ASSERT_TRUE(server.accept());
    client.write_stdin(name + "\n");
    ASSERT_EQ(server.read_line(), "ADD " + name);
    ASSERT_TRUE(server.send("NEW " + name + "\nMEMBERS " + name + "\n"));
}

// A server line longer than the client's 64 KiB is shown cut, and its rest
// is skipped: read as lines of its own, the rest of a long line could be
// made to look like a private message, or like someone joining.
TEST(ChatClientAlone, TheRestOfAnOverlongServerLineIsNoLineOfItsOwn)
{
    ScriptedServer server;
    test::Process p(server.client_command());
    join_scripted(server, p, "mallory");
    const std::string text(std::size_t{64} * 1024, 'x');  // then its rest:
    ASSERT_TRUE(server.send("MESSAGE bob\n" + text +
                            "PRIVATE admin\nMESSAGE bob\nthe end\n"));
    EXPECT_TRUE(p.wait_for_line(
        [](const std::string& l) { return l == "==> bob: the end"; }));
    for (const std::string& shown : p.output())
        EXPECT_EQ(shown.find("admin"), std::string::npos) << shown;
}

// Names and messages come from other people: escape sequences in them
// reach the terminal as visible text (^[), never as commands to it.
TEST(ChatClientAlone, EscapeSequencesFromTheServerAreShownNotObeyed)
{
    ScriptedServer server;
    test::Process p(server.client_command());
    join_scripted(server, p, "alice");
    ASSERT_TRUE(server.send("NEW eve\x1b[2J\nMESSAGE \x1b]0;owned\x07"
                            "bob\n"
                            "hi \x1b[31mred\xc2\x9b"
                            "1m\rback\b\n"
                            "LEFT eve\x1b[2J\n"));
    ASSERT_TRUE(p.shows("has left"));
    std::vector<std::string> shown = p.output();
    EXPECT_NE(std::find(shown.begin(), shown.end(),
                        "==> eve^[[2J has joined the chat room"),
              shown.end());
    auto control = [](char c) {
        return static_cast<unsigned char>(c) < 0x20 || c == '\x7f';
    };
    for (const std::string& line : shown)
        EXPECT_TRUE(std::none_of(line.begin(), line.end(), control) &&
                    line.find("\xc2\x9b") == line.npos)  // C1's CSI
            << "a control byte reached the terminal: " << line;
}

TEST(ChatClientAlone, AServerThatClosesDuringTheJoinIsSaid)
{
    ScriptedServer server;
    test::Process p(server.client_command());
    ASSERT_TRUE(server.accept());
    p.write_stdin("alice\n");
    ASSERT_EQ(server.read_line(), "ADD alice");
    server.close();  // no NEW, no ERROR
    EXPECT_EQ(p.wait_exit(), 1);
    EXPECT_EQ(p.output().back(), "==> the server has closed the connection");
}

// After QUIT the client waits 5 s for GOODBYE, not forever.
TEST(ChatClientAlone, NoGoodbyeAfterQuitIsSaidAndEndsWithStatus1)
{
    ScriptedServer server;
    test::Process p(server.client_command());
    join_scripted(server, p, "alice");
    p.write_stdin("quit\n");
    EXPECT_EQ(server.read_line(), "QUIT");  // and the server says nothing
    EXPECT_EQ(p.wait_exit(), 1);
    EXPECT_EQ(p.output().back(), "==> no goodbye from the server");
}

TEST(ChatClientAlone, CtrlDAtTheNamePromptLeavesWithoutJoining)
{
    ScriptedServer server;
    test::Process p(server.client_command());
    ASSERT_TRUE(server.accept());
    p.close_stdin();
    EXPECT_EQ(p.wait_exit(), 0);
    EXPECT_EQ(server.read_line(), std::nullopt) << "no ADD: it just closed";
}

// A typed line longer than a protocol line is refused whole, at the name
// prompt as in the room: its rest is not sent as a name or a message.
TEST(ChatClientAlone, AnOverlongTypedLineIsRefusedWhole)
{
    ScriptedServer server;
    test::Process p(server.client_command());
    ASSERT_TRUE(server.accept());
    p.write_stdin(std::string(600, 'a') + "bob\n");
    ASSERT_TRUE(p.wait_for_line([](const std::string& l) {
        return l == "==> too long: at most 504 bytes";
    }));
    p.write_stdin("alice\n");
    ASSERT_EQ(server.read_line(), "ADD alice");
    ASSERT_TRUE(server.send("NEW alice\nMEMBERS alice\n"));
    p.write_stdin(std::string(600, 'b') + "eve\nhello\n");
    EXPECT_EQ(server.read_line(), "MESSAGE hello");
    EXPECT_TRUE(p.wait_for_line([](const std::string& l) {
        return l == "==> too long: at most 504 bytes";
    }));
}

TEST(ChatClientAlone, TooManyArgumentsIsAUsageError)
{
    test::Process p({test::stage_path("chatclient"), "localhost", "8888", "x"});
    EXPECT_EQ(p.wait_exit(), 2);
    EXPECT_EQ(p.error_output(),
              "chatclient: usage: chatclient [host] [port]\n");
}

TEST(ChatClientAlone, ABadPortOrNoServerIsAOneLineError)
{
    test::Process bad({test::stage_path("chatclient"), "localhost", "abc"});
    EXPECT_EQ(bad.wait_exit(), 2);
    EXPECT_EQ(bad.error_output(), "chatclient: bad port 'abc' (0 to 65535)\n");
    net::Socket held = net::socket();  // a port bound, never listened on:
    held.bind(0);  // refused, and no other test can be given it meanwhile
    const std::uint16_t free_port = held.port();
    test::Process nobody({test::stage_path("chatclient"), "127.0.0.1",
                          std::to_string(free_port)});
    EXPECT_EQ(nobody.wait_exit(), 1);
    EXPECT_EQ(nobody.error_output(),
              "chatclient: cannot connect to 127.0.0.1 port " +
                  std::to_string(free_port) + ": Connection refused\n");
}

}  // namespace
