// Linked into chatroom_failing_new, a copy of the chat room for one test:
// operator new throws std::bad_alloc for every allocation of exactly the
// size in CHAT_FAILING_NEW_SIZE, so the test makes one client's thread
// fail where it chooses, by sending a line of a chosen length. Any other
// allocation is malloc's, as usual.
#include <cstdlib>
#include <new>

namespace {

std::size_t failing_size()
{
    static const std::size_t size = [] {
        // NOLINTNEXTLINE(concurrency-mt-unsafe): first new is before main
        const char* text = std::getenv("CHAT_FAILING_NEW_SIZE");
        return text != nullptr ? std::strtoull(text, nullptr, 10) : 0;
    }();
    return size;
}

}  // namespace

void* operator new(std::size_t size)
{
    if (size == failing_size())
        throw std::bad_alloc();
    if (void* memory = std::malloc(size > 0 ? size : 1))
        return memory;
    throw std::bad_alloc();
}

void operator delete(void* memory) noexcept
{
    std::free(memory);
}
void operator delete(void* memory, std::size_t) noexcept
{
    std::free(memory);
}
