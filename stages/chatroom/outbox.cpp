#include "outbox.hpp"

#include <algorithm>
#include <cerrno>
#include <iterator>
#include <malloc.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <system_error>
#include <unistd.h>
#include <utility>

namespace chat {

// Whoever talks waits for a client well behind while its socket takes
// bytes; one that took nothing for this long is not waited for: it may
// read a byte now and then, and must not set the room's pace.
constexpr std::chrono::milliseconds patience{100};
constexpr int most_pieces = 1024;  // lines one sendmsg takes (IOV_MAX)

Writer::Writer(std::mutex& lock, std::size_t limit,
               std::chrono::milliseconds stall_limit)
    : lock_(lock), limit_(limit), stall_limit_(stall_limit),
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
        wake();
    }
    progress_.notify_all();  // whoever waits gives up
    thread_.join();
    ::close(wake_);
    ::close(epoll_);
}

void Writer::add(Outbox& box)
{
    box.next = added_;  // a list that needs no memory to join
    added_ = &box;
}

void Writer::post(const Outbox* to, std::string text)
{
    std::size_t end = end_ + text.size();
    posts_.push_back({next_number_, to, std::move(text), end});
    end_ = end;
    ++next_number_;
}

void Writer::wake()
{
    if (!std::exchange(woken_, true)) {
        std::uint64_t one = 1;
        (void)!::write(wake_, &one, sizeof one);
    }
}

void Writer::send_and_keep_pace(std::unique_lock<std::mutex>& lock)
{
    std::uint64_t mine = taken_;
    if (!posts_.empty()) {  // taken by the next pass that takes posts
        wake();
        ++mine;
    }
    progress_.wait(lock,
                   [&] { return stopping_ || (taken_ >= mine && !pace_); });
}

const char* Writer::remove(std::unique_lock<std::mutex>& lock, Outbox& box)
{
    if (box.until == never)  // a client that never joined
        box.until = next_number_;
    wake();
    progress_.wait(lock, [&] { return stopping_ || box.removed; });
    return box.cut_off;
}

// One pass: takes the new clients and what was posted, lets a slice of
// the posted lines into the transcript, serves every client, and lets go
// of the lines that all of them have had.
void Writer::run()
{
    epoll_event events[64];
    Clock::time_point checked;
    bool pace = false;    // as the last pass found it
    bool posted = false;  // ...and whether posts were left for this one
    for (;;) {
        // At once while there are lines to take or let in (a wake-up may
        // have been spent on a pass that left them); else every 100 ms.
        bool more = pending_.empty() ? posted : !pace;
        int wait = more ? 0 : static_cast<int>(patience.count());
        int n = ::epoll_wait(epoll_, events, 64, wait);
        now_ = Clock::now();
        bool once_a_second = now_ >= checked + std::chrono::seconds(1);
        {
            std::lock_guard lock(lock_);
            if (stopping_)
                return;
            take_posts();
            if (once_a_second) {
                checked = now_;  // closes who did not join in time
                for (Outbox* box = all_; box != nullptr; box = box->next)
                    if (now_ >= box->close_at)
                        ::shutdown(box->fd, SHUT_RD);  // sending goes on
            }
        }
        for (int i = 0; i < n; ++i)
            if (auto* box = static_cast<Outbox*>(events[i].data.ptr))
                watch(*box, false);  // it has room again
        // Lines for members a slice at a time, while no reader is far
        // behind: many talkers at once cannot push a reader past the limit.
        for (std::size_t slice = 0;
             !pending_.empty() && !pace && slice <= limit_ / 4;) {
            const Line& line = pending_.front();  // one for one client: free
            slice += line.to != nullptr ? 0 : line.text.size();
            lines_.splice(lines_.end(), pending_, pending_.begin());
        }
        pace = false;
        std::uint64_t needed = last()->number;  // the oldest line still needed
        Outbox* forgotten = nullptr;
        for (Outbox** link = &all_; *link != nullptr;) {
            Outbox& box = **link;
            if (!serve(box)) {
                *link = box.next;
                ::epoll_ctl(epoll_, EPOLL_CTL_DEL, box.fd, nullptr);
                box.next = std::exchange(forgotten, &box);
                continue;
            }
            bool reads = now_ - box.took < patience;
            pace = pace || (behind(box) > limit_ / 4 && reads);
            needed = std::min(needed, box.done->number);
            link = &box.next;
        }
        for (; lines_.front().number < needed; lines_.pop_front())
            freed_ += lines_.front().text.size();  // all have had it
        if (once_a_second && std::exchange(freed_, 0) > limit_)
            ::malloc_trim(0);  // glibc gives what a burst took back
        std::lock_guard lock(lock_);
        while (forgotten != nullptr)  // its owner may destroy it now
            std::exchange(forgotten, forgotten->next)->removed = true;
        pace_ = pace;
        posted = !posts_.empty();
        progress_.notify_all();
    }
}

void Writer::take_posts()  // under the room's lock
{
    while (added_ != nullptr) {
        Outbox& box = *std::exchange(added_, added_->next);
        box.done = last();  // its lines come after
        box.took = now_;
        box.next = std::exchange(all_, &box);
        epoll_event event{};     // EPOLLOUT only once its socket is full;
        event.events = EPOLLET;  // edge-triggered: a hang-up is reported once
        event.data.ptr = &box;
        ::epoll_ctl(epoll_, EPOLL_CTL_ADD, box.fd, &event);
    }
    if (pending_.empty()) {  // all taken before is in the transcript
        pending_.swap(posts_);
        ++taken_;
    }
    woken_ = false;
    std::uint64_t count;  // and the wake-ups that brought them
    (void)!::read(wake_, &count, sizeof count);
}

// Sends a client what is new for it, and cuts it off if it fell too far
// behind, took nothing for too long, or is too slow to leave. False once
// it has left and has had all it will get: then it is forgotten.
bool Writer::serve(Outbox& box)
{
    std::uint64_t until = box.until;
    if (until != never && box.leave_by == Clock::time_point::max())
        box.leave_by = now_ + stall_limit_;
    if (!box.stopped && (!box.full || behind(box) > limit_))
        send_to(box);  // even if full: what it takes, before it is judged
    if (box.stopped)
        box.done = last();  // it holds up no line
    else if (behind(box) > limit_)
        cut(box, "too far behind");  // a SendQ, as IRC servers have
    else if (box.full && now_ - box.took >= stall_limit_)
        cut(box, "took nothing for too long");
    else if (now_ >= box.leave_by && behind(box) > 0)
        cut(box, "took too little to say goodbye");
    bool all_in = last()->number + 1 >= until;  // all lines before it left
    return !all_in || behind(box) > 0;
}

std::size_t Writer::behind(const Outbox& box) const
{
    return lines_.back().end - box.done->end - box.sent;
}

void Writer::send_to(Outbox& box)
{
    for (;;) {
        iovec pieces[most_pieces];  // its next lines, as they are
        int n = 0;
        std::size_t skip = box.sent;
        for (auto it = std::next(box.done);
             it != lines_.end() && n < most_pieces; ++it)
            if (box.hears(*it)) {
                pieces[n++] = {it->text.data() + skip, it->text.size() - skip};
                skip = 0;
            }
        if (n == 0) {  // it has all (sent is 0): the rest is not for it
            box.done = last();
            return;
        }
        msghdr message{};
        message.msg_iov = pieces;
        message.msg_iovlen = static_cast<std::size_t>(n);
        ssize_t sent = ::sendmsg(box.fd, &message, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return watch(box, true);  // full: epoll says when there is room
        if (sent < 0 && errno != EINTR)
            return cut(box, nullptr);  // EPIPE, ECONNRESET: it has gone
        if (sent < 0)
            continue;
        box.took = now_;
        std::size_t left = box.sent + static_cast<std::size_t>(sent);
        for (auto it = std::next(box.done); left > 0; ++it) {  // moves done
            // past the lines sent, and past those for others (0 bytes)
            std::size_t size = box.hears(*it) ? it->text.size() : 0;
            if (left < size)
                break;
            left -= size;
            box.done = it;
        }
        box.sent = left;
    }
}

void Writer::cut(Outbox& box, const char* why)  // why: null if it has gone
{
    {
        std::lock_guard lock(lock_);
        box.cut_off = why;
        box.stopped = true;
    }
    box.done = last();  // it holds up no line
    box.sent = 0;
    watch(box, false);
    linger reset{1, 0};  // at close: what it never took is thrown away, not
    ::setsockopt(box.fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);  // kept
    ::shutdown(box.fd, SHUT_RDWR);  // its reader sees the end, and leaves
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
