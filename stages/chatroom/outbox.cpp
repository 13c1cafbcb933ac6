#include "outbox.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <malloc.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <system_error>
#include <unistd.h>
#include <utility>

namespace chat {

// A client that took nothing for this long is not waited for by whoever
// talks: it may read a byte now and then, and must not set the room's pace.
constexpr std::chrono::milliseconds patience{100};
constexpr std::size_t keep = 16 << 10;  // an idle queue keeps this much

Writer::Writer(std::mutex& lock, std::size_t limit, std::size_t budget,
               std::chrono::milliseconds stall_limit)
    : lock_(lock), limit_(limit), budget_(budget), stall_limit_(stall_limit),
      epoll_(::epoll_create1(EPOLL_CLOEXEC)),
      wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK))
{
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = wake_;
    if (epoll_ < 0 || wake_ < 0 ||
        ::epoll_ctl(epoll_, EPOLL_CTL_ADD, wake_, &event) < 0)
        throw std::system_error(errno, std::generic_category(), "epoll");
    thread_ = std::thread(&Writer::run, this);
}

Writer::~Writer()
{
    {
        std::lock_guard lock(lock_);
        stopping_ = true;
    }
    std::uint64_t one = 1;
    (void)!::write(wake_, &one, sizeof one);
    thread_.join();
    ::close(wake_);
    ::close(epoll_);
}

void Writer::add(Outbox& box)
{
    boxes_[box.fd] = &box;
    epoll_event event{};     // EPOLLOUT only once its socket is full; edge-
    event.events = EPOLLET;  // triggered: a hang-up is reported once
    event.data.fd = box.fd;
    ::epoll_ctl(epoll_, EPOLL_CTL_ADD, box.fd, &event);
}

void Writer::append(Outbox& box, std::string_view text)
{
    if (box.cut_off != nullptr || box.gone)
        return;
    if (box.waiting() + text.size() > limit_) {
        cut(box, "too far behind");  // a SendQ, as IRC servers have
        return;
    }
    box.queue.append(text);
    total_ += text.size();
    if (box.waiting() > limit_ / 4)
        behind_.insert(&box);
    if (!std::exchange(box.listed, true))
        work_.push_back(&box);
}

void Writer::send_and_keep_pace(std::unique_lock<std::mutex>& lock)
{
    if (!work_.empty() && !std::exchange(woken_, true)) {
        std::uint64_t one = 1;
        (void)!::write(wake_, &one, sizeof one);
    }
    auto must_wait = [&] {
        // The room's memory: cut the one furthest behind of those not
        // reading. A bigger room needs more in flight: 16 KiB a member.
        while (total_ > budget_ + keep * boxes_.size()) {
            Outbox* last = nullptr;
            for (Outbox* box : full_)
                if (took_nothing_for(*box, std::chrono::seconds(1)) &&
                    (last == nullptr || box->waiting() > last->waiting()))
                    last = box;
            if (last == nullptr)
                return true;  // none yet: wait for readers, or for a stall
            cut(*last, "furthest behind when the room was full");
        }
        for (Outbox* box : behind_)  // not one whose socket took nothing
            if (!took_nothing_for(*box, patience))  // of late: the writer
                return true;                        // may just be busy
        return false;
    };
    while (must_wait())
        progress_.wait_for(lock, patience);
}

const char* Writer::remove(std::unique_lock<std::mutex>& lock, Outbox& box)
{
    if (!progress_.wait_for(lock, stall_limit_, [&box] {
            return box.waiting() == 0 || box.cut_off != nullptr || box.gone;
        }))
        cut(box, "took too little to say goodbye");  // still not sent
    for (auto* list : {&work_, &pass_})
        std::replace(list->begin(), list->end(), &box,
                     static_cast<Outbox*>(nullptr));
    behind_.erase(&box);
    full_.erase(&box);
    boxes_.erase(box.fd);
    ::epoll_ctl(epoll_, EPOLL_CTL_DEL, box.fd, nullptr);
    return box.cut_off;
}

// One pass: takes the outboxes appended to, and sends each, taking the
// room's lock for one outbox at a time, so readers can append meanwhile.
void Writer::run()
{
    epoll_event events[64];
    Clock::time_point trimmed;
    for (;;) {
        int n = ::epoll_wait(epoll_, events, 64, 1000);  // 1 s: stalls
        std::unique_lock lock(lock_);
        if (stopping_)
            return;
        for (int i = 0; i < n; ++i) {
            std::uint64_t count;
            auto found = boxes_.find(events[i].data.fd);
            if (events[i].data.fd == wake_)
                (void)!::read(wake_, &count, sizeof count);
            else if (found != boxes_.end() &&
                     !std::exchange(found->second->listed, true))
                work_.push_back(found->second);  // it has room again
        }
        woken_ = false;
        pass_.swap(work_);
        for (Outbox* box : pass_)
            if (box != nullptr)       // null: it left
                box->listed = false;  // appended from now: the next pass
        for (std::size_t i = 0; i < pass_.size(); ++i) {
            if (pass_[i] != nullptr)
                send_some(*pass_[i]);
            lock.unlock();  // readers may append, members leave
            lock.lock();
        }
        pass_.clear();
        for (Outbox* box : std::vector<Outbox*>(full_.begin(), full_.end()))
            if (took_nothing_for(*box, stall_limit_))
                cut(*box, "took nothing for too long");
        if (Clock::now() > trimmed + std::chrono::seconds(1)) {
            trimmed = Clock::now();  // idle members give big buffers back
            for (auto& [fd, box] : boxes_) {
                if (box->waiting() == 0 && box->queue.capacity() > keep)
                    discard(*box);
                if (trimmed >= box->close_at)
                    ::shutdown(fd, SHUT_RD);  // what it is sent still goes
            }
            bool trim = std::exchange(freed_, false);
            lock.unlock();
            if (trim)
                ::malloc_trim(0);  // and glibc gives the memory to the system
            lock.lock();
        }
        progress_.notify_all();
    }
}

void Writer::send_some(Outbox& box)
{
    while (box.waiting() > 0 && box.cut_off == nullptr && !box.gone) {
        ssize_t n = ::send(box.fd, box.queue.data() + box.sent, box.waiting(),
                           MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            box.sent += static_cast<std::size_t>(n);
            total_ -= static_cast<std::size_t>(n);
            box.took = Clock::now();
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;  // full: epoll says when there is room
        } else if (n < 0 && errno != EINTR) {
            box.gone = true;  // EPIPE, ECONNRESET: its reader sees the end
            discard(box);
            ::shutdown(box.fd, SHUT_RDWR);
        }
    }
    if (box.waiting() == 0) {
        box.queue.clear();  // keeps its buffer for the next lines
        box.sent = 0;
    } else if (box.sent > box.queue.size() / 2) {
        box.queue.erase(0, box.sent);  // a slow client: keep it compact
        box.sent = 0;
    }
    if (box.waiting() <= limit_ / 8)  // caught up, not just under the mark
        behind_.erase(&box);
    watch(box, box.waiting() > 0 && box.cut_off == nullptr && !box.gone);
}

void Writer::cut(Outbox& box, const char* why)
{
    box.cut_off = why;
    discard(box);
    behind_.erase(&box);
    watch(box, false);
    ::shutdown(box.fd, SHUT_RDWR);  // its reader sees the end, and leaves
    progress_.notify_all();
}

void Writer::discard(Outbox& box)
{
    total_ -= box.waiting();
    freed_ = freed_ || box.queue.capacity() > keep;
    std::string().swap(box.queue);
    box.sent = 0;
}

bool Writer::took_nothing_for(Outbox& box, Clock::duration how_long)
{
    return full_.count(&box) > 0 && Clock::now() - box.took >= how_long;
}

void Writer::watch(Outbox& box, bool full)
{
    if (full == (full_.count(&box) > 0))
        return;
    if (full) {
        full_.insert(&box);
        box.took = Clock::now();  // it owes us nothing until now
    } else {
        full_.erase(&box);
    }
    epoll_event event{};
    event.events = EPOLLET | (full ? EPOLLOUT : 0u);
    event.data.fd = box.fd;
    ::epoll_ctl(epoll_, EPOLL_CTL_MOD, box.fd, &event);
}

}  // namespace chat
