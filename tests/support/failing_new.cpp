// Linked into chatroom_failing_new, a copy of the chat room for one test:
// operator new throws std::bad_alloc for every allocation of exactly the
// size in CHAT_FAILING_NEW_SIZE (none if it is unset), so the test makes
// one client's thread fail where it chooses, by sending a line of a chosen
// length. Any other allocation is malloc's. Every form of new and delete
// is replaced, so that under a sanitizer too they all pair with each other
// (which gives up the sanitizer's own new/delete mismatch checks here).
#include <cstdint>
#include <cstdlib>
#include <new>

namespace {

std::size_t failing_size()
{
    static const std::size_t size = [] {
        // NOLINTNEXTLINE(concurrency-mt-unsafe): first new is before main
        const char* text = std::getenv("CHAT_FAILING_NEW_SIZE");
        std::size_t chosen =
            text != nullptr ? std::strtoull(text, nullptr, 10) : 0;
        return chosen > 0 ? chosen : SIZE_MAX;
    }();
    return size;
}

void* allocate(std::size_t size) noexcept  // null when it fails
{
    return size == failing_size() ? nullptr : std::malloc(size > 0 ? size : 1);
}

}  // namespace

void* operator new(std::size_t size)
{
    if (void* memory = allocate(size))
        return memory;
    throw std::bad_alloc();
}

void* operator new[](std::size_t size)
{
    return operator new(size);
}

void* operator new(std::size_t size, const std::nothrow_t&) noexcept
{
    return allocate(size);
}

void* operator new[](std::size_t size, const std::nothrow_t&) noexcept
{
    return allocate(size);
}

void operator delete(void* memory) noexcept
{
    std::free(memory);
}
void operator delete[](void* memory) noexcept
{
    std::free(memory);
}
void operator delete(void* memory, std::size_t) noexcept
{
    std::free(memory);
}
void operator delete[](void* memory, std::size_t) noexcept
{
    std::free(memory);
}
void operator delete(void* memory, const std::nothrow_t&) noexcept
{
    std::free(memory);
}
void operator delete[](void* memory, const std::nothrow_t&) noexcept
{
    std::free(memory);
}
