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

namespace chat {

// A client whose socket took nothing for this long is not waited for by
// whoever talks: it may read a byte now and then, and must not set the
// room's pace. The Writer checks every client this often.
constexpr std::chrono::milliseconds patience{100};
// A client's share of the budget, and the most a drained queue keeps.
constexpr std::size_t keep = 16 << 10;

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

// One pass: takes what was posted (once all taken before is copied),
// copies each line into the outboxes it is for (while the room is under
// its budget), and sends every outbox that has something new, or room.
void Writer::run()
{
    epoll_event events[64];
    std::vector<Post> posts;
    std::size_t applied = 0;    // of posts
    Outbox* leavers = nullptr;  // taken with posts, once they are applied
    int timeout = 0;            // 0 when there is more to do at once
    Clock::time_point checked;
    unsigned checks = 0;
    for (;;) {  // at least every 100 ms
        int n = ::epoll_wait(epoll_, events, 64, timeout);
        if (applied == posts.size()) {  // all copied: ready for more
            posts.clear();
            if (posts.capacity() > 4096)  // after a burst: give it back
                std::vector<Post>().swap(posts);
            applied = 0;
        }
        {
            std::lock_guard lock(lock_);
            if (stopping_)
                return;
            if (posts.empty()) {  // take the next posts, and the leavers
                posts.swap(posts_);
                leavers = std::exchange(leavers_, nullptr);
                ++taken_;
            }
            woken_ = false;
            std::uint64_t count;  // and the wake-ups that brought them
            (void)!::read(wake_, &count, sizeof count);
        }
        now_ = Clock::now();
        for (int i = 0; i < n; ++i) {
            auto* box = static_cast<Outbox*>(events[i].data.ptr);
            if (box != nullptr && !std::exchange(box->listed, true))
                work_.push_back(box);  // it has room again
        }
        // Over the budget, the rest waits until what is queued has gone.
        for (; applied < posts.size() && !over_budget(); ++applied) {
            try {
                apply(posts[applied]);
            } catch (const std::bad_alloc&) {  // this one client only
                if (posts[applied].box != nullptr)
                    cut(*posts[applied].box, "out of memory");
            }
        }
        for (Outbox* box : work_) {
            box->listed = false;
            send_some(*box);
            forget_if_left(*box);
        }
        work_.clear();
        while (applied == posts.size() && leavers != nullptr) {
            Outbox* box = std::exchange(leavers, leavers->next_leaver);
            leave_members(*box);  // if something kept it from leaving
            box->leaving = true;
            box->leave_by = now_ + stall_limit_;
            forget_if_left(*box);  // now, or once its queue has gone
        }
        if (now_ >= checked + patience) {
            checked = now_;
            check_all(++checks % 10 == 0);
        }
        bool pace = false;
        for (auto it = behind_.begin(); it != behind_.end();) {
            Outbox& box = **it;
            if (box.waiting() <= limit_ / 8) {  // caught up, not just under
                it = behind_.erase(it);         // the mark
                continue;
            }
            // Its socket is full; not waited for if it took nothing of late.
            pace = pace || now_ - box.took < patience;
            ++it;
        }
        std::lock_guard lock(lock_);
        pace_ = pace;
        over_budget_ = over_budget();
        bool more = applied < posts.size()
                        ? !over_budget_  // or wait for a socket to take some
                        : !posts_.empty() || leavers_ != nullptr;
        timeout = more ? 0 : static_cast<int>(patience.count());
        progress_.notify_all();
    }
}

void Writer::apply(Post& post)
{
    Outbox* box = post.box;
    switch (post.kind) {
    case Kind::add: {
        std::size_t boxes = boxes_.size() + 1;  // first: then listing a box
        if (work_.capacity() < boxes)           // for work never needs
            work_.reserve(2 * boxes);           // memory
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
    if (box.waiting() + text.size() > limit_)
        send_some(box);  // many talkers at once: first what its socket takes
    if (box.stopped)
        return;
    if (box.waiting() + text.size() > limit_)
        return cut(box, "too far behind");  // a SendQ, as IRC servers have
    try {
        box.queue.append(text);
        total_ += text.size();
        if (box.waiting() > limit_ / 4)
            behind_.insert(&box);
    } catch (const std::bad_alloc&) {
        return cut(box, "out of memory");
    }
    if (!std::exchange(box.listed, true))
        work_.push_back(&box);
}

void Writer::send_some(Outbox& box)
{
    while (box.waiting() > 0 && !box.stopped) {
        ssize_t n = ::send(box.fd, box.queue.data() + box.sent, box.waiting(),
                           MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            box.sent += static_cast<std::size_t>(n);
            total_ -= static_cast<std::size_t>(n);
            box.took = now_;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            break;  // full: epoll says when there is room
        } else if (errno != EINTR) {
            cut(box, nullptr);  // EPIPE, ECONNRESET: the client has gone
        }
    }
    if (box.sent > box.queue.size() / 2) {  // all sent (keeps its buffer),
        box.queue.erase(0, box.sent);       // or a slow client: compact
        box.sent = 0;
    }
    watch(box, box.waiting() > 0);
}

// Every 100 ms: cuts off whoever took nothing for too long (for a second,
// while the room is over its budget) or is too slow to leave. Once a
// second, also takes back big buffers, and closes the connections that
// did not join in time.
void Writer::check_all(bool once_a_second)
{
    for (auto it = boxes_.begin(); it != boxes_.end();) {
        Outbox& box = **it++;  // before it may be forgotten
        auto stalled = box.full ? now_ - box.took : Clock::duration(0);
        if (stalled >= std::chrono::seconds(1) && over_budget())
            cut(box, "took nothing while the room was full");
        else if (stalled >= stall_limit_)
            cut(box, "took nothing for too long");
        else if (box.leaving && now_ >= box.leave_by)
            cut(box, "took too little to say goodbye");
        else if (once_a_second && box.waiting() == 0)
            discard(box);  // drained: it gives its buffer back
        forget_if_left(box);
    }
    if (!once_a_second)
        return;
    if (std::exchange(freed_, false))
        ::malloc_trim(0);  // and glibc gives the memory to the system
    std::lock_guard lock(lock_);
    for (Outbox* box : boxes_)
        if (now_ >= box->close_at)
            ::shutdown(box->fd, SHUT_RD);  // what it is sent still goes
}

void Writer::cut(Outbox& box, const char* why)  // why: null if it has gone
{
    {
        std::lock_guard lock(lock_);
        box.cut_off = why;
    }
    box.stopped = true;
    discard(box);
    watch(box, false);
    ::shutdown(box.fd, SHUT_RDWR);  // its reader sees the end, and leaves
}

void Writer::discard(Outbox& box)
{
    total_ -= box.waiting();
    box.sent = 0;
    if (box.queue.capacity() <= keep) {
        box.queue.clear();  // a small buffer stays, for the next lines
    } else {
        std::string().swap(box.queue);
        freed_ = true;  // time for malloc_trim
    }
}

bool Writer::over_budget() const  // a bigger room has more in flight
{
    return total_ > budget_ + keep * boxes_.size();
}

void Writer::leave_members(Outbox& box)  // if it is one
{
    members_.erase(std::remove(members_.begin(), members_.end(), &box),
                   members_.end());
}

// A client that left is forgotten once its queue has gone, or cannot go.
void Writer::forget_if_left(Outbox& box)
{
    if (!box.leaving || box.waiting() > 0)
        return;
    behind_.erase(&box);
    boxes_.erase(&box);
    ::epoll_ctl(epoll_, EPOLL_CTL_DEL, box.fd, nullptr);
    std::lock_guard lock(lock_);
    box.removed = true;  // its owner may destroy it now
}

void Writer::watch(Outbox& box, bool full)
{
    if (std::exchange(box.full, full) == full)
        return;
    box.took = now_;  // it owes us nothing until now
    epoll_event event{};
    event.events = EPOLLET | (full ? EPOLLOUT : 0u);
    event.data.ptr = &box;
    ::epoll_ctl(epoll_, EPOLL_CTL_MOD, box.fd, &event);
}

}  // namespace chat
