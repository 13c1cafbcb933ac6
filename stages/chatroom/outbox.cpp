#include "outbox.hpp"

#include "burst.hpp"

#include <cerrno>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <set>
#include <string>
#include <sys/socket.h>
#include <utility>
#include <vector>

namespace chat {

using Clock = std::chrono::steady_clock;

// Sends what the socket takes of `data` (waiting for room first if it
// takes nothing), and returns how many bytes that was; -1 if the peer is
// gone, or took nothing for `stall_limit` (errno ETIMEDOUT).
static ssize_t write_some(int fd, std::string_view data,
                          std::chrono::milliseconds stall_limit) noexcept
{
    for (;;) {  // send must not block: poll does the waiting, with a timeout
        ssize_t n =
            ::send(fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n >= 0)
            return n;  // all of it, or as much as fitted
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -1;             // EPIPE, ECONNRESET, ...: the peer is gone
        pollfd p{fd, POLLOUT, 0};  // buffer full: wait for room
        int ready = ::poll(&p, 1, static_cast<int>(stall_limit.count()));
        if (ready == 0)
            errno = ETIMEDOUT;  // it took nothing for stall_limit
        if (ready == 0 || (ready < 0 && errno != EINTR))
            return -1;
    }
}

// A client that has not taken a piece (below) for this long is not waited
// for by whoever talks: it is left to the limit to cut it off. So a client
// keeps the room waiting only while it reads 320 KiB/s; one that reads a
// byte now and then cannot hold up the room.
constexpr std::chrono::milliseconds patience{50};
constexpr int piece = 16 << 10;
// The kernel keeps no more than this unsent for a client (with
// TCP_NOTSENT_LOWAT), so what it has not taken waits in its outbox, where
// it is counted, not in a socket buffer of several MiB.
constexpr int unsent = 128 << 10;

// Everything the Outbox, its thread and the threads that deferred a flush
// of it (burst.hpp) share. It may outlive the Outbox: then it is stopped.
struct Outbox::State {
    State(int socket, std::size_t max_bytes, std::chrono::milliseconds stall)
        : fd(socket), limit(max_bytes), stall_limit(stall)
    {
    }

    const int fd;
    const std::size_t limit;
    const std::chrono::milliseconds stall_limit;
    mutable std::mutex mutex;           // guards everything below
    std::condition_variable to_writer;  // the Outbox's thread waits here
    std::condition_variable drained;    // and here whoever waits for it
    std::string queue;                  // not sent yet
    std::size_t in_flight = 0;          // taken from the queue, not yet sent
    Clock::time_point taken_at;         // the client last took a piece
    std::size_t taken = 0;              // bytes it took since then
    bool deferred = false;  // a thread will flush it when its burst ends
    bool writing = false;   // the thread has the queue: only it sends now
    bool sending = false;   // the pool's sender has bytes of it in flight
    bool closing = false;
    bool stopped = false;  // cut off, or the client is gone: send no more
    bool cut_off = false;
    bool finished = false;  // the thread is done

    std::size_t waiting_locked() const { return queue.size() + in_flight; }
    // Who waits for a client that is behind waits until it has caught up:
    // not just under the mark, or it would wait again at the next line.
    std::size_t behind() const { return limit / 4; }
    std::size_t caught_up() const { return limit / 8; }
    void took_locked(std::size_t bytes)
    {
        taken += bytes;
        if (taken >= static_cast<std::size_t>(piece)) {
            taken = 0;
            taken_at = Clock::now();
        }
    }
    // Whether to wait for more than `bytes` to be sent: not if the client
    // is gone, nor, if `patient`, while it takes nothing (the limit will
    // see to it).
    bool worth_waiting_locked(std::size_t bytes, bool patient) const
    {
        return !stopped && waiting_locked() > bytes &&
               (!patient || Clock::now() < taken_at + patience);
    }
    void wait_until_below(std::unique_lock<std::mutex>& lock, std::size_t bytes,
                          bool patient)
    {
        while (worth_waiting_locked(bytes, patient))
            if (patient)
                drained.wait_until(lock, taken_at + patience);
            else
                drained.wait(lock);
    }

    // Outboxes whose threads have ended their bursts, to be sent by one
    // thread at a time: whoever ends a burst while nobody sends. What other
    // threads queue meanwhile for the same clients goes out with it, in the
    // same send: under load, one send carries many threads' messages.
    static std::mutex pool_mutex;  // guards the two below
    static std::vector<std::shared_ptr<State>> pool;
    static bool pool_busy;  // a thread is sending the pool
    // Passes over the pool before the sending thread goes back to its own
    // client; what is left then goes to the outboxes' own threads.
    static constexpr int max_passes = 16;

    // The outboxes this thread queued for, handed to the pool at once
    // when its burst ends; and those it left behind (more than a quarter
    // of their limit waiting), for keep_pace.
    struct Mine {
        std::vector<std::shared_ptr<State>> outboxes;
        std::set<std::shared_ptr<State>> behind;
        bool deferred = false;
        void flush() noexcept
        {
            deferred = false;
            send_all(outboxes);
            if (outboxes.capacity() > keep)  // a storm of joins is over
                std::vector<std::shared_ptr<State>>().swap(outboxes);
        }
        static constexpr std::size_t keep = 1024;
    };
    static thread_local std::shared_ptr<Mine> mine;

    // Puts `outboxes` in the pool, then sends the pool, or leaves it to
    // whoever sends it now.
    static void send_all(std::vector<std::shared_ptr<State>>& outboxes) noexcept
    {
        std::unique_lock lock(pool_mutex);
        pool.insert(pool.end(), outboxes.begin(), outboxes.end());
        outboxes.clear();
        if (pool_busy)
            return;  // whoever sends now takes them too
        pool_busy = true;
        for (int pass = 0; pass < max_passes && !pool.empty(); ++pass) {
            std::vector<std::shared_ptr<State>> now;
            now.swap(pool);
            lock.unlock();
            for (auto& state : now)
                state->send_some();
            lock.lock();
        }
        for (auto& state : pool) {  // still more: their threads send it
            std::lock_guard state_lock(state->mutex);
            state->deferred = false;
            state->to_writer_locked();
        }
        pool.clear();
        pool_busy = false;
    }

    // Sends what the socket takes now, without holding the lock meanwhile
    // (whoever queues never waits for a send); the rest goes to the
    // thread, which waits for room. A client that keeps up never wakes it.
    void send_some() noexcept
    {
        std::string out;
        {
            std::lock_guard lock(mutex);
            deferred = false;
            if (stopped || writing || sending || queue.empty())
                return;
            sending = true;  // nobody else sends until we are done
            out.swap(queue);
            in_flight = out.size();
        }
        ssize_t n;
        do {
            n = ::send(fd, out.data(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        } while (n < 0 && errno == EINTR);
        bool gone = n < 0 && errno != EAGAIN && errno != EWOULDBLOCK;
        std::lock_guard lock(mutex);
        sending = false;
        in_flight = 0;
        if (n > 0)
            took_locked(static_cast<std::size_t>(n));
        drained.notify_all();  // for keep_pace and the destructor
        if (stopped)
            return;
        if (gone) {
            stop_locked(false);  // the client is gone
            return;
        }
        out.erase(0, n > 0 ? static_cast<std::size_t>(n) : 0);
        if (!out.empty()) {
            queue.insert(0, out);  // before what was queued meanwhile
            to_writer_locked();    // the socket is full
        }
        if (closing)
            to_writer.notify_one();  // it may wait for us to finish
    }

    // Leaves the queue to the Outbox's own thread, which waits for room.
    void to_writer_locked() noexcept
    {
        if (stopped || writing || sending || queue.empty())
            return;
        writing = true;
        to_writer.notify_one();
    }

    // No more sending; `falling_behind` says it is the client's fault.
    void stop_locked(bool falling_behind) noexcept
    {
        stopped = true;
        cut_off = cut_off || falling_behind;
        queue.clear();
        queue.shrink_to_fit();
        drained.notify_all();
        to_writer.notify_one();
        // Wakes the client's reader (its read returns 0) and our thread.
        ::shutdown(fd, SHUT_RDWR);
    }
};

std::mutex Outbox::State::pool_mutex;
std::vector<std::shared_ptr<Outbox::State>> Outbox::State::pool;
bool Outbox::State::pool_busy = false;
thread_local std::shared_ptr<Outbox::State::Mine> Outbox::State::mine;

Outbox::Outbox(net::Socket& socket, std::size_t limit,
               std::chrono::milliseconds stall_limit)
    : state_(std::make_shared<State>(socket.fd(), limit, stall_limit)),
      thread_(&Outbox::run, this)
{
    ::setsockopt(socket.fd(), IPPROTO_TCP, TCP_NOTSENT_LOWAT, &unsent,
                 sizeof unsent);  // not TCP (a test's socket pair): no matter
}

Outbox::~Outbox()
{
    State& s = *state_;
    {
        std::unique_lock lock(s.mutex);
        s.closing = true;
        s.to_writer.notify_one();
        if (!s.drained.wait_for(lock, s.stall_limit,
                                [&s] { return s.finished; }))
            s.stop_locked(true);  // still sending: cut it off, so we can go
    }
    thread_.join();
    std::unique_lock lock(s.mutex);
    // The pool's send, if one is under way, never waits: we wait for it,
    // so that nothing is sent once the socket is closed, as it soon is.
    s.drained.wait(lock, [&s] { return !s.sending; });
    s.stopped = true;
}

bool Outbox::send(std::string_view text)
{
    State& s = *state_;
    bool behind = false;
    bool first = false;  // the first thread to queue since the last send
    {
        std::lock_guard lock(s.mutex);
        if (s.stopped)
            return false;
        if (s.waiting_locked() + text.size() > s.limit) {
            s.stop_locked(true);  // too far behind: a SendQ, as IRC has
            return false;
        }
        s.queue.append(text);
        behind = s.worth_waiting_locked(s.behind(), true);
        first = !std::exchange(s.deferred, true);
    }
    if (!behind && !first)
        return true;  // another thread sends it when its burst ends
    auto& mine = State::mine;
    if (!mine)
        mine = std::make_shared<State::Mine>();
    if (behind)
        mine->behind.insert(state_);  // we will wait for it to catch up
    if (first) {
        mine->outboxes.push_back(state_);  // sent when our burst ends
        if (!std::exchange(mine->deferred, true))
            defer(mine);
    }
    return true;
}

bool Outbox::keep_pace()
{
    State& s = *state_;
    const std::size_t bytes = s.caught_up();
    std::set<std::shared_ptr<State>> others;
    if (State::mine)
        others.swap(State::mine->behind);
    others.erase(state_);
    for (auto it = others.begin(); it != others.end();) {
        bool wait = false;
        {
            std::lock_guard lock((*it)->mutex);
            wait = (*it)->worth_waiting_locked(bytes, true);
        }
        it = wait ? std::next(it) : others.erase(it);  // caught up, or idle
    }
    {
        std::lock_guard lock(s.mutex);
        if (others.empty() && !s.worth_waiting_locked(s.behind(), false))
            return !s.stopped;  // nobody to wait for: the burst goes on
    }
    end_burst();  // we are going to wait: first send what waited for us
    for (const auto& other : others) {  // only while they read at all
        std::unique_lock lock(other->mutex);
        other->wait_until_below(lock, bytes, true);
    }
    std::unique_lock lock(s.mutex);
    s.wait_until_below(lock, bytes, false);  // our own client: always
    return !s.stopped;
}

bool Outbox::cut_off() const
{
    std::lock_guard lock(state_->mutex);
    return state_->cut_off;
}

void Outbox::run()
{
    State& s = *state_;
    std::string sending;
    std::unique_lock lock(s.mutex);
    for (;;) {
        s.to_writer.wait(lock, [&s] {  // not while the pool's sender sends
            return s.stopped || (!s.sending && (s.writing || s.closing));
        });
        if (s.stopped)
            break;
        if (s.queue.empty()) {
            s.writing = false;  // all sent: the next send goes at once
            if (s.closing)
                break;
            continue;
        }
        s.writing = true;       // closing, with lines left: ours now
        sending.swap(s.queue);  // one write for all that has piled up
        s.in_flight = sending.size();
        bool sent = true;
        bool stalled = false;
        for (std::string_view rest = sending; !rest.empty() && !s.stopped;) {
            lock.unlock();
            ssize_t n = write_some(s.fd, rest, s.stall_limit);
            stalled = n < 0 && errno == ETIMEDOUT;
            lock.lock();
            if (n <= 0) {
                sent = false;
                break;
            }
            rest.remove_prefix(static_cast<std::size_t>(n));
            s.in_flight = rest.size();
            s.took_locked(static_cast<std::size_t>(n));
            s.drained.notify_all();  // for keep_pace
        }
        s.in_flight = 0;
        std::string().swap(sending);  // an idle outbox keeps no memory
        if (!sent && !s.stopped) {
            s.stop_locked(stalled);  // it took nothing for stall_limit, or
            break;                   // it is gone
        }
    }
    s.finished = true;
    s.drained.notify_all();  // the destructor may be waiting for this
}

}  // namespace chat
