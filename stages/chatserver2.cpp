// chatserver2: echo for every client, one after another, forever.
// New: the accept loop; a client who comes meanwhile waits its turn.
// Try: run it, then telnet localhost 8888 in two or three terminals
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
        for (;;)
            serve(listener.accept());  // the next client, when this one leaves
    } catch (const std::exception& e) {
        return net::fail(argv[0], e);  // e.g. the port is already in use
    }
}
