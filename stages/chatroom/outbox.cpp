#include "outbox.hpp"

#include <algorithm>
#include <cerrno>
#include <linux/sockios.h>
#include <malloc.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <system_error>
#include <unistd.h>

namespace chat {

constexpr std::size_t most_pieces = 1024;  // lines one sendmsg takes (IOV_MAX)

Writer::Writer(std::mutex& lock, std::size_t limit,
               std::chrono::milliseconds stall_limit)
    : lock_(lock), limit_(limit), stall_limit_(stall_limit),
      epoll_(::epoll_create1(EPOLL_CLOEXEC)),
      wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK))
{
    epoll_event event{};  // data.ptr null: the eventfd; an outbox otherwise
    event.events = EPOLLIN;
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

void Writer::wake()
{
    std::uint64_t one = 1;
    (void)!::write(wake_, &one, sizeof one);
}

void Writer::send_and_keep_pace(std::unique_lock<std::mutex>& lock)
{
    std::uint64_t mine = next_number_ - 1;  // the last line posted
    if (!posts_.empty())
        wake();
    progress_.wait(lock, [&] {  // until the Writer has taken it, and pace
        bool taken = posts_.empty() || posts_.front().number > mine;
        return stopping_ || (taken && !pace_);
    });
}

const char* Writer::remove(std::unique_lock<std::mutex>& lock, Outbox& box)
{
    if (box.until == never)  // a client that never joined
        box.until = next_number_;
    wake();
    progress_.wait(lock, [&] { return stopping_ || box.removed; });
    return box.cut_off;
}

// One pass: takes new clients and posted lines, serves every client, and
// lets go of the lines that all of them have had.
void Writer::run()
{
    epoll_event events[64];
    Clock::time_point checked;
    std::size_t freed = 0;  // bytes let go of, of late
    for (;;) {
        int n = ::epoll_wait(epoll_, events, 64,
                             static_cast<int>(patience.count()));
        now_ = Clock::now();
        bool once_a_second = now_ >= checked + std::chrono::seconds(1);
        {
            std::lock_guard lock(lock_);
            if (stopping_)
                return;
            take_posts();
            for (Outbox* box = all_; once_a_second && box != nullptr;
                 box = box->next)  // closes who did not join in time
                if (now_ >= box->close_at)
                    ::shutdown(box->fd, SHUT_RD);  // sending goes on
        }
        if (once_a_second) {
            checked = now_;
            if (std::exchange(freed, 0) > limit_)
                ::malloc_trim(0);  // glibc gives back what a burst took
        }
        for (int i = 0; i < n; ++i)  // a full socket has room again
            if (auto* box = static_cast<Outbox*>(events[i].data.ptr))
                box->full = false;
        bool pace = false;
        std::uint64_t needed = last()->number;  // the oldest line still needed
        for (Outbox** link = &all_; *link != nullptr;) {
            Outbox& box = **link;
            if (!serve(box)) {
                *link = box.next;
                ::epoll_ctl(epoll_, EPOLL_CTL_DEL, box.fd, nullptr);
                std::lock_guard lock(lock_);
                box.removed = true;  // its owner may destroy it now
                continue;
            }
            pace = pace || (behind(box) > limit_ / 4 && reads(box));
            needed = std::min(needed, box.done->number);
            link = &box.next;
        }
        for (; lines_.front().number < needed; lines_.pop_front())
            freed += lines_.front().text.size();  // all have had it
        std::lock_guard lock(lock_);
        pace_ = pace;
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
        epoll_event event{};  // edge-triggered: EPOLLOUT when a full socket
        event.events = EPOLLOUT | EPOLLET;  // has room again, a hang-up once
        event.data.ptr = &box;
        ::epoll_ctl(epoll_, EPOLL_CTL_ADD, box.fd, &event);
    }
    lines_.splice(lines_.end(), posts_);
    std::uint64_t count;  // and the wake-ups that brought them
    (void)!::read(wake_, &count, sizeof count);
}

// Sends a client what is new for it. Cuts it off if it is too far behind
// and no longer reads, or took nothing for too long. False once it has
// left and has had all: then it is forgotten.
bool Writer::serve(Outbox& box)
{
    if (!box.stopped && (!box.full || behind(box) > limit_))
        send_to(box);  // even if full: what it takes, before it is judged
    if (box.stopped)
        box.done = last();  // it holds up no line
    else if (behind(box) > limit_ && !reads(box))
        cut(box, "too far behind");  // a SendQ, as IRC servers have
    else if (box.full && now_ - box.took >= stall_limit_ && !drains(box))
        cut(box, "took nothing for too long");
    bool all_in = last()->number + 1 >= box.until;  // all before it left
    return !all_in || behind(box) > 0;
}

// A full socket says it has room only once a third of it is free: what the
// kernel holds for a client that reads slowly shrinks meanwhile.
bool Writer::drains(Outbox& box)
{
    int queued = 0;
    ::ioctl(box.fd, SIOCOUTQ, &queued);
    bool shrank = queued < std::exchange(box.queued, queued);
    if (shrank)
        box.took = now_;
    return shrank;
}

void Writer::send_to(Outbox& box)
{
    for (;;) {
        iovec pieces[most_pieces];  // its next lines, as they are
        Transcript::iterator lines[most_pieces];
        std::size_t n = 0;
        for (auto it = std::next(box.done);
             it != lines_.end() && n < most_pieces; ++it)
            if (box.hears(*it)) {
                std::size_t skip = n == 0 ? box.sent : 0;
                lines[n] = it;
                pieces[n++] = {it->text.data() + skip, it->text.size() - skip};
            }
        if (n == 0) {  // it has all: the rest is not for it
            box.done = last();
            return;
        }
        msghdr message{};
        message.msg_iov = pieces;
        message.msg_iovlen = n;
        ssize_t sent = ::sendmsg(box.fd, &message, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!std::exchange(box.full, true)) {  // full just now:
                box.took = now_;  // it owes us nothing until now
                ::ioctl(box.fd, SIOCOUTQ, &box.queued);  // for drains
            }
            return;  // epoll says when it has room
        }
        if (sent < 0 && errno != EINTR)
            return cut(box, nullptr);  // EPIPE, ECONNRESET: it has gone
        if (sent < 0)
            continue;
        box.took = now_;
        std::size_t left = box.sent + static_cast<std::size_t>(sent);
        for (std::size_t i = 0; i < n && left >= lines[i]->text.size(); ++i) {
            left -= lines[i]->text.size();
            box.done = lines[i];  // sent whole
        }
        box.sent = left;  // of the line after done
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
    linger reset{1, 0};  // at close: what it never took is thrown away, not
    ::setsockopt(box.fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);  // kept
    ::shutdown(box.fd, SHUT_RDWR);  // its reader sees the end, and leaves
}

}  // namespace chat
