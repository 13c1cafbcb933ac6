// chatserver4: a chat: each line a client sends goes to every other client.
// New: one list of clients shared by all threads, with no lock: a data race.
// Try: run it, then telnet localhost 8888 in two or three terminals
#include "line_reader.hpp"
#include "listener.hpp"
#include "log.hpp"

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

static std::vector<net::Socket*> clients;  // every thread reads and changes it

static void join(net::Socket* client)
{
    clients.push_back(client);  // may move the vector while others read it
}

static void leave(net::Socket* client)
{
    clients.erase(std::find(clients.begin(), clients.end(), client));
}

static void broadcast(const net::Socket* sender, const std::string& line)
{
    for (net::Socket* client : clients)
        if (client != sender)
            client->write_line(sender->peer() + ": " + line);
}

static void serve(net::Socket client)
{
    join(&client);  // before "Connected": whoever sees that can reach us
    net::log("Connected {}", client.peer());
    net::LineReader reader(client.fd());  // the client's bytes, as lines
    std::string line;
    while (reader.read_line(line) && !line.empty())  // blank line: goodbye
        broadcast(&client, line);  // to everybody else, with who said it
    leave(&client);
    net::log("Disconnected {}", client.peer());
}

int main(int argc, char* argv[])
{
    try {
        net::Listener listener(argc, argv);  // port 8888, or argv[1]
        for (;;)
            std::thread(serve, listener.accept()).detach();  // one each
    } catch (const std::exception& e) {
        return net::fail(argv[0], e);  // e.g. the port is already in use
    }
}
