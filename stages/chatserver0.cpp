// chatserver0: the chat loop before any network: each line you type comes
// back. A blank line or end of input (Ctrl-D) ends it. Try: ./chatserver0
#include "line_reader.hpp"
#include "log.hpp"

#include <string>
#include <unistd.h>

static void serve()
{
    net::log("Connected");
    net::LineReader reader(STDIN_FILENO);  // the keyboard, for now
    std::string line;
    while (reader.read_line(line) && !line.empty())  // blank line: goodbye
        net::log("{}\n", line);  // echo it, then a blank line
    net::log("Disconnected");
}

int main()
{
    serve();
}
