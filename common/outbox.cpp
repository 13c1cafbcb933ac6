#include "outbox.hpp"

#include "burst.hpp"

#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <string>
#include <sys/socket.h>
#include <utility>

namespace net {

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
    bool deferred = false;  // a thread will flush it when its burst ends
    bool writing = false;   // the thread has the queue: only it sends now
    bool closing = false;
    bool stopped = false;  // cut off, or the client is gone: send no more
    bool cut_off = false;
    bool finished = false;  // the thread is done

    void flush() noexcept
    {
        std::lock_guard lock(mutex);
        deferred = false;
        push_locked();
    }

    // Sends what the socket takes now; the rest goes to the thread, which
    // waits for room. A client that keeps up never wakes the thread.
    void push_locked() noexcept
    {
        if (stopped || writing || queue.empty())
            return;
        ssize_t n;
        do {
            n = ::send(fd, queue.data(), queue.size(),
                       MSG_NOSIGNAL | MSG_DONTWAIT);
        } while (n < 0 && errno == EINTR);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            stop_locked(false);  // the client is gone
            return;
        }
        if (n > 0) {
            queue.erase(0, static_cast<std::size_t>(n));
            drained.notify_all();  // for wait_until_below
        }
        if (!queue.empty()) {
            writing = true;  // the socket is full: the thread takes over
            to_writer.notify_one();
        }
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

Outbox::Outbox(Socket& socket, std::size_t limit,
               std::chrono::milliseconds stall_limit)
    : state_(std::make_shared<State>(socket.fd(), limit, stall_limit)),
      thread_(&Outbox::run, this)
{
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
    std::lock_guard lock(s.mutex);
    s.stopped = true;  // for late flushes: the socket may soon be closed
}

bool Outbox::send(std::string_view text)
{
    State& s = *state_;
    {
        std::lock_guard lock(s.mutex);
        if (s.stopped)
            return false;
        if (s.queue.size() + text.size() > s.limit) {
            s.stop_locked(true);  // too far behind: a SendQ, as IRC has
            return false;
        }
        s.queue.append(text);
        if (std::exchange(s.deferred, true))
            return true;  // another thread sends it when its burst ends
    }
    defer(state_);  // we send it when our burst ends
    return true;
}

bool Outbox::wait_until_below(std::size_t bytes)
{
    State& s = *state_;
    auto below = [&] { return s.queue.size() <= bytes || s.stopped; };
    std::unique_lock lock(s.mutex);
    if (!below()) {
        lock.unlock();
        end_burst();  // we are going to wait: first send what waited for us
        lock.lock();
        s.drained.wait(lock, below);
    }
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
        s.to_writer.wait(lock,
                         [&s] { return s.writing || s.closing || s.stopped; });
        if (s.stopped)
            break;
        if (s.queue.empty()) {
            s.writing = false;  // all sent: the next send goes at once
            if (s.closing)
                break;
            continue;
        }
        s.writing = true;        // closing, with lines left: ours now
        sending.swap(s.queue);   // one write for all that has piled up
        s.drained.notify_all();  // for wait_until_below
        lock.unlock();
        bool sent = write_all(s.fd, sending, s.stall_limit);
        bool stalled = !sent && errno == ETIMEDOUT;
        sending.clear();
        lock.lock();
        if (!sent && !s.stopped) {
            s.stop_locked(stalled);  // it took nothing for stall_limit, or
            break;                   // it is gone
        }
    }
    s.finished = true;
    s.drained.notify_all();  // the destructor may be waiting for this
}

}  // namespace net
