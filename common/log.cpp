#include "log.hpp"

#include <csignal>
#include <ctime>
#include <pthread.h>

namespace net {

void print(std::FILE* file, const std::string& line)
{
    sigset_t pipe;
    sigset_t old;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, &old);  // the signal waits here...
    std::fwrite(line.data(), 1, line.size(), file);
    std::fflush(file);
    std::clearerr(file);
    timespec now{};  // ...and is taken, if the write raised it
    while (sigtimedwait(&pipe, nullptr, &now) == SIGPIPE) {
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

std::string program_name(const char* argv0)
{
    std::string name = argv0 != nullptr ? argv0 : "chatserver";
    return name.substr(name.find_last_of('/') + 1);
}

void log_listening(const char* argv0, std::uint16_t port)
{
    log("{}: listening on port {}", program_name(argv0), port);
}

int fail(const char* argv0, const std::exception& error)
{
    print(stderr, fmt::format("{}: {}\n", program_name(argv0), error.what()));
    return dynamic_cast<const UsageError*>(&error) != nullptr ? 2 : 1;
}

}  // namespace net
