// chatroom: the network chat room of the textbook's case study, built on
// chatserver5: screen names, messages to all, private messages.
// New: a protocol (docs/chatroom.md), and an outbox per client sent by one
// writer thread, so a client that stops reading cannot stall the room.
// Try: run it, then chatclient (or telnet localhost 8888) in 3 terminals
#include "chatroom_protocol.hpp"
#include "line_reader.hpp"
#include "log.hpp"
#include "outbox.hpp"
#include "socket.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <utility>
#include <vector>

using std::chrono::milliseconds;

constexpr std::size_t outbox_limit = 1 << 20;   // then a client is cut off
constexpr milliseconds stall_limit{5000};       // ...or when it takes no byte
constexpr milliseconds pause_ends_line{250};    // MESSAGE sent with no \n
constexpr std::chrono::seconds join_limit{60};  // to send ADD, or be closed

// Everyone in the room, by name. Holding the lock we only post lines to
// the writer, which never waits for a client, so the lock is never held
// long; the writer keeps each line once, and sends it to all it is for.
class Room {
public:
    bool join(const std::string& name, chat::Outbox* outbox)
    {
        std::lock_guard lock(mutex_);
        auto place = find(name);
        if (place != members_.end() && place->name == name)
            return false;  // the name is taken
        members_.insert(place, Member{name, outbox});
        outbox->close_at = chat::Clock::time_point::max();  // it has joined
        writer_.join(*outbox);
        writer_.to_members("NEW " + name + "\n");
        writer_.append(*outbox, members_line());
        return true;
    }

    void leave(chat::Outbox& outbox)  // if it joined
    {
        std::lock_guard lock(mutex_);
        auto gone = std::find_if(members_.begin(), members_.end(),
                                 [&](auto& m) { return m.outbox == &outbox; });
        if (gone == members_.end())
            return;
        std::string name = std::move(gone->name);
        members_.erase(gone);  // first: then whatever fails, it has left
        writer_.leave(outbox);
        writer_.to_members("LEFT " + name + "\n");
    }

    void say(const std::string& sender, const std::string& text)
    {
        std::lock_guard lock(mutex_);
        writer_.to_members("MESSAGE " + sender + "\n" + text + "\n");
    }

    bool tell(const std::string& sender, const std::string& recipient,
              const std::string& text)
    {
        std::lock_guard lock(mutex_);
        auto found = find(recipient);
        if (found == members_.end() || found->name != recipient)
            return false;
        writer_.append(*found->outbox,
                       "PRIVATE " + sender + "\n" + text + "\n");
        return true;
    }

    // To one client only: ERROR, GOODBYE; then waits for the writer. An
    // answer may be far longer than what asked for it (an ERROR for 2
    // bytes, up to 21 KB for WHO's 4): so a flood of them costs its sender
    // time, not the room memory. False if the client is cut off, or gone.
    bool reply(chat::Outbox& outbox, const std::string& text)
    {
        std::unique_lock lock(mutex_);
        return answer(lock, outbox, text);
    }

    bool who(chat::Outbox& outbox)  // WHO: MEMBERS, to the one who asked
    {
        std::unique_lock lock(mutex_);
        return answer(lock, outbox, members_line());
    }

    // A client comes in, and goes: its outbox is sent until then.
    void enter(chat::Outbox& outbox)
    {
        std::lock_guard lock(mutex_);
        outbox.close_at = chat::Clock::now() + join_limit;
        writer_.add(outbox);
    }
    const char* exit(chat::Outbox& outbox)  // why it was cut off, if it was
    {
        std::unique_lock lock(mutex_);
        return writer_.remove(lock, outbox);
    }

    // After all the lines of one read: see Writer::send_and_keep_pace.
    void send_and_keep_pace()
    {
        std::unique_lock lock(mutex_);
        writer_.send_and_keep_pace(lock);
    }

private:
    bool answer(std::unique_lock<std::mutex>& lock, chat::Outbox& outbox,
                std::string text)  // as reply says
    {
        writer_.append(outbox, std::move(text));
        writer_.send_and_keep_pace(lock);
        return !outbox.stopped;
    }

    struct Member {
        std::string name;
        chat::Outbox* outbox;
    };
    // Members are kept sorted by name in one vector: MEMBERS lists them in
    // that order, and a name is found by binary search.
    std::vector<Member>::iterator find(const std::string& name)
    {
        return std::lower_bound(
            members_.begin(), members_.end(), name,
            [](const Member& m, const std::string& n) { return m.name < n; });
    }

    std::string members_line() const  // "MEMBERS al bob", "... +9000"
    {
        std::size_t listed = std::min(members_.size(), chat::max_listed);
        std::string line = "MEMBERS";
        line.reserve(listed * (chat::max_name + 1) + 16);
        for (std::size_t i = 0; i < listed; ++i)
            line.append(" ").append(members_[i].name);
        if (listed < members_.size())
            line.append(" +").append(std::to_string(members_.size() - listed));
        line += '\n';
        return line;
    }

    std::mutex mutex_;
    std::vector<Member> members_;  // sorted by name
    chat::Writer writer_{mutex_, outbox_limit, stall_limit};
};

static Room room;

// A client's time in the room, from enter to exit. The room keeps a
// pointer to the outbox meanwhile, so the client leaves before the outbox
// goes away, whichever way converse ends: a return, or an exception.
class Visit {
public:
    explicit Visit(int fd) : outbox(fd) { room.enter(outbox); }
    Visit(const Visit&) = delete;
    Visit& operator=(const Visit&) = delete;
    ~Visit() { end(); }

    const char* end()  // why it was cut off, if it was; only once
    {
        if (std::exchange(ended_, true))
            return nullptr;
        try {
            room.leave(outbox);            // LEFT to the others, if it joined
            room.send_and_keep_pace();     // GOODBYE, LEFT: sent before we go
        } catch (const std::exception&) {  // out of memory: it has left
        }
        return room.exit(outbox);
    }

    chat::Outbox outbox;

private:
    bool ended_ = false;
};

// One conversation, from ADD to QUIT: the protocol's rules and errors.
static std::string converse(net::Socket& client)
{
    // On the heap, not on this thread's stack: stacks lie 8 MiB apart, so
    // outboxes there would crowd into the same few cache sets, and the walk
    // over all members would miss the cache at every step (issue 12).
    auto visit = std::make_unique<Visit>(client.fd());
    chat::Outbox& outbox = visit->outbox;
    std::string name;  // empty until ADD succeeds
    net::LineReader reader(client.fd(), chat::max_line);
    reader.complete_after(pause_ends_line, "MESSAGE ");
    bool served = true;  // false once it is cut off, or gone
    auto error = [&](const std::string& why) {
        served = room.reply(outbox, "ERROR " + why + "\n");
    };
    enum class Got { line, too_long, end };
    unsigned handled = 0;  // lines taken from a read that had more
    auto next_line = [&](std::string& line) {
        if (!served)
            return Got::end;  // what else it sent needs no answer
        if (!reader.has_line() || ++handled % 64 == 0)  // all the lines of
            room.send_and_keep_pace();  // this read, or 64: sent before more
        if (!reader.read_line(line))
            return Got::end;  // the client is gone
        if (!reader.cut())
            return Got::line;
        error("line too long (at most " + std::to_string(chat::max_line) +
              " bytes)");
        return reader.skip_rest_of_line() ? Got::too_long : Got::end;
    };
    std::string line;
    for (Got got; (got = next_line(line)) != Got::end;) {
        if (got == Got::too_long || line.empty())
            continue;  // refused already; or Enter pressed on nothing
        chat::Command command = chat::parse_command(line);
        if (command.verb == chat::Verb::quit) {
            room.reply(outbox, "GOODBYE\n");
            break;
        } else if (command.verb == chat::Verb::add) {
            std::string wanted = chat::trim(command.argument);
            std::string problem = chat::name_problem(wanted);
            if (!name.empty())
                error("already joined as " + name);
            else if (!problem.empty())
                error("invalid name: " + problem);
            else if (!room.join(wanted, &outbox))
                error("name taken: " + wanted);
            else
                name = wanted;
        } else if (name.empty()) {
            error("join first: ADD <name>");
        } else if (command.verb == chat::Verb::message) {
            if (command.argument.empty())
                error("empty message");
            else
                room.say(name, chat::harmless(command.argument));
        } else if (command.verb == chat::Verb::private_message) {
            std::string recipient = chat::trim(command.argument);
            std::string text;  // the next line, even if no one gets it
            if (recipient.empty()) {
                error("usage: PRIVATE <name>, then the text on the next line");
                continue;
            }
            got = next_line(text);
            if (got == Got::end)
                break;
            if (got == Got::too_long)
                continue;  // refused already: the whole message is dropped
            if (text.empty())
                error("empty message");
            else if (!room.tell(name, recipient, chat::harmless(text)))
                error("no one named " + chat::harmless(recipient));
        } else if (command.verb == chat::Verb::who) {
            served = room.who(outbox);
        } else {
            error("unknown command: " + chat::harmless(command.word));
        }
    }
    bool late = name.empty() && chat::Clock::now() >= outbox.close_at;
    if (late)  // the writer has shut the socket for reading: say why
        error("no ADD within " + std::to_string(join_limit.count()) + " s");
    if (const char* why = visit->end())
        return std::string("cut off: ") + why;
    return late ? "did not join in time" : "";
}

// A client may send more after QUIT. Closing a socket with input unread
// resets the connection, and a reset throws away what is still on its way
// to the client, GOODBYE too. So we hang up our side first (FIN follows
// the last byte), then read until the client hangs up too, or time is up.
static void hang_up(net::Socket& client)
{
    ::shutdown(client.fd(), SHUT_WR);
    auto until = chat::Clock::now() + stall_limit;
    char ignored[4096];
    for (;;) {
        auto left = std::chrono::ceil<milliseconds>(until - chat::Clock::now());
        pollfd ready{client.fd(), POLLIN, 0};
        if (left.count() <= 0 ||
            ::poll(&ready, 1, static_cast<int>(left.count())) <= 0 ||
            ::recv(client.fd(), ignored, sizeof ignored, 0) <= 0)
            return;
    }
}

static void serve(net::Socket client)
{
    net::log("Connected {}", client.peer());
    std::string why;
    try {
        why = converse(client);
    } catch (const std::exception& e) {  // e.g. out of memory: this one only
        why = e.what();
    }
    net::log("Disconnected {}{}", client.peer(),
             why.empty() ? "" : " (" + why + ")");
    hang_up(client);
}

int main(int argc, char* argv[])
{
    try {
        net::Socket listener = net::socket();  // TCP, for IPv6 and IPv4
        listener.bind(net::port_from_args(argc, argv));  // 8888, or argv[1]
        listener.listen(SOMAXCONN);  // clients can connect now, and queue
        net::log_listening(argv[0], listener.port());
        for (;;) {
            net::Socket client = listener.accept();
            std::string peer = client.peer();
            try {
                std::thread(serve, std::move(client)).detach();  // one each
            } catch (const std::exception& e) {  // no thread, or no memory:
                net::log("Refused {} ({})", peer, e.what());  // and closed
            }
        }
    } catch (const std::exception& e) {     // e.g. the port is already in use
        std::_Exit(net::fail(argv[0], e));  // now: other threads may still run
    }
}
