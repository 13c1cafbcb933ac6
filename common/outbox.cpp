#include "outbox.hpp"

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
            cut_off_locked();  // still sending: stop it, so we can go
    }
    thread_.join();
}

bool Outbox::send(std::string_view text)
{
    std::lock_guard lock(mutex_);
    if (cut_off_)
        return false;
    if (queue_.size() + text.size() > limit_) {
        cut_off_locked();  // too far behind: a SendQ, as IRC servers have
        return false;
    }
    bool was_empty = queue_.empty();
    queue_.append(text);
    if (was_empty)
        wake_.notify_all();
    return true;
}

bool Outbox::cut_off() const
{
    std::lock_guard lock(mutex_);
    return cut_off_;
}

void Outbox::cut_off_locked()
{
    cut_off_ = true;
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
        if (queue_.empty() || cut_off_)
            break;             // closing, and everything is sent
        sending.swap(queue_);  // one write for all that has piled up
        lock.unlock();
        bool sent = write_all(socket_.fd(), sending, stall_limit_);
        sending.clear();
        lock.lock();
        if (!sent && !cut_off_) {
            cut_off_locked();  // gone, or stalled for stall_limit
            break;
        }
    }
    finished_ = true;
    wake_.notify_all();  // the destructor may be waiting for this
}

}  // namespace net
