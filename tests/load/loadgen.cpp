// loadgen: the benchmark's load generator. One thread, epoll, non-blocking
// sockets, to 127.0.0.1 only. It plays one scenario against one server and
// prints the figures as one JSON object on stdout (scripts/bench makes the
// table). Every loop is bounded in count and in time (--timeout).
//
// Usage: loadgen --port P --scenario fanout|paced|slow|storm|capacity
//                [--mode broadcast|echo|chatroom] [--clients N]
//                [--senders S] [--lines L] [--size B] [--rate R]
//                [--pid PID] [--threads-per-client K] [--timeout SEC]
//                [--settle SEC]
//   fanout:   N clients; S of them send L lines of B bytes (at R lines/s
//             each, or as fast as the server takes them when R is 0);
//             lines/s delivered, latency send to receipt (paced: from when
//             the line was due), lines lost, duplicated and reordered.
//   paced:    fanout at a moderate --rate (scripts/bench: 100 lines/s).
//   slow:     fanout plus one more client that never reads.
//   storm:    N clients connect at once, then one broadcast: how many get it.
//   capacity: N clients connect (500 at a time) and idle, then one
//             broadcast: how many get it; the server's RSS and threads.
//   --pid: the server's pid, for /proc/PID/status (VmRSS, Threads);
//   --threads-per-client: what the server starts per client (stages 1, the
//             chat room 2, the baseline 0), to know when all have joined;
//   --settle: how long to wait for that at most (default 30 s).
// In the chat room only clients that joined (saw their own NEW) count.
// A bad option is a one-line error on stderr and exit status 2; the JSON
// says "incomplete" when a loop was cut short by --timeout or its bound.
#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fmt/core.h>
#include <fstream>
#include <iterator>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Every loop stops at its condition, at a time limit, or after this many
// rounds; the last means something is wrong (the run is "incomplete").
constexpr long max_rounds = 100'000'000;
constexpr int connect_batch = 500;  // capacity: connections opening at once
constexpr int max_events = 512;     // per epoll_wait
constexpr std::size_t read_chunk = 64 << 10;
constexpr std::size_t max_partial_line = 1 << 20;  // then it is garbage
constexpr int lines_per_batch = 32;                // lines made per send
constexpr int batches_per_feed = 8;                // sends per sender per round
constexpr int sends_per_flush = 64;                // send calls per flush
constexpr long max_latencies = 20'000'000;
constexpr milliseconds idle_wait{50};  // when no sender can send
constexpr int max_clients = 100000;
constexpr int min_size = 48;  // "#L SENDER SEQ STAMP " and " SENDER.SEQ"
constexpr int max_size = 4000;
constexpr int max_chatroom_size = 512 - 8;     // "MESSAGE " + text <= 512
constexpr double max_tracked_lines = 1 << 30;  // bits: 128 MiB
constexpr rlim_t spare_descriptors = 16;       // epoll, stdio, /proc
constexpr milliseconds settle_extra{300};      // after everyone settled
constexpr milliseconds settle_check{100};      // /proc and joins, at most
constexpr milliseconds probe_limit{20000};     // a probe waits at most
constexpr milliseconds probe_idle{5000};       // or this long with no bytes
constexpr milliseconds stall_limit{8000};      // longer than a server's 5 s
                                               // cut-off of a lazy client

enum class Mode { broadcast, echo, chatroom };

struct Options {
    std::uint16_t port = 0;
    std::string scenario = "fanout";
    Mode mode = Mode::broadcast;
    std::string mode_name = "broadcast";
    int clients = 100;
    int senders = 10;
    int lines = 5000;
    int size = 100;
    double rate = 0;  // lines per second per sender; 0: as fast as possible
    int pid = 0;
    int threads_per_client = 1;
    double timeout = 120;
    double settle = 30;  // at most this long for every client to join
};

struct Conn {
    int fd = -1;
    bool connected = false;
    bool failed = false;
    bool reads = true;     // false: the slow consumer, which never reads
    bool blocked = false;  // a sender whose socket is full: EPOLLOUT
    bool joined = false;   // chat room: saw its own NEW
    bool got_probe = false;
    bool probe_target = false;  // a member, not the probe's sender
    bool broken = false;        // a send failed: the server closed it
    int sender = -1;            // 0..S-1 for senders
    int reader = -1;  // 0..R-1 for the clients whose receipts are counted
    int sent = 0;     // lines generated so far
    std::string name;
    std::string in;
    std::string out;
    std::size_t out_sent = 0;
};

std::int64_t now_ns()
{
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               clock_type::now().time_since_epoch())
        .count();
}

// VmRSS (KiB) and Threads of a process, from /proc/PID/status.
struct ProcStatus {
    long rss_kib = -1;
    long threads = -1;
};

ProcStatus read_status(int pid)
{
    ProcStatus status;
    if (pid <= 0)
        return status;
    std::ifstream file(fmt::format("/proc/{}/status", pid));
    std::string key;
    for (int i = 0; i < 100 && file >> key; ++i) {  // ~60 lines in all
        if (key == "VmRSS:")
            file >> status.rss_kib;
        else if (key == "Threads:")
            file >> status.threads;
        std::string rest;
        std::getline(file, rest);
    }
    return status;
}

// The numbers of a line made by a sender: "#L SENDER SEQ STAMP x...x
// SENDER.SEQ", --size bytes from "#L" on. The end repeats the numbers, so
// a line whose head and tail come from two lines is seen as not whole.
struct Marked {
    int sender = 0;
    int seq = 0;
    std::int64_t stamp = 0;  // ns, steady clock
};

// The end of line SEQ of SENDER: " SENDER.SEQ".
std::string trailer(int sender, int seq)
{
    return fmt::format(" {}.{}", sender, seq);
}

// Whether `text` ends with trailer(sender, seq), without allocating: it
// runs once per received line.
bool ends_with_trailer(std::string_view text, int sender, int seq)
{
    auto take = [&text](int value, char before) {
        do {  // the digits of value, last first
            if (text.empty() || text.back() != '0' + value % 10)
                return false;
            text.remove_suffix(1);
            value /= 10;
        } while (value > 0);
        if (text.empty() || text.back() != before)
            return false;
        text.remove_suffix(1);
        return true;
    };
    return sender >= 0 && seq >= 0 && take(seq, '.') && take(sender, ' ');
}

// Reads "SENDER SEQ STAMP " (each number followed by a space), no copies.
std::optional<Marked> parse_marked(std::string_view text)
{
    const char* p = text.data();
    const char* end = p + text.size();
    auto number = [&](auto& value) {
        auto [next, error] = std::from_chars(p, end, value);
        if (error != std::errc() || next == end || *next != ' ')
            return false;
        p = next + 1;
        return true;
    };
    Marked m;
    if (!number(m.sender) || !number(m.seq) || !number(m.stamp))
        return std::nullopt;
    return m;
}

class LoadGen {
public:
    explicit LoadGen(const Options& options) : o_(options)
    {
        epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
        if (epoll_fd_ < 0)
            throw std::runtime_error("epoll_create1 failed");
        deadline_ = clock_type::now() +
                    milliseconds(static_cast<long>(o_.timeout * 1000));
    }

    ~LoadGen()
    {
        for (Conn& c : conns_)
            if (c.fd >= 0)
                ::close(c.fd);
        ::close(epoll_fd_);
    }
    LoadGen(const LoadGen&) = delete;
    LoadGen& operator=(const LoadGen&) = delete;

    std::string run()
    {
        ProcStatus before = read_status(o_.pid);
        bool slow = o_.scenario == "slow";
        bool fan = o_.scenario == "fanout" || o_.scenario == "paced" || slow;
        int total = o_.clients + (slow ? 1 : 0);
        int in_flight = o_.scenario == "capacity" ? connect_batch : total;
        connect_all(total, in_flight);
        if (slow) {
            conns_.back().reads = false;  // joins, then never reads
            if (conns_.back().connected)
                watch(conns_.back(), EPOLL_CTL_MOD);
        }
        settle();
        ProcStatus after = read_status(o_.pid);
        std::string result = fmt::format(
            R"("scenario": "{}", "mode": "{}", "clients": {}, )"
            R"("connected": {}, "joined": {}, "connect_seconds": {:.3f}, )"
            R"("settle_seconds": {:.3f}, "settled": {}, )",
            o_.scenario, o_.mode_name, total, connected_, joined_,
            connect_seconds_, settle_seconds_, settled_);
        if (fan) {
            result += fan_out();
        } else {
            result += probe();
        }
        long per_conn = -1;
        if (before.rss_kib >= 0 && after.rss_kib >= 0 && connected_ > 0)
            per_conn = (after.rss_kib - before.rss_kib) * 1024 / connected_;
        result += fmt::format(
            R"(, "rss_kib_before": {}, "rss_kib": {}, )"
            R"("rss_bytes_per_conn": {}, "threads": {}, "errors": {}, )"
            R"("lazy_closed": {}, "incomplete": {}, "incomplete_in": "{}")",
            before.rss_kib, after.rss_kib, per_conn, after.threads, errors_,
            lazy_closed_, !incomplete_.empty(), incomplete_);
        return "{" + result + "}";
    }

private:
    bool out_of_time() const { return clock_type::now() >= deadline_; }

    void watch(Conn& c, int op)
    {
        epoll_event event{};
        event.events = (c.reads ? EPOLLIN : 0u) |
                       (!c.connected || c.blocked ? EPOLLOUT : 0u);
        event.data.u32 = static_cast<std::uint32_t>(&c - conns_.data());
        if (::epoll_ctl(epoll_fd_, op, c.fd, &event) < 0)
            ++errors_;
    }

    // Opens `total` connections, at most `in_flight` unfinished at a time.
    void connect_all(int total, int in_flight)
    {
        auto start = clock_type::now();
        conns_.resize(static_cast<std::size_t>(total));
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        address.sin_port = htons(o_.port);
        int opened = 0;
        int pending = 0;
        loop("connect", deadline_, [&] {
            while (opened < total && pending < in_flight) {
                Conn& c = conns_[static_cast<std::size_t>(opened)];
                c.name = fmt::format("c{}", opened);
                ++opened;
                c.fd = ::socket(AF_INET,
                                SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
                if (c.fd < 0) {
                    c.failed = true;
                    ++errors_;
                    continue;
                }
                // A line goes out when it is made (paced: when due), not
                // when Nagle's algorithm lets it: that delay is ours.
                int on = 1;
                ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
                int r = ::connect(c.fd, reinterpret_cast<sockaddr*>(&address),
                                  sizeof address);
                if (r < 0 && errno != EINPROGRESS) {
                    c.failed = true;
                    ++errors_;
                    continue;
                }
                ++pending;
                watch(c, EPOLL_CTL_ADD);
            }
            if (pending == 0 && opened == total)
                return true;
            pending -= pump(milliseconds(10));
            return false;
        });
        connect_seconds_ = seconds_since(start);
    }

    static double seconds_since(clock_type::time_point start)
    {
        return std::chrono::duration<double>(clock_type::now() - start).count();
    }

    // Calls step() until it returns true (true), `limit` passes (false),
    // the run's --timeout passes or max_rounds rounds end (false, and the
    // run is marked incomplete: the loop `what` did not finish).
    template <typename Step>
    bool loop(const char* what, clock_type::time_point limit, Step step)
    {
        for (long i = 0; i < max_rounds; ++i) {
            if (out_of_time())
                break;
            if (clock_type::now() >= limit)
                return false;
            if (step())
                return true;
        }
        if (incomplete_.empty())
            incomplete_ = what;
        return false;
    }

    // Waits until the server has a thread for each client (and, in the
    // chat room, each has joined), then a little more, all bounded.
    void settle()
    {
        auto start = clock_type::now();
        auto limit = start + milliseconds(static_cast<long>(o_.settle * 1000));
        long want = 1 + static_cast<long>(o_.threads_per_client) * connected_;
        auto next_check = start;
        settled_ = loop("settle", limit, [&] {
            if (clock_type::now() < next_check) {
                pump(milliseconds(20));
                return false;
            }
            next_check = clock_type::now() + settle_check;
            bool threads_ok = o_.pid <= 0 || o_.threads_per_client == 0;
            if (!threads_ok) {
                ProcStatus status = read_status(o_.pid);
                threads_ok = status.threads < 0 || status.threads >= want;
            }
            bool joined_ok = true;
            for (const Conn& c : conns_)
                if (o_.mode == Mode::chatroom && c.connected && c.reads &&
                    !c.joined)
                    joined_ok = false;
            return threads_ok && joined_ok;
        });
        settle_seconds_ = seconds_since(start);
        loop("settle", clock_type::now() + settle_extra, [&] {
            pump(milliseconds(20));
            return false;
        });
    }

    std::string_view payload_prefix() const
    {
        return o_.mode == Mode::chatroom ? "MESSAGE " : "";
    }

    // Whether c takes part: connected, reading and, in the chat room,
    // joined (the room sends nothing to a client that has not).
    bool member(const Conn& c) const
    {
        return c.connected && c.reads && c.fd >= 0 &&
               (o_.mode != Mode::chatroom || c.joined);
    }

    // One line from the first member, then: how many of the others get it.
    std::string probe()
    {
        auto from = std::find_if(conns_.begin(), conns_.end(),
                                 [&](const Conn& c) { return member(c); });
        int want = 0;
        for (auto it = conns_.begin(); it != conns_.end(); ++it) {
            it->probe_target = it != from && member(*it);
            want += it->probe_target ? 1 : 0;
        }
        auto start = clock_type::now();
        if (from != conns_.end()) {
            probe_from_ = &*from;
            from->out = std::string(payload_prefix()) + "#P probe\n";
            from->out_sent = 0;
            flush(*from);
        }
        auto last_progress = start;
        auto last_reach = start;
        long bytes = bytes_received_;
        int reached = 0;
        loop("probe", start + probe_limit, [&] {
            if (reached >= want)
                return true;
            pump(milliseconds(20));
            auto now = clock_type::now();
            if (probe_reached_ != reached)
                last_reach = now;
            if (bytes_received_ != bytes)  // any bytes at all: still busy
                last_progress = now;
            reached = probe_reached_;
            bytes = bytes_received_;
            return now - last_progress > probe_idle;
        });
        return fmt::format(
            R"("reached": {}, "reach_of": {}, "probe_sent": {}, )"
            R"("probe_seconds": {:.3f}, "probe_reach_seconds": {:.3f})",
            reached, want, probe_from_ != nullptr, seconds_since(start),
            std::chrono::duration<double>(last_reach - start).count());
    }

    // Senders send; everyone counts what arrives, and how late.
    std::string fan_out()
    {
        int readers = 0;
        for (Conn& c : conns_)
            if (member(c))
                c.reader = readers++;
        int senders = 0;
        for (std::size_t i = 0; i < conns_.size() && senders < o_.senders; ++i)
            if (conns_[i].reader >= 0) {
                conns_[i].sender = senders++;
                sender_conn_.push_back(&conns_[i]);
            }
        auto pairs = static_cast<std::size_t>(readers) *
                     static_cast<std::size_t>(senders);
        next_seq_.assign(pairs, 0);
        seen_.assign((pairs * static_cast<std::size_t>(o_.lines) + 63) / 64, 0);
        long per_line = o_.mode == Mode::echo       ? 1
                        : o_.mode == Mode::chatroom ? readers
                                                    : std::max(readers - 1, 0);
        long expected = static_cast<long>(senders) * o_.lines * per_line;
        latencies_.reserve(
            static_cast<std::size_t>(std::min(expected, max_latencies)));
        start_ns_ = now_ns();
        auto start = clock_type::now();
        auto last_progress = start;
        auto last_receipt = start;
        long seen = 0;
        bool stalled = false;
        bool done = loop("fan-out", deadline_, [&] {
            pump(feed_senders());
            if (received_ != seen) {
                seen = received_;
                last_progress = last_receipt = clock_type::now();
            }
            if (received_ >= expected)
                return true;
            stalled = clock_type::now() - last_progress > stall_limit;
            return stalled;
        });
        stalled = stalled || !done;
        double seconds =
            std::chrono::duration<double>(
                (stalled ? clock_type::now() : last_receipt) - start)
                .count();
        // Until the last line arrived: a server that loses lines (and so
        // stalls the run) is not also charged the 8 s spent waiting.
        double flowing =
            std::chrono::duration<double>(last_receipt - start).count();
        auto percentile = [&](double p) -> double {
            if (latencies_.empty())
                return -1;
            auto k = static_cast<std::size_t>(
                p * static_cast<double>(latencies_.size() - 1));
            std::nth_element(latencies_.begin(),
                             latencies_.begin() + static_cast<long>(k),
                             latencies_.end());
            return static_cast<double>(latencies_[k]) / 1000.0;  // ms
        };
        double p50 = percentile(0.5);
        double p99 = percentile(0.99);
        double max = -1;
        if (!latencies_.empty())
            max = static_cast<double>(
                      *std::max_element(latencies_.begin(), latencies_.end())) /
                  1000.0;
        return fmt::format(
            R"("senders": {}, "lines": {}, "size": {}, "rate": {}, )"
            R"("readers": {}, "expected": {}, "received": {}, "lost": {}, )"
            R"("duplicated": {}, "unexpected": {}, "reordered": {}, )"
            R"("seconds": {:.3f}, "lines_per_s": {:.0f}, "stalled": {}, )"
            R"("flowing_lines_per_s": {:.0f}, )"
            R"("p50_ms": {:.3f}, "p99_ms": {:.3f}, "max_ms": {:.3f})",
            senders, o_.lines, o_.size, o_.rate, readers, expected, received_,
            expected - received_, duplicated_, unexpected_, reordered_, seconds,
            seconds > 0 ? static_cast<double>(received_) / seconds : 0,
            stalled ? "true" : "false",
            flowing > 0 ? static_cast<double>(received_) / flowing : 0, p50,
            p99, max);
    }

    // When line `seq` of sender `sender` is due in paced mode: the run's
    // start, staggered by sender/(S*rate) so the senders do not all send at
    // once, plus seq/rate. Its stamp is this time, not when it was made:
    // a line held back while the server does not read shows as late.
    std::int64_t scheduled_ns(int sender, int seq) const
    {
        double senders = static_cast<double>(sender_conn_.size());
        double at = (static_cast<double>(sender) / senders + seq) / o_.rate;
        return start_ns_ + static_cast<std::int64_t>(at * 1e9);
    }

    // Tops up each sender's output with the lines that are due (all of
    // them when not paced), timestamped, and sends. Returns how long to
    // wait for events: 0 if a sender could take more at once, else until
    // the next line is due (at most idle_wait).
    std::chrono::nanoseconds feed_senders()
    {
        bool paced = o_.rate > 0;
        std::int64_t now = now_ns();
        std::int64_t wake = now + std::chrono::nanoseconds(idle_wait).count();
        auto size = static_cast<std::size_t>(o_.size);
        for (Conn& c : conns_) {
            if (c.sender < 0 || c.blocked || c.broken)
                continue;
            for (int batch = 0; batch < batches_per_feed && !c.blocked;
                 ++batch) {
                if (c.out_sent < c.out.size())
                    flush(c);  // what the last flush's bound left
                if (c.out_sent < c.out.size() || c.sent >= o_.lines ||
                    (paced && scheduled_ns(c.sender, c.sent) > now))
                    break;
                c.out.clear();
                c.out_sent = 0;
                for (int k = 0; k < lines_per_batch && c.sent < o_.lines;
                     ++k, ++c.sent) {
                    std::int64_t stamp =
                        paced ? scheduled_ns(c.sender, c.sent) : now_ns();
                    if (stamp > now && paced)
                        break;  // not due yet
                    c.out.append(payload_prefix());
                    std::size_t text = c.out.size();
                    // fmt::format, not format_to: libfmt-dev's format_to
                    // into a std::string does not link with clang.
                    c.out +=
                        fmt::format("#L {} {} {} ", c.sender, c.sent, stamp);
                    std::string end = trailer(c.sender, c.sent);
                    c.out.resize(
                        std::max(c.out.size(), text + size - end.size()), 'x');
                    c.out += end;
                    c.out.push_back('\n');
                }
                flush(c);
            }
            if (c.blocked || c.broken)
                continue;  // EPOLLOUT wakes us
            if (c.out_sent < c.out.size())
                wake = now;
            else if (c.sent < o_.lines)
                wake = std::min(wake,
                                paced ? scheduled_ns(c.sender, c.sent) : now);
        }
        return std::chrono::nanoseconds(std::max<std::int64_t>(wake - now, 0));
    }

    void flush(Conn& c)
    {
        for (int i = 0; i < sends_per_flush && c.out_sent < c.out.size(); ++i) {
            ssize_t n =
                ::send(c.fd, c.out.data() + c.out_sent,
                       c.out.size() - c.out_sent, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0) {
                c.out_sent += static_cast<std::size_t>(n);
            } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                c.blocked = true;
                watch(c, EPOLL_CTL_MOD);
                return;
            } else if (!(n < 0 && errno == EINTR)) {
                ++errors_;  // the server closed it
                c.broken = true;
                c.out.clear();
                c.out_sent = 0;
                return;
            }
        }
    }

    // epoll_wait to the nanosecond where the kernel can (paced lines are
    // stamped with when they are due, so sending late would count).
    int wait(epoll_event* events, std::chrono::nanoseconds timeout)
    {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 35)
        if (have_pwait2_) {
            constexpr std::int64_t second = 1'000'000'000;
            timespec wait_for{static_cast<time_t>(timeout.count() / second),
                              static_cast<long>(timeout.count() % second)};
            int n = ::epoll_pwait2(epoll_fd_, events, max_events, &wait_for,
                                   nullptr);
            if (n >= 0 || errno != ENOSYS)
                return n;
            have_pwait2_ = false;  // an older kernel: whole milliseconds
        }
#endif
        auto ms = std::chrono::ceil<milliseconds>(timeout);
        return ::epoll_wait(epoll_fd_, events, max_events,
                            static_cast<int>(ms.count()));
    }

    // One epoll_wait and what it reports. Returns how many connections
    // finished connecting (or failed to) in it.
    int pump(std::chrono::nanoseconds timeout)
    {
        epoll_event events[max_events];
        int n = wait(events, timeout);
        int finished = 0;
        for (int i = 0; i < n; ++i) {
            Conn& c = conns_[events[i].data.u32];
            if (!c.connected && !c.failed) {
                int error = 0;
                socklen_t length = sizeof error;
                ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &error, &length);
                ++finished;
                if (error != 0) {
                    c.failed = true;
                    ++errors_;
                    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.fd, nullptr);
                    continue;
                }
                c.connected = true;
                ++connected_;
                watch(c, EPOLL_CTL_MOD);
                if (o_.mode == Mode::chatroom) {
                    c.out = "ADD " + c.name + "\n";
                    c.out_sent = 0;
                    flush(c);
                }
                continue;
            }
            if ((events[i].events & EPOLLOUT) && c.blocked) {
                c.blocked = false;
                watch(c, EPOLL_CTL_MOD);
                flush(c);
            }
            if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                read_from(c);
        }
        return finished;
    }

    void read_from(Conn& c)
    {
        if (!c.reads) {  // never reads: EPOLLHUP or EPOLLERR, it was cut off
            ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.fd, nullptr);
            ::close(c.fd);
            c.fd = -1;
            lazy_closed_ = true;
            return;
        }
        char chunk[read_chunk];
        ssize_t n = ::read(c.fd, chunk, sizeof chunk);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n <= 0) {  // the server closed it: stop watching
            ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.fd, nullptr);
            c.reads = false;
            ++errors_;
            return;
        }
        bytes_received_ += n;
        c.in.append(chunk, static_cast<std::size_t>(n));
        std::size_t start = 0;
        for (std::size_t end;
             (end = c.in.find('\n', start)) != std::string::npos;
             start = end + 1)
            on_line(c, std::string_view(c.in).substr(start, end - start));
        c.in.erase(0, start);
        if (c.in.size() > max_partial_line)
            c.in.clear();  // garbage with no line end: not ours
    }

    // Counts a sender's line at receiver c: once per (receiver, sender,
    // sequence number) that should get it, so received_ never exceeds
    // expected and lost (the difference) is never negative.
    void on_marked(const Conn& c, const Marked& m)
    {
        if (m.sender < 0 || m.sender >= static_cast<int>(sender_conn_.size()) ||
            m.seq < 0 || m.seq >= o_.lines) {
            ++errors_;  // not a line this run made
            return;
        }
        const Conn* from = sender_conn_[static_cast<std::size_t>(m.sender)];
        bool wanted =
            c.reader >= 0 && (o_.mode == Mode::chatroom ||
                              (o_.mode == Mode::echo) == (&c == from));
        if (!wanted) {  // broadcast: its own line; echo: someone else's
            ++duplicated_;
            ++unexpected_;
            return;
        }
        std::size_t pair =
            static_cast<std::size_t>(c.reader) * sender_conn_.size() +
            static_cast<std::size_t>(m.sender);
        std::size_t bit = pair * static_cast<std::size_t>(o_.lines) +
                          static_cast<std::size_t>(m.seq);
        std::uint64_t mask = std::uint64_t{1} << (bit % 64);
        if (seen_[bit / 64] & mask) {
            ++duplicated_;
            return;
        }
        seen_[bit / 64] |= mask;
        ++received_;
        int& next = next_seq_[pair];  // one past the highest seen so far
        if (m.seq < next)
            ++reordered_;  // it came after a later line of the same sender
        else
            next = m.seq + 1;  // skipped ones are lost, unless they come late
        if (latencies_.size() < latencies_.capacity())
            latencies_.push_back((now_ns() - m.stamp) / 1000);
    }

    void on_line(Conn& c, std::string_view line)
    {
        std::size_t at = line.find("#L ");
        if (at != std::string_view::npos) {
            std::string_view text = line.substr(at);
            if (!text.empty() && text.back() == '\r')
                text.remove_suffix(1);
            auto m = parse_marked(line.substr(at + 3));
            if (m && text.size() == static_cast<std::size_t>(o_.size) &&
                ends_with_trailer(text, m->sender, m->seq))
                on_marked(c, *m);
            else
                ++errors_;  // a mangled line, or pieces of two
            return;
        }
        if (line.find("#P probe") != std::string_view::npos) {
            if (!c.got_probe && c.probe_target)
                ++probe_reached_;
            c.got_probe = true;
        } else if (o_.mode == Mode::chatroom && !c.joined &&
                   line.substr(0, 4) == "NEW ") {
            std::string_view who = line.substr(4);
            if (!who.empty() && who.back() == '\r')
                who.remove_suffix(1);
            c.joined = who == c.name;
            joined_ += c.joined ? 1 : 0;
        }
    }

    Options o_;
    int epoll_fd_ = -1;
    clock_type::time_point deadline_;
    std::vector<Conn> conns_;
    int connected_ = 0;
    int joined_ = 0;  // chat room: clients that saw their own NEW
    double connect_seconds_ = 0;
    double settle_seconds_ = 0;
    bool settled_ = false;
    bool have_pwait2_ = true;
    bool lazy_closed_ = false;
    const Conn* probe_from_ = nullptr;
    int probe_reached_ = 0;    // others that got the probe
    long bytes_received_ = 0;  // by every client, all told  // the server hung
                               // up on the lazy client
    std::string incomplete_;   // the first loop cut short, if any
    long errors_ = 0;
    long received_ = 0;    // distinct lines at receivers that should get them
    long duplicated_ = 0;  // a second copy, or a line to a wrong receiver
    long unexpected_ = 0;  // of duplicated_: to a receiver that should not
    long reordered_ = 0;   // came after a later line of its sender
    std::vector<Conn*> sender_conn_;   // by sender number
    std::vector<int> next_seq_;        // by (reader, sender)
    std::vector<std::uint64_t> seen_;  // a bit per (reader, sender, seq)
    std::int64_t start_ns_ = 0;
    std::vector<std::int64_t> latencies_;  // microseconds
};

// A whole number in [low, high] for option `key`, or a one-line error.
int to_int(const std::string& key, const std::string& value, long long low,
           long long high)
{
    long long n = 0;
    const char* end = value.data() + value.size();
    auto [stop, error] = std::from_chars(value.data(), end, n);
    if (error != std::errc() || stop != end || n < low || n > high)
        throw std::invalid_argument(
            fmt::format("{} takes a whole number from {} to {}, not \"{}\"",
                        key, low, high, value));
    return static_cast<int>(n);
}

// A finite number of at least `low` for option `key`.
double to_double(const std::string& key, const std::string& value, double low)
{
    char* stop = nullptr;
    double x = std::strtod(value.c_str(), &stop);
    if (value.empty() || *stop != '\0' || !std::isfinite(x) || x < low)
        throw std::invalid_argument(fmt::format(
            "{} takes a number of at least {}, not \"{}\"", key, low, value));
    return x;
}

Options parse(int argc, char* argv[])
{
    Options o;
    if (argc % 2 == 0)
        throw std::invalid_argument("every option takes a value");
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string key = argv[i];
        std::string value = argv[i + 1];
        if (key == "--port")
            o.port = static_cast<std::uint16_t>(to_int(key, value, 1, 65535));
        else if (key == "--scenario")
            o.scenario = value;
        else if (key == "--mode")
            o.mode_name = value;
        else if (key == "--clients")
            o.clients = to_int(key, value, 2, max_clients);
        else if (key == "--senders")
            o.senders = to_int(key, value, 1, max_clients);
        else if (key == "--lines")
            o.lines = to_int(key, value, 0, INT_MAX);
        else if (key == "--size")
            o.size = to_int(key, value, min_size, max_size);
        else if (key == "--rate")
            o.rate = to_double(key, value, 0);
        else if (key == "--pid")
            o.pid = to_int(key, value, 0, INT_MAX);
        else if (key == "--threads-per-client")
            o.threads_per_client = to_int(key, value, 0, 1000);
        else if (key == "--settle")
            o.settle = to_double(key, value, 0);
        else if (key == "--timeout")
            o.timeout = to_double(key, value, 0.001);
        else
            throw std::invalid_argument("unknown option " + key);
    }
    if (o.mode_name == "broadcast")
        o.mode = Mode::broadcast;
    else if (o.mode_name == "echo")
        o.mode = Mode::echo;
    else if (o.mode_name == "chatroom")
        o.mode = Mode::chatroom;
    else
        throw std::invalid_argument("unknown mode " + o.mode_name);
    const std::string scenarios = " fanout paced slow storm capacity ";
    if (scenarios.find(" " + o.scenario + " ") == std::string::npos)
        throw std::invalid_argument("unknown scenario " + o.scenario);
    if (o.port == 0)
        throw std::invalid_argument("need --port (1 to 65535)");
    if (o.senders > o.clients)
        throw std::invalid_argument("--senders must not exceed --clients");
    if (o.mode == Mode::chatroom && o.size > max_chatroom_size)
        throw std::invalid_argument(
            fmt::format("--size at most {} in the chat room (its lines of text "
                        "are at most 512 bytes, with \"MESSAGE \")",
                        max_chatroom_size));
    // The longest "#L SENDER SEQ STAMP " and " SENDER.SEQ" must fit in a
    // line (a stamp has at most 19 digits), or no line would be whole.
    const std::size_t numbers =
        2 * (std::to_string(o.senders).size() + std::to_string(o.lines).size());
    if (numbers + 19 + 8 > static_cast<std::size_t>(o.size))
        throw std::invalid_argument(fmt::format(
            "--size {} is too small for these --senders and --lines", o.size));
    bool fan = o.scenario != "storm" && o.scenario != "capacity";
    if (fan && static_cast<double>(o.clients + 1) * o.senders * o.lines >
                   max_tracked_lines)
        throw std::invalid_argument(fmt::format(
            "--clients x --senders x --lines must be at most {} (a bit each)",
            max_tracked_lines));
    return o;
}

// Raises the soft limit on descriptors to the hard one, then checks what
// was granted (the raise may be refused, e.g. for an unlimited hard limit).
void raise_descriptor_limit(int clients)
{
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0)
        throw std::runtime_error("getrlimit(RLIMIT_NOFILE) failed");
    rlimit wanted = limit;
    wanted.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &wanted);
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0)
        throw std::runtime_error("getrlimit(RLIMIT_NOFILE) failed");
    auto need = static_cast<rlim_t>(clients) + spare_descriptors;
    if (need > limit.rlim_cur)
        throw std::runtime_error(fmt::format(
            "{} clients need {} descriptors; granted {} (hard limit {})",
            clients, need, limit.rlim_cur, limit.rlim_max));
}

}  // namespace

int main(int argc, char* argv[])
{
    try {
        Options options = parse(argc, argv);
        raise_descriptor_limit(options.clients +
                               (options.scenario == "slow" ? 1 : 0));
        LoadGen generator(options);
        std::string result = generator.run();
        std::fwrite(result.data(), 1, result.size(), stdout);
        std::fputc('\n', stdout);
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "loadgen: %s\n", e.what());  // one line
        return 2;
    }
}
