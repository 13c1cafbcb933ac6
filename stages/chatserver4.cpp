// chatserver4: a chat: each line a client sends goes to every other client.
// New: one list of clients shared by all threads, with no lock: a data race.
// Try: run it, then telnet localhost 8888 in two or three terminals
#include "line_reader.hpp"
#include "log.hpp"
#include "socket.hpp"

#include <algorithm>
#include <cstdlib>
#include <string>
#include <thread>
#include <utility>
#include <vector>

static std::vector<net::Socket*> clients;  // every thread reads and changes it

static void broadcast(const net::Socket* sender, const std::string& out)
{
    for (net::Socket* client : clients)  // while others may change the list
        if (client != sender)
            client->write_all(out);  // one send per client
}

static void serve(net::Socket client)
{
    clients.push_back(&client);  // may move the list while others read it
    net::log("Connected {}", client.peer());
    net::LineReader reader(client.fd());  // the client's bytes, as lines
    std::string line;
    std::string out;  // what goes out for the lines of one read
    while (reader.read_line(line) && !line.empty()) {  // blank line: goodbye
        out += client.peer() + ": " + line + "\r\n";   // with who said it
        if (!reader.has_line())  // the last whole line this read brought:
            broadcast(&client, std::exchange(out, {}));  // to all the others
    }
    broadcast(&client, out);  // any that came before the blank line
    clients.erase(std::find(clients.begin(), clients.end(), &client));
    net::log("Disconnected {}", client.peer());
    client.close();  // hang up (its destructor would too)
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
                net::log("Refused {} ({})", peer, e.what());  // it is closed
            }
        }
    } catch (const std::exception& e) {     // e.g. the port is already in use
        std::_Exit(net::fail(argv[0], e));  // now: other threads may still run
    }
}
