// baseline_server: the benchmark's yardstick, a single-threaded epoll
// broadcast server (not a stage: no thread per client, nothing to diff).
// Each line a client sends goes to every other client as "ADDR: line\r\n",
// as in chatserver5; with --echo, each line goes back to its sender only,
// as in chatserver3. Every client has an output buffer; whatever one read
// brought in goes out in one write per recipient, and a socket that is full
// is watched for EPOLLOUT. Back-pressure: while a client is more than
// 256 KiB behind, the server stops reading from whoever sent to it, as
// stage 5's blocking write does; a client that takes no byte for 5 s (or
// falls 4 MiB behind) is cut off, as in the chat room.
// With --chatroom, it speaks the chat room's protocol (docs/chatroom.md:
// ADD, MESSAGE, PRIVATE, WHO, QUIT; NEW, MEMBERS, LEFT, GOODBYE, ERROR), so
// the chat room is measured against its own limit; it leaves out what only
// people at a keyboard need (the pause that ends a line with no "\n", the
// escaping of control characters).
// Usage: baseline_server [--echo|--chatroom] [port]   (loopback; 0: any)
#include "chatroom_protocol.hpp"
#include "log.hpp"
#include "socket.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string>
#include <string_view>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <system_error>
#include <unistd.h>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace {

constexpr std::size_t max_line = 4096;          // as net::LineReader's default
constexpr std::size_t high_water = 256 << 10;   // then senders wait
constexpr std::size_t out_limit = 4 << 20;      // then a client is cut off
constexpr std::chrono::seconds stall_limit{5};  // ...or if it takes nothing
constexpr std::size_t read_chunk = 64 << 10;    // one read takes up to this

[[noreturn]] void throw_errno(const std::string& what)
{
    throw std::system_error(errno, std::generic_category(), what);
}

struct Client {
    int fd = -1;
    std::string peer;
    std::string in;   // received, not yet a whole line
    std::string out;  // to send; out_sent bytes of it are gone already
    std::size_t out_sent = 0;
    std::uint32_t watching = 0;  // the events registered with epoll
    bool reading = true;         // false while paused by back-pressure
    bool closing = false;
    std::chrono::steady_clock::time_point progress;  // last byte it took
    std::string name;        // --chatroom: empty until ADD
    std::string private_to;  // --chatroom: PRIVATE's recipient, text next

    std::size_t pending() const { return out.size() - out_sent; }
};

class Server {
public:
    Server(std::uint16_t port, bool echo, bool chatroom)
        : echo_(echo), chatroom_(chatroom)
    {
        listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (listen_fd_ < 0)
            throw_errno("socket");
        int on = 1;
        setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        address.sin_port = htons(port);
        socklen_t length = sizeof address;
        if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), length) <
                0 ||
            ::listen(listen_fd_, SOMAXCONN) < 0 ||
            ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address),
                          &length) < 0)
            throw_errno(fmt::format("cannot listen on port {}", port));
        port_ = ntohs(address.sin_port);
        epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
        if (epoll_fd_ < 0)
            throw_errno("epoll_create1");
        watch(listen_fd_, EPOLLIN, EPOLL_CTL_ADD);
    }

    std::uint16_t port() const noexcept { return port_; }

    void run()
    {
        std::vector<epoll_event> events(1024);
        for (;;) {
            int timeout = !dirty_.empty()   ? 0  // LEFT lines of a cut-off
                          : accept_paused_  ? 100
                          : behind_.empty() ? -1
                                            : 500;
            int n = ::epoll_wait(epoll_fd_, events.data(),
                                 static_cast<int>(events.size()), timeout);
            if (n < 0 && errno != EINTR)
                throw_errno("epoll_wait");
            if (accept_paused_ &&
                std::chrono::steady_clock::now() >= accept_resume_) {
                accept_paused_ = false;  // descriptors may have freed up
                watch(listen_fd_, EPOLLIN, EPOLL_CTL_MOD);
            }
            for (int i = 0; i < n; ++i) {
                int fd = events[i].data.fd;
                if (fd == listen_fd_) {
                    accept_all();
                    continue;
                }
                auto found = clients_.find(fd);
                if (found == clients_.end())
                    continue;  // closed earlier in this round
                if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                    read_from(found->second);
                if (events[i].events & EPOLLOUT)
                    dirty_.insert(fd);
            }
            flush_dirty();  // one write per client for all of this round
            cut_off_stalled();
            if (behind_.empty())
                resume_senders();
        }
    }

private:
    void watch(int fd, std::uint32_t what, int op)
    {
        epoll_event event{};
        event.events = what;
        event.data.fd = fd;
        if (::epoll_ctl(epoll_fd_, op, fd, &event) < 0)
            throw_errno("epoll_ctl");
    }

    void accept_all()
    {
        for (int i = 0; i < 1024; ++i) {  // bounded: others get a turn
            sockaddr_in address{};
            socklen_t length = sizeof address;
            int fd =
                ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&address),
                          &length, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) {
                if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
                    errno == ENOMEM) {  // back off for 100 ms, then retry
                    accept_paused_ = true;
                    accept_resume_ = std::chrono::steady_clock::now() +
                                     std::chrono::milliseconds(100);
                    watch(listen_fd_, 0, EPOLL_CTL_MOD);
                }
                return;  // EAGAIN: nobody else waiting; others: try later
            }
            int on = 1;  // no Nagle delay, as common/listener.cpp
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
            char text[INET_ADDRSTRLEN] = "?";
            inet_ntop(AF_INET, &address.sin_addr, text, sizeof text);
            Client& client = clients_[fd];
            client.fd = fd;
            client.peer = fmt::format("{}:{}", text, ntohs(address.sin_port));
            client.watching = EPOLLIN;
            watch(fd, EPOLLIN, EPOLL_CTL_ADD);
        }
    }

    void read_from(Client& client)
    {
        char chunk[read_chunk];
        ssize_t n = ::read(client.fd, chunk, sizeof chunk);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n <= 0) {
            close_client(client.fd);
            return;
        }
        client.in.append(chunk, static_cast<std::size_t>(n));
        std::string batch;  // every whole line of this read, framed
        std::size_t start = 0;
        bool goodbye = false;
        for (;;) {
            std::size_t end = client.in.find('\n', start);
            if (end == std::string::npos) {
                if (client.in.size() - start > max_line) {  // cut, as stages
                    end = start + max_line;
                } else {
                    break;
                }
            }
            std::size_t next = end < client.in.size() && client.in[end] == '\n'
                                   ? end + 1
                                   : end;
            std::size_t length = end - start;
            if (length > 0 && client.in[end - 1] == '\r' && next > end)
                --length;
            std::string_view line(client.in.data() + start, length);
            start = next;
            if (line.empty() && !chatroom_) {  // blank line: goodbye
                goodbye = true;
                break;
            }
            if (chatroom_) {
                if (!command(client, line))
                    return;  // QUIT: it is gone
                continue;
            }
            if (!echo_)
                batch.append(client.peer).append(": ");
            batch.append(line).append("\r\n");
        }
        client.in.erase(0, start);
        int sender = client.fd;
        if (echo_) {
            queue(client, batch);
        } else if (!batch.empty()) {
            for (auto& [fd, other] : clients_)
                if (fd != sender)
                    queue(other, batch);
        }
        if (goodbye) {
            close_client(sender);
        } else if (!behind_.empty()) {  // someone is far behind: wait
            client.reading = false;
            paused_.push_back(sender);
            update_watch(client);
        }
    }

    // One line of the chat room's protocol; false if the client has gone.
    bool command(Client& client, std::string_view line)
    {
        if (!client.private_to.empty()) {  // the text of a PRIVATE
            std::string to = std::exchange(client.private_to, {});
            auto found = names_.find(to);
            if (found == names_.end())
                queue(client, "ERROR no one named " + to + "\n");
            else if (!line.empty())
                queue(clients_[found->second], "PRIVATE " + client.name + "\n" +
                                                   std::string(line) + "\n");
            return true;
        }
        if (line.empty())
            return true;  // Enter pressed on nothing
        chat::Command command = chat::parse_command(line);  // the room's own
        const std::string& argument = command.argument;
        if (command.verb == chat::Verb::quit) {
            queue(client, "GOODBYE\n");
            flush(client);
            close_client(client.fd);
            return false;
        } else if (command.verb == chat::Verb::add && client.name.empty()) {
            if (argument.empty() || names_.count(argument) > 0) {
                queue(client, "ERROR name taken: " + argument + "\n");
                return true;
            }
            client.name = argument;
            names_[argument] = client.fd;
            to_all("NEW " + argument + "\n");
            queue(client, "MEMBERS " + members() + "\n");
        } else if (client.name.empty()) {
            queue(client, "ERROR join first: ADD <name>\n");
        } else if (command.verb == chat::Verb::message && !argument.empty()) {
            to_all("MESSAGE " + client.name + "\n" + argument + "\n");
        } else if (command.verb == chat::Verb::private_message &&
                   !argument.empty()) {
            client.private_to = argument;
        } else if (command.verb == chat::Verb::who) {
            queue(client, "MEMBERS " + members() + "\n");
        } else {
            queue(client, "ERROR unknown command: " + command.word + "\n");
        }
        return true;
    }

    void to_all(const std::string& text)
    {
        for (auto& [name, fd] : names_)
            queue(clients_[fd], text);
    }

    std::string members() const  // at most chat::max_listed, then "+N"
    {
        std::string list;
        std::size_t listed = 0;
        for (auto& [name, fd] : names_) {
            if (listed++ == chat::max_listed)
                return list + " +" +
                       std::to_string(names_.size() - chat::max_listed);
            list += (list.empty() ? "" : " ") + name;
        }
        return list;
    }

    void update_watch(Client& client)
    {
        std::uint32_t want = (client.reading ? EPOLLIN : 0u) |
                             (client.pending() > 0 ? EPOLLOUT : 0u);
        if (want != client.watching) {
            client.watching = want;
            watch(client.fd, want, EPOLL_CTL_MOD);
        }
    }

    void resume_senders()
    {
        for (int fd : paused_) {
            auto found = clients_.find(fd);
            if (found != clients_.end()) {
                found->second.reading = true;
                update_watch(found->second);
            }
        }
        paused_.clear();
    }

    void cut_off_stalled()
    {
        auto now = std::chrono::steady_clock::now();
        std::vector<int> stalled;
        for (int fd : behind_) {
            auto found = clients_.find(fd);
            if (found != clients_.end() &&
                now - found->second.progress > stall_limit)
                stalled.push_back(fd);
        }
        for (int fd : stalled)
            close_client(fd);
    }

    void queue(Client& client, std::string_view bytes)
    {
        if (bytes.empty() || client.closing)
            return;
        if (client.pending() + bytes.size() > out_limit) {
            client.closing = true;  // too far behind: cut off
            dirty_.insert(client.fd);
            return;
        }
        if (client.pending() == 0)
            client.progress = std::chrono::steady_clock::now();
        client.out.append(bytes);
        if (client.pending() > high_water)
            behind_.insert(client.fd);
        dirty_.insert(client.fd);
    }

    void flush_dirty()
    {
        std::vector<int> dirty(dirty_.begin(), dirty_.end());
        dirty_.clear();
        for (int fd : dirty) {
            auto found = clients_.find(fd);
            if (found != clients_.end())
                flush(found->second);
        }
    }

    void flush(Client& client)
    {
        if (client.closing) {
            close_client(client.fd);
            return;
        }
        while (client.out_sent < client.out.size()) {
            ssize_t n = ::send(client.fd, client.out.data() + client.out_sent,
                               client.out.size() - client.out_sent,
                               MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0) {
                client.out_sent += static_cast<std::size_t>(n);
                client.progress = std::chrono::steady_clock::now();
            } else if (n < 0 && errno == EINTR) {
                continue;
            } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                break;
            } else {
                close_client(client.fd);  // the peer is gone
                return;
            }
        }
        bool pending = client.out_sent < client.out.size();
        if (!pending) {
            client.out.clear();
            client.out_sent = 0;
        } else if (client.out_sent > high_water) {
            client.out.erase(0, client.out_sent);  // keep the buffer small
            client.out_sent = 0;
        }
        if (client.pending() <= high_water)
            behind_.erase(client.fd);
        update_watch(client);
    }

    void close_client(int fd)
    {
        ::close(fd);  // also takes it out of the epoll set
        auto found = clients_.find(fd);
        std::string name = found != clients_.end() ? found->second.name : "";
        clients_.erase(fd);
        if (!name.empty()) {
            names_.erase(name);
            to_all("LEFT " + name + "\n");
        }
        dirty_.erase(fd);
        behind_.erase(fd);
    }

    bool echo_;
    bool chatroom_;
    std::map<std::string, int> names_;  // --chatroom: who joined, sorted
    int listen_fd_ = -1;
    int epoll_fd_ = -1;
    std::uint16_t port_ = 0;
    bool accept_paused_ = false;
    std::chrono::steady_clock::time_point accept_resume_;
    std::unordered_map<int, Client> clients_;
    std::unordered_set<int> dirty_;   // clients with something to send
    std::unordered_set<int> behind_;  // clients more than high_water behind
    std::vector<int> paused_;         // senders not read until none is
};

}  // namespace

int main(int argc, char* argv[])
{
    try {
        bool echo = argc > 1 && std::strcmp(argv[1], "--echo") == 0;
        bool chatroom = argc > 1 && std::strcmp(argv[1], "--chatroom") == 0;
        if (echo || chatroom) {  // drop the flag, keep argv[0] for messages
            argv[1] = argv[0];
            --argc;
            ++argv;
        }
        rlimit limit{};
        if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) {
            limit.rlim_cur = limit.rlim_max;  // as many clients as allowed
            ::setrlimit(RLIMIT_NOFILE, &limit);
        }
        Server server(net::port_from_args(argc, argv), echo, chatroom);
        net::log("{}: listening on port {}", net::program_name(argv[0]),
                 server.port());
        server.run();
    } catch (const std::exception& e) {
        return net::fail(argv[0], e);
    }
}
