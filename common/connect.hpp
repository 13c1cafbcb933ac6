// Connecting to a server: the client's side of Listener.
#pragma once

#include "socket.hpp"

#include <cstdint>
#include <string>

namespace net {

// Connects to `host` ("localhost", "127.0.0.1", "::1", a name) on `port`,
// trying each address it has. Throws std::system_error if none answers:
// "cannot connect to localhost port 8888: Connection refused".
Socket connect_to(const std::string& host, std::uint16_t port);

}  // namespace net
