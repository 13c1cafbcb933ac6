// peer_asio: asio's chat-server design, as a peer in the benchmark (not a
// stage). One thread runs an io_context; each session reads lines with
// async_read_until('\n') and delivers every line to the other sessions'
// write queues; a session writes its queue one message at a time with
// async_write, as asio's own chat_server example does. No back-pressure:
// a client that does not read makes its queue grow.
// Usage: peer_asio [port]   (loopback only; port 0: any)
#include "log.hpp"
#include "socket.hpp"

#include <asio.hpp>
#include <deque>
#include <memory>
#include <set>
#include <string>
#include <utility>

namespace {

using asio::ip::tcp;

class Session;
using Room = std::set<std::shared_ptr<Session>>;

class Session : public std::enable_shared_from_this<Session> {
public:
    Session(tcp::socket socket, Room& room)
        : socket_(std::move(socket)), room_(room)
    {
    }

    void start()
    {
        room_.insert(shared_from_this());
        read_line();
    }

    void deliver(const std::string& line)
    {
        bool idle = queue_.empty();
        queue_.push_back(line);
        if (idle)
            write_next();
    }

private:
    void read_line()
    {
        auto self = shared_from_this();
        asio::async_read_until(
            socket_, asio::dynamic_buffer(in_), '\n',
            [this, self](std::error_code error, std::size_t length) {
                if (error) {
                    room_.erase(self);
                    return;
                }
                std::string line = in_.substr(0, length);
                in_.erase(0, length);
                for (const auto& other : room_)
                    if (other != self)
                        other->deliver(line);
                read_line();
            });
    }

    void write_next()
    {
        auto self = shared_from_this();
        asio::async_write(socket_, asio::buffer(queue_.front()),
                          [this, self](std::error_code error, std::size_t) {
                              if (error) {
                                  room_.erase(self);
                                  return;
                              }
                              queue_.pop_front();
                              if (!queue_.empty())
                                  write_next();
                          });
    }

    tcp::socket socket_;
    Room& room_;
    std::string in_;
    std::deque<std::string> queue_;
};

void accept_next(tcp::acceptor& acceptor, Room& room)
{
    acceptor.async_accept([&](std::error_code error, tcp::socket socket) {
        if (!error)
            std::make_shared<Session>(std::move(socket), room)->start();
        accept_next(acceptor, room);
    });
}

}  // namespace

int main(int argc, char* argv[])
{
    try {
        std::uint16_t port = net::port_from_args(argc, argv);
        asio::io_context io;
        tcp::acceptor acceptor(
            io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
        net::log_listening(argv[0], acceptor.local_endpoint().port());
        Room room;
        accept_next(acceptor, room);
        io.run();
    } catch (const std::exception& e) {
        return net::fail(argv[0], e);
    }
}
