#include "log.hpp"

namespace net {

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
    fmt::print(stderr, "{}: {}\n", program_name(argv0), error.what());
    return dynamic_cast<const UsageError*>(&error) != nullptr ? 2 : 1;
}

}  // namespace net
