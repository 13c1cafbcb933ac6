#include "outbox.hpp"

#include <algorithm>
#include <cerrno>
#include <malloc.h>
#include <new>
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
    event.data.ptr = nullptr;  // the eventfd; an outbox otherwise
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

void Writer::wake()
{
    if ((!posts_.empty() || leavers_ != nullptr) &&
        !std::exchange(woken_, true)) {
        std::uint64_t one = 1;
        (void)!::write(wake_, &one, sizeof one);
    }
}

void Writer::send_and_keep_pace(std::unique_lock<std::mutex>& lock)
{
    std::uint64_t mine = posts_.empty() ? taken_ : taken_ + 1;
    wake();
    progress_.wait(lock, [&] {
        return stopping_ || (taken_ >= mine && !pace_ && !over_budget_);
    });
}

const char* Writer::remove(std::unique_lock<std::mutex>& lock, Outbox& box)
{
    box.next_leaver = leavers_;  // not a post: leaving needs no memory, and
    leavers_ = &box;             // so it cannot fail
    wake();
    progress_.wait(lock, [&] { return stopping_ || box.removed; });
    return box.cut_off;
}

// One pass: takes what was posted, copies each line into the outboxes it
// is for, and sends every outbox that has something new, or room again.
void Writer::run()
{
    epoll_event events[64];
    std::vector<Post> posts;
    Clock::time_point trimmed;
    for (;;) {  // at least every 100 ms: stalls, deadlines, the pace
        int n = ::epoll_wait(epoll_, events, 64,
                             static_cast<int>(patience.count()));
        Outbox* leavers = nullptr;
        {
            std::lock_guard lock(lock_);
            if (stopping_)
                return;
            posts.swap(posts_);
            leavers = std::exchange(leavers_, nullptr);
            ++taken_;
            woken_ = false;
            std::uint64_t count;  // and the wake-ups that brought them
            (void)!::read(wake_, &count, sizeof count);
        }
        for (int i = 0; i < n; ++i) {
            auto* box = static_cast<Outbox*>(events[i].data.ptr);
            if (box != nullptr && !std::exchange(box->listed, true))
                work_.push_back(box);  // it has room again
        }
        for (Post& post : posts) {
            try {
                apply(post);
            } catch (const std::bad_alloc&) {  // this one client only
                if (post.box != nullptr)
                    cut(*post.box, "out of memory");
            }
        }
        posts.clear();
        auto now = Clock::now();
        for (Outbox* box = leavers; box != nullptr;) {
            Outbox* next = box->next_leaver;  // before it may be forgotten
            leave_members(*box);  // if something kept it from leaving
            box->leave_by = now + stall_limit_;
            leaving_.push_back(box);  // reserved at add: needs no memory
            box = next;
        }
        for (Outbox* box : work_) {
            box->listed = false;
            send_some(*box);
        }
        work_.clear();
        for (auto it = full_.begin(); it != full_.end();) {
            Outbox* box = *it++;  // cut() takes it out of full_
            if (took_nothing_for(*box, stall_limit_))
                cut(*box, "took nothing for too long");
        }
        keep_within_budget();
        for (std::size_t i = 0; i < leaving_.size();) {
            Outbox& box = *leaving_[i];
            if (box.sending() && box.waiting() > 0 && now >= box.leave_by)
                cut(box, "took too little to say goodbye");
            if (box.sending() && box.waiting() > 0) {
                ++i;  // still sending what it was told before it left
            } else {
                forget(box);
                leaving_[i] = leaving_.back();
                leaving_.pop_back();
            }
        }
        bool once_a_second = now > trimmed + std::chrono::seconds(1);
        if (once_a_second) {
            trimmed = now;  // members idle for a second give big buffers back
            for (Outbox* box : boxes_)
                if (!std::exchange(box->used, false) && box->waiting() == 0 &&
                    box->queue.capacity() > keep)
                    discard(*box);
            if (std::exchange(freed_, false))
                ::malloc_trim(0);  // and glibc gives the memory to the system
        }
        publish(now, once_a_second);
    }
}

void Writer::apply(Post& post)
{
    Outbox* box = post.box;
    switch (post.kind) {
    case Kind::add: {
        std::size_t boxes = boxes_.size() + 1;  // room for each in the lists
        if (work_.capacity() < boxes)           // first: then listing a box,
            work_.reserve(2 * boxes);           // or taking a leaver, never
        if (leaving_.capacity() < boxes)        // needs memory
            leaving_.reserve(2 * boxes);
        boxes_.insert(box);
        epoll_event event{};     // EPOLLOUT only once its socket is full;
        event.events = EPOLLET;  // edge-triggered: a hang-up is reported once
        event.data.ptr = box;
        ::epoll_ctl(epoll_, EPOLL_CTL_ADD, box->fd, &event);
        break;
    }
    case Kind::join:
        members_.push_back(box);
        break;
    case Kind::leave:
        leave_members(*box);
        break;
    case Kind::text:
        if (box != nullptr)
            put(*box, post.text);
        else
            for (Outbox* member : members_)  // the room's one long walk
                put(*member, post.text);
        break;
    }
}

void Writer::put(Outbox& box, const std::string& text)
{
    if (!box.sending())
        return;
    if (box.waiting() + text.size() > limit_) {
        cut(box, "too far behind");  // a SendQ, as IRC servers have
        return;
    }
    try {
        box.queue.append(text);
    } catch (const std::bad_alloc&) {
        cut(box, "out of memory");
        return;
    }
    box.used = true;
    total_ += text.size();
    if (box.waiting() > limit_ / 4)
        behind_.insert(&box);
    if (!std::exchange(box.listed, true))
        work_.push_back(&box);
}

void Writer::send_some(Outbox& box)
{
    while (box.waiting() > 0 && box.sending()) {
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
    watch(box, box.waiting() > 0 && box.sending());
}

// The room's memory: while the outboxes hold more than the budget, cut
// the one furthest behind of those not reading. A bigger room needs more
// in flight: 16 KiB a client.
void Writer::keep_within_budget()
{
    over_ = false;
    while (total_ > budget_ + keep * boxes_.size()) {
        Outbox* last = nullptr;
        for (Outbox* box : full_)
            if (took_nothing_for(*box, std::chrono::seconds(1)) &&
                (last == nullptr || box->waiting() > last->waiting()))
                last = box;
        if (last == nullptr) {
            over_ = true;  // none yet: talkers wait, for readers or a stall
            return;
        }
        cut(*last, "furthest behind when the room was full");
    }
}

// What talkers and leavers wait for, after each pass.
void Writer::publish(Clock::time_point now, bool once_a_second)
{
    bool pace = false;  // not for one whose socket took nothing of late:
    for (Outbox* box : behind_)  // the writer may just be busy
        pace = pace || !took_nothing_for(*box, patience);
    {
        std::lock_guard lock(lock_);
        pace_ = pace;
        over_budget_ = over_;
        if (once_a_second)
            for (Outbox* box : boxes_)
                if (now >= box->close_at)
                    ::shutdown(box->fd, SHUT_RD);  // what it is sent still goes
    }
    progress_.notify_all();
}

void Writer::cut(Outbox& box, const char* why)
{
    {
        std::lock_guard lock(lock_);
        box.cut_off = why;
    }
    discard(box);
    behind_.erase(&box);
    watch(box, false);
    ::shutdown(box.fd, SHUT_RDWR);  // its reader sees the end, and leaves
}

void Writer::discard(Outbox& box)
{
    total_ -= box.waiting();
    freed_ = freed_ || box.queue.capacity() > keep;
    std::string().swap(box.queue);
    box.sent = 0;
}

void Writer::leave_members(Outbox& box)  // if it is one
{
    members_.erase(std::remove(members_.begin(), members_.end(), &box),
                   members_.end());
}

void Writer::forget(Outbox& box)
{
    discard(box);
    behind_.erase(&box);
    full_.erase(&box);
    boxes_.erase(&box);
    ::epoll_ctl(epoll_, EPOLL_CTL_DEL, box.fd, nullptr);
    std::lock_guard lock(lock_);
    box.removed = true;  // its owner may destroy it now
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
    event.data.ptr = &box;
    ::epoll_ctl(epoll_, EPOLL_CTL_MOD, box.fd, &event);
}

}  // namespace chat
