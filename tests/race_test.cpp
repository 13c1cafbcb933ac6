// Built into stage_test only in the ThreadSanitizer build: the lecture's
// exercise 5 says stage 4's client list is a data race and stage 5's lock
// fixes it. Both halves are checked here, so the lesson cannot rot.
#include "client.hpp"
#include "process.hpp"

#include <gtest/gtest.h>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using test::Client;
using test::Server;

// Clients arrive together, talk, and half of them leave: every thread of
// the server joins, broadcasts and leaves while the others do the same.
// Returns the clients still connected, or nothing if the server lost track
// of a client (as stage 4 may: that is its race).
std::optional<std::vector<Client>>
crowd(Server& server, test::milliseconds patience = test::event_timeout)
{
    std::vector<Client> clients;
    std::vector<Client> stayed;
    bool ok = true;
    try {
        for (int i = 0; i < 8; ++i)
            clients.emplace_back(server.port());
        for (size_t i = 0; i < clients.size(); ++i)
            clients[i].send_line("hello from " + std::to_string(i));
        for (Client& client : clients)
            ok = ok && server.saw_connected(client.address(), patience);
        for (size_t i = 0; i < clients.size(); ++i)
            if (i % 2 == 0)
                clients[i].send_line("");
            else
                stayed.push_back(std::move(clients[i]));
        for (size_t i = 0; i < clients.size(); i += 2)
            ok = ok && server.saw_disconnected(clients[i].address(), patience);
    } catch (const std::runtime_error&) {
        ok = false;  // a send failed: stage 4 may crash of its race
    }
    if (!ok)
        return std::nullopt;
    return stayed;
}

TEST(Race, ThreadSanitizerFindsTheDataRaceInStage4)
{
    Server server("chatserver4");
    server.expect_sanitizer_report();
    crowd(server, test::seconds(2));  // it may lose a client: no matter
    const std::string report = server.error_output();
    EXPECT_NE(report.find("WARNING: ThreadSanitizer: data race"),
              std::string::npos)
        << "stage 4 is meant to race, and TSan saw nothing:\n"
        << report;
    EXPECT_NE(report.find("chatserver4.cpp:"), std::string::npos) << report;
}

TEST(Race, Stage5HasNoRace)
{
    Server server("chatserver5");
    auto crowded = crowd(server);
    ASSERT_TRUE(crowded.has_value());
    std::vector<Client>& stayed = *crowded;
    stayed[0].send_line("who is still here?");
    for (size_t i = 1; i < stayed.size(); ++i)
        EXPECT_TRUE(stayed[i].skip_to_line_ending(": who is still here?"));
    EXPECT_EQ(server.sanitizer_report(), "");
}

}  // namespace
