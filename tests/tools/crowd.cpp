// crowd: a burst of chat clients against stage 4 or 5, counting what the
// server lost. The load driver of scripts/race-demo (the lecture's
// exercise 5). Usage: crowd PORT [CLIENTS]   (CLIENTS: 2 to 500, default 40)
//
// CLIENTS threads connect to 127.0.0.1:PORT at the same instant. Then a
// roll call: one client says "roll call 1" and the others must hear it;
// whoever did not is given up to 4 more roll calls (1 s each), so a client
// slow to join is not taken for a lost one. Then every client says one
// line and each reachable client must hear all the others, once. Then all
// leave at once (a blank line), and a last client checks the server is
// still there. One summary line on stdout; exit status 0 if nothing was
// lost, 1 if a client or a broadcast was lost (or doubled), 2 if the server
// refused or died, 3 if crowd itself could not run (bad usage, no threads).
#include "line_reader.hpp"
#include "log.hpp"
#include "socket.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <netinet/in.h>
#include <poll.h>
#include <set>
#include <string>
#include <sys/socket.h>
#include <system_error>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int default_clients = 40;
constexpr int max_clients = 500;
constexpr int max_roll_calls = 5;
constexpr milliseconds roll_call_wait{1000};  // for each roll call
constexpr milliseconds talk_wait{5000};       // for every broadcast
constexpr milliseconds leave_wait{2000};      // for the server's goodbye
constexpr milliseconds start_wait{5000};      // for the threads to line up

// Lets threads start together: each waits at the gate until it opens
// (std::latch would do, but it is C++20).
class Gate {
public:
    void wait()
    {
        std::unique_lock lock(mutex_);
        ++waiting_;
        changed_.notify_all();
        changed_.wait(lock, [this] { return open_; });
    }
    // Opens once `count` threads wait, or after `patience` in any case.
    void open_when_waiting(int count, milliseconds patience)
    {
        std::unique_lock lock(mutex_);
        changed_.wait_for(lock, patience, [&] { return waiting_ >= count; });
        open_ = true;
        changed_.notify_all();
    }

private:
    std::mutex mutex_;
    std::condition_variable changed_;
    int waiting_ = 0;
    bool open_ = false;
};

struct Client {
    net::Socket socket;
    std::string name;             // as the server calls us: "127.0.0.1:50312"
    bool refused = false;         // could not connect
    bool closed = false;          // the server closed the connection
    bool reachable = false;       // heard a broadcast: the server lists us
    net::LineBuffer pending;      // bytes received, not yet a whole line
    std::set<std::string> heard;  // whose "hello" lines arrived
    int doubled = 0;              // a "hello" heard twice
};

// "127.0.0.1:50312": our end of the connection, as the server prints it.
std::string local_name(int fd)
{
    sockaddr_in local{};
    socklen_t length = sizeof local;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length) < 0)
        return "?";
    char text[INET_ADDRSTRLEN] = "?";
    inet_ntop(AF_INET, &local.sin_addr, text, sizeof text);
    return fmt::format("{}:{}", text, ntohs(local.sin_port));
}

// Runs `task` for every client, each in its own thread, all at once.
void all_at_once(std::vector<Client>& clients,
                 const std::function<void(Client&)>& task)
{
    Gate gate;
    std::vector<std::thread> threads;
    try {
        for (Client& client : clients)
            threads.emplace_back([&gate, &task, &client] {
                gate.wait();
                task(client);
            });
    } catch (const std::system_error&) {
        gate.open_when_waiting(0, start_wait);  // out of threads: let the
        for (std::thread& thread : threads)     // others go, then give up
            thread.join();
        throw;
    }
    gate.open_when_waiting(static_cast<int>(clients.size()), start_wait);
    for (std::thread& thread : threads)
        thread.join();
}

// Whether recv's result means the connection has ended.
bool ended(ssize_t n)
{
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR);
}

// Files one line the server sent to `client`: "127.0.0.1:50312: text".
void take_line(Client& client, const std::string& line)
{
    std::size_t colon = line.find(": ");
    if (colon == std::string::npos)
        return;  // not a broadcast: no matter
    client.reachable = true;
    std::string sender = line.substr(0, colon);
    if (line.compare(colon + 2, 6, "hello ") == 0 &&
        !client.heard.insert(sender).second)
        ++client.doubled;
}

// Reads whatever arrives, until `done()` or `deadline`.
void receive_until(std::vector<Client>& clients,
                   const std::function<bool()>& done,
                   Clock::time_point deadline)
{
    while (!done() && Clock::now() < deadline) {
        std::vector<pollfd> fds;
        std::vector<Client*> owners;
        for (Client& client : clients)
            if (client.socket.is_open() && !client.closed) {
                fds.push_back({client.socket.fd(), POLLIN, 0});
                owners.push_back(&client);
            }
        if (fds.empty())
            return;
        auto left =
            std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
        int ready = ::poll(fds.data(), fds.size(),
                           static_cast<int>(std::max<long>(left.count(), 0)));
        if (ready <= 0)
            continue;  // timeout (the loop ends) or a signal
        for (std::size_t i = 0; i < fds.size(); ++i) {
            if (fds[i].revents == 0)
                continue;
            char chunk[4096];
            ssize_t n = ::recv(fds[i].fd, chunk, sizeof chunk, MSG_DONTWAIT);
            if (n <= 0) {
                owners[i]->closed = ended(n);
                continue;
            }
            owners[i]->pending.append(
                std::string_view(chunk, static_cast<std::size_t>(n)));
            std::string line;
            while (owners[i]->pending.next_line(line))
                take_line(*owners[i], line);
        }
    }
}

// The next roll caller: someone known to be listed who has not called yet
// (so an earlier caller hears this one), else anyone who has not called.
Client* next_caller(std::vector<Client*>& connected, std::set<Client*>& called)
{
    Client* choice = nullptr;
    for (Client* client : connected)
        if (called.count(client) == 0 &&
            (choice == nullptr || (client->reachable && !choice->reachable)))
            choice = client;
    if (choice != nullptr)
        called.insert(choice);
    return choice;
}

int run(std::uint16_t port, int count)
{
    std::vector<Client> clients(static_cast<std::size_t>(count));
    all_at_once(clients, [port](Client& client) {
        try {
            client.socket = net::connect("127.0.0.1", port);
            client.name = local_name(client.socket.fd());
        } catch (const std::system_error&) {
            client.refused = true;
        }
    });
    std::vector<Client*> connected;
    for (Client& client : clients)
        if (!client.refused)
            connected.push_back(&client);
    const int refused = count - static_cast<int>(connected.size());
    if (connected.size() < 2) {
        net::log("crowd: {} of {} clients refused: is a server listening on "
                 "port {}?",
                 refused, count, port);
        return 2;
    }

    // Roll calls, until everybody has heard one.
    auto all_reachable = [&connected] {
        for (Client* client : connected)
            if (!client->reachable && !client->closed)
                return false;
        return true;
    };
    std::set<Client*> called;
    for (int round = 1; round <= max_roll_calls && !all_reachable(); ++round) {
        Client* caller = next_caller(connected, called);
        if (caller == nullptr)
            break;
        caller->socket.write_line(fmt::format("roll call {}", round));
        receive_until(clients, all_reachable, Clock::now() + roll_call_wait);
    }

    // Everybody says hello; each reachable client must hear all the others.
    for (Client* client : connected)
        client->socket.write_line(fmt::format("hello from {}", client->name));
    const std::size_t others = connected.size() - 1;
    auto all_heard = [&connected, others] {
        for (Client* client : connected)
            if (client->reachable && !client->closed &&
                client->heard.size() < others)
                return false;
        return true;
    };
    receive_until(clients, all_heard, Clock::now() + talk_wait);

    int lost = 0;
    int closed = 0;
    int doubled = 0;
    std::size_t expected = 0;
    std::size_t received = 0;
    for (Client* client : connected) {
        lost += client->reachable ? 0 : 1;
        closed += client->closed ? 1 : 0;
        doubled += client->doubled;
        if (client->reachable) {
            expected += others;
            received += client->heard.size();
        }
    }

    // All leave at once, each waiting for the server to close its end.
    all_at_once(clients, [](Client& client) {
        if (!client.socket.is_open() || client.closed)
            return;
        client.socket.write_line("");  // a blank line: goodbye
        const auto deadline = Clock::now() + leave_wait;
        char chunk[4096];
        for (auto now = Clock::now(); now < deadline; now = Clock::now()) {
            pollfd p{client.socket.fd(), POLLIN, 0};
            auto left =
                std::chrono::duration_cast<milliseconds>(deadline - now);
            if (::poll(&p, 1, static_cast<int>(left.count())) > 0 &&
                ended(::recv(p.fd, chunk, sizeof chunk, MSG_DONTWAIT)))
                break;  // the server has let us go
        }
        client.socket.close();
    });

    bool died = false;
    std::this_thread::sleep_for(milliseconds(100));
    try {
        net::Socket probe = net::connect("127.0.0.1", port);  // still on?
    } catch (const std::system_error&) {
        died = true;
    }

    std::string summary =
        fmt::format("crowd: {} clients connected, {} lost (never reachable), "
                    "broadcasts: {} expected, {} received",
                    connected.size(), lost, expected, received);
    if (doubled > 0)
        summary += fmt::format(", {} doubled", doubled);
    if (closed > 0)
        summary += fmt::format(", {} connections closed early", closed);
    if (refused > 0)
        summary += fmt::format(", {} refused", refused);
    if (died)
        summary += ", and the server died";
    net::log("{}", summary);
    if (died || refused > 0)
        return 2;
    return lost > 0 || received < expected || doubled > 0 || closed > 0 ? 1 : 0;
}

}  // namespace

int main(int argc, char* argv[])
{
    try {
        if (argc < 2 || argc > 3)
            throw net::UsageError(
                fmt::format("usage: crowd PORT [CLIENTS]  (2 to {}, default "
                            "{})",
                            max_clients, default_clients));
        const std::uint16_t port = net::parse_port(argv[1]);
        int count = default_clients;
        if (argc == 3) {
            const std::string text = argv[2];
            bool digits =
                !text.empty() && text.size() <= 3 &&
                text.find_first_not_of("0123456789") == std::string::npos;
            count = digits ? std::stoi(text) : 0;
            if (count < 2 || count > max_clients)
                throw net::UsageError(fmt::format(
                    "bad number of clients '{}' (2 to {})", text, max_clients));
        }
        return run(port, count);
    } catch (const std::exception& e) {
        net::fail(argv[0], e);
        return 3;  // not the server's fault: 1 and 2 are about the server
    }
}
