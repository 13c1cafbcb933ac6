// chatserver5: the chat of chatserver4, made safe.
// New: a std::mutex guards the list of clients; one thread at a time uses it.
// Try: run it, then telnet localhost 8888 in two or three terminals
#include "line_reader.hpp"
#include "listener.hpp"
#include "log.hpp"

#include <algorithm>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

static std::vector<net::Socket*> clients;  // every thread reads and changes it
static std::mutex clients_mutex;           // so every use takes this first

static void join(net::Socket* client)
{
    std::lock_guard lock(clients_mutex);  // held until the function returns
    clients.push_back(client);
}

static void leave(net::Socket* client)
{
    std::lock_guard lock(clients_mutex);
    clients.erase(std::find(clients.begin(), clients.end(), client));
}

static void broadcast(const net::Socket* sender, const std::string& line)
{
    std::lock_guard lock(clients_mutex);  // nobody joins or leaves meanwhile
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
