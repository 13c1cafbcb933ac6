// chatserver1: one TCP client on port 8888; each line it sends comes back.
// New: a listening socket, and a client instead of the keyboard.
// Try: run it, then in another terminal: telnet localhost 8888
#include "line_reader.hpp"
#include "listener.hpp"
#include "log.hpp"

#include <string>

static void serve(net::Socket client)
{
    net::log("Connected {}", client.peer());
    net::LineReader reader(client.fd());  // the client's bytes, as lines
    std::string line;
    while (reader.read_line(line) && !line.empty())  // blank line: goodbye
        client.write_line(line);  // echo it back to the client
    net::log("Disconnected {}", client.peer());
}

int main(int argc, char* argv[])
{
    try {
        net::Listener listener(argc, argv);  // port 8888, or argv[1]
        serve(listener.accept());  // wait for one client; then we are done
    } catch (const std::exception& e) {
        return net::fail(argv[0], e);  // e.g. the port is already in use
    }
}
