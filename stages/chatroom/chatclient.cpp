// chatclient: the chat room's client. It does two things at once: one
// thread reads the keyboard and sends, another reads the server and shows
// what arrives, so messages appear while you are typing.
// Try: chatclient [host] [port]   (localhost 8888 by default)
#include "chatroom_protocol.hpp"
#include "line_reader.hpp"
#include "log.hpp"
#include "socket.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <sys/ioctl.h>
#include <thread>
#include <unistd.h>

constexpr std::size_t max_server_line =
    std::size_t{64} * 1024;                            // MEMBERS is long
constexpr std::size_t max_typed = chat::max_line - 8;  // + "MESSAGE "
constexpr std::chrono::seconds goodbye_wait{5};

static std::mutex mutex;
static std::condition_variable server_done;
static bool quitting = false;  // we sent QUIT
static bool finished = false;  // the server's side is over
static bool goodbye = false;   // and it said GOODBYE

enum class Joined { yes, user_left, server_gone };

// Asks for a name until the server accepts one.
static Joined join(net::LineReader& keyboard, net::Socket& server,
                   net::LineReader& from_server)
{
    std::string name;
    std::string reply;
    for (;;) {
        std::fputs("What is your name: ", stdout);
        std::fflush(stdout);
        if (!keyboard.read_line(name)) {
            std::puts("");  // Ctrl-D at the prompt: end its line, and go
            return Joined::user_left;
        }
        if (!isatty(STDIN_FILENO))
            net::log("{}", chat::harmless(name));  // as a terminal echoes
        if (keyboard.cut()) {  // its rest would be taken for the next name
            keyboard.skip_rest_of_line();
            net::log("==> too long: at most {} bytes", max_typed);
            continue;
        }
        name = chat::trim(name);  // as the server does
        if (!server.write_line("ADD " + name) ||
            !from_server.read_line(reply) ||
            (from_server.cut() && !from_server.skip_rest_of_line()))
            return Joined::server_gone;
        if (reply == "NEW " + name) {
            net::log("==> {} has joined the chat room", chat::harmless(name));
            return Joined::yes;
        }
        chat::Display display;
        std::string shown;
        if (display.show(reply, shown))
            net::log("{}", shown);  // the server's reason, e.g. name taken
    }
}

// The server is gone while we were not leaving: say so, once, and end the
// program at once, from whichever thread noticed (the other one may be
// stuck in a read that nothing will interrupt).
[[noreturn]] static void server_gone()
{
    std::lock_guard lock(mutex);
    net::log("==> the server has closed the connection");
    std::_Exit(1);
}

// How wide the terminal is, now; 0 if the output is not a terminal.
static std::size_t columns()
{
    winsize size{};
    if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) != 0)
        return 0;
    return size.ws_col;
}

// The second task: show everything the server sends, until it closes or
// says GOODBYE.
static void show_server_lines(net::LineReader from_server)
{
    chat::Display display;
    std::string line;
    std::string shown;
    while (!display.saw_goodbye() && from_server.read_line(line)) {
        bool cut = from_server.cut();   // longer than max_server_line:
        if (display.show(line, shown))  // in rows the width of the terminal
            net::log("{}",
                     chat::wrap(shown + (cut ? " [...]" : ""), columns()));
        if (cut && !from_server.skip_rest_of_line())  // its rest is no line
            break;
    }
    std::unique_lock lock(mutex);
    if (!quitting) {
        lock.unlock();
        server_gone();
    }
    finished = true;
    goodbye = display.saw_goodbye();
    server_done.notify_one();
}

int main(int argc, char* argv[])
{
    try {
        if (argc > 3)
            throw net::UsageError("usage: chatclient [host] [port]");
        std::string host = argc > 1 ? argv[1] : "localhost";
        auto port = argc > 2 ? net::parse_port(argv[2]) : net::default_port;
        net::Socket server = net::connect(host, port);
        net::LineReader from_server(server.fd(), max_server_line);
        net::LineReader keyboard(STDIN_FILENO, max_typed);
        switch (join(keyboard, server, from_server)) {
        case Joined::yes:
            break;
        case Joined::user_left:
            return 0;
        case Joined::server_gone:
            server_gone();
        }
        std::thread listener(show_server_lines, std::move(from_server));
        std::string typed;  // the first task: the keyboard
        chat::Outgoing out;
        while (!out.quit) {
            if (!keyboard.read_line(typed))
                typed = "quit";  // Ctrl-D leaves too
            if (keyboard.cut()) {
                keyboard.skip_rest_of_line();
                net::log("==> too long: at most {} bytes", max_typed);
                continue;
            }
            out = chat::from_keyboard(typed);
            if (!out.hint.empty())
                net::log("{}", out.hint);
            if (out.quit) {
                std::lock_guard lock(mutex);
                quitting = true;  // before QUIT: the server closes after it
            }
            if (!server.write_all(out.to_server) && !out.quit)
                server_gone();
        }
        // We sent QUIT: wait (not forever) for the server's GOODBYE.
        std::unique_lock lock(mutex);
        bool done =
            server_done.wait_for(lock, goodbye_wait, [] { return finished; });
        net::log(done && goodbye ? "==> goodbye"
                                 : "==> no goodbye from the server");
        lock.unlock();
        if (!done)
            std::_Exit(1);  // the listener is stuck in read(): just go
        listener.join();
        return goodbye ? 0 : 1;
    } catch (const std::exception& e) {
        return net::fail(argv[0], e);
    }
}
