// chatserver3: echo for every client, all at the same time.
// New: a std::thread per client, so nobody waits for anybody else.
// Try: run it, then telnet localhost 8888 in two or three terminals
#include "line_reader.hpp"
#include "listener.hpp"
#include "log.hpp"

#include <string>
#include <thread>

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
            std::thread(serve, listener.accept()).detach();  // one each
    } catch (const std::exception& e) {
        return net::fail(argv[0], e);  // e.g. the port is already in use
    }
}
