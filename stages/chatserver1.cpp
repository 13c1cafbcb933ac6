// chatserver1: one TCP client on port 8888; each line it sends comes back.
// New: a listening socket, and a client instead of the keyboard.
// Try: run it, then in another terminal: telnet localhost 8888
#include "line_reader.hpp"
#include "log.hpp"
#include "socket.hpp"

#include <string>
#include <utility>

static void serve(net::Socket client)
{
    net::log("Connected {}", client.peer());
    net::LineReader reader(client.fd());  // the client's bytes, as lines
    std::string line;
    std::string out;  // what goes out for the lines of one read
    while (reader.read_line(line) && !line.empty()) {  // blank line: goodbye
        out += line + "\r\n";    // echo it back to the client
        if (!reader.has_line())  // the last whole line this read brought:
            client.write_all(std::exchange(out, {}));  // all in one send
    }
    client.write_all(out);  // any that came before the blank line
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
        serve(listener.accept());  // wait for one client; then we are done
    } catch (const std::exception& e) {
        return net::fail(argv[0], e);  // e.g. the port is already in use
    }
}
