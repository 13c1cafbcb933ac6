#include "burst.hpp"

#include <utility>
#include <vector>

namespace chat {
namespace {

// A list longer than any real one (one entry per socket written to, as a
// rule) is flushed early, to bound memory.
constexpr std::size_t max_deferred = 1 << 16;

struct Pending {
    std::shared_ptr<void> object;
    void (*flush)(void*) noexcept;
};

struct Burst {
    bool active = false;
    std::vector<Pending> deferred;

    void flush() noexcept
    {
        // Takes the list, so that its memory goes when we are done.
        std::vector<Pending> now;
        now.swap(deferred);
        for (const Pending& pending : now)
            pending.flush(pending.object.get());
    }
    ~Burst() { flush(); }  // the thread ends: nothing may stay behind
};

thread_local Burst burst;

}  // namespace

bool in_burst() noexcept
{
    return burst.active;
}

void set_burst(bool more_lines) noexcept
{
    burst.active = more_lines;
}

void detail::defer(std::shared_ptr<void> pending, void (*flush)(void*) noexcept)
{
    burst.deferred.push_back({std::move(pending), flush});
    if (burst.deferred.size() >= max_deferred)
        burst.flush();
}

void end_burst() noexcept
{
    burst.active = false;
    burst.flush();
}

}  // namespace chat
