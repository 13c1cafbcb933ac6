#include "outbox.hpp"

#include <cerrno>
#include <sys/socket.h>

namespace net {

Outbox::Outbox(Socket& socket, std::size_t limit,
               std::chrono::milliseconds stall_limit)
    : socket_(socket), limit_(limit), stall_limit_(stall_limit),
      thread_(&Outbox::run, this)
{
}

Outbox::~Outbox()
{
    {
        std::unique_lock lock(mutex_);
        closing_ = true;
        wake_.notify_all();
        if (!wake_.wait_for(lock, stall_limit_, [this] { return finished_; }))
            stop_locked(true);  // still sending: cut it off, so we can go
    }
    thread_.join();
}

bool Outbox::send(std::string_view text)
{
    std::lock_guard lock(mutex_);
    if (stopped_)
        return false;
    if (queue_.size() + text.size() > limit_) {
        stop_locked(true);  // too far behind: a SendQ, as IRC servers have
        return false;
    }
    bool was_empty = queue_.empty();
    queue_.append(text);
    if (was_empty)
        wake_.notify_all();
    return true;
}

bool Outbox::wait_until_below(std::size_t bytes)
{
    std::unique_lock lock(mutex_);
    wake_.wait(lock, [&] { return queue_.size() <= bytes || stopped_; });
    return !stopped_;
}

bool Outbox::cut_off() const
{
    std::lock_guard lock(mutex_);
    return cut_off_;
}

void Outbox::stop_locked(bool falling_behind)
{
    stopped_ = true;
    cut_off_ = cut_off_ || falling_behind;
    wake_.notify_all();  // for wait_until_below
    queue_.clear();
    queue_.shrink_to_fit();
    // Wakes the client's reader (its read returns 0) and our own writer.
    ::shutdown(socket_.fd(), SHUT_RDWR);
}

void Outbox::run()
{
    std::string sending;
    std::unique_lock lock(mutex_);
    for (;;) {
        wake_.wait(lock, [this] { return !queue_.empty() || closing_; });
        if (queue_.empty() || stopped_)
            break;             // closing, and everything is sent
        sending.swap(queue_);  // one write for all that has piled up
        wake_.notify_all();    // for wait_until_below
        lock.unlock();
        bool sent = write_all(socket_.fd(), sending, stall_limit_);
        bool stalled = !sent && errno == ETIMEDOUT;
        sending.clear();
        lock.lock();
        if (!sent && !stopped_) {
            stop_locked(stalled);  // it took nothing for stall_limit, or
            break;                 // it is gone
        }
    }
    finished_ = true;
    wake_.notify_all();  // the destructor may be waiting for this
}

}  // namespace net
