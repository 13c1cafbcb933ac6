// Bursts: replies that wait for the end of the input that caused them.
//
// One read often brings in many lines at once (a paste, or a client that
// talks fast). While the reader still holds more of them, this thread is
// "in a burst": a reply can wait and go out with the others, in one send
// instead of one per line. Before the reader waits for more input, the
// burst ends and everything that waited is sent. It is what std::cin does
// for std::cout: output is flushed before the program waits for input.
// The chat room's reading loop starts and ends bursts (chatroom.cpp);
// Outbox::send defers its sends while one lasts.
#pragma once

#include <memory>
#include <utility>

namespace chat {

// Whether this thread's reader still holds more complete lines.
bool in_burst() noexcept;
// Called by the reader, with whether more lines are already buffered.
void set_burst(bool more_lines) noexcept;

namespace detail {
void defer(std::shared_ptr<void> pending, void (*flush)(void*) noexcept);
}

// Calls pending->flush() when this thread's burst ends, and keeps `pending`
// alive until then. T's flush sends (or hands over for sending) what waits,
// never throws, and never defers. Call defer without holding `pending`'s
// own lock: a long list is flushed at once.
template <typename T>
void defer(std::shared_ptr<T> pending)
{
    detail::defer(std::move(pending), [](void* object) noexcept {
        static_cast<T*>(object)->flush();
    });
}

// Ends this thread's burst: flushes everything deferred. Thread exit does
// it too.
void end_burst() noexcept;

}  // namespace chat
