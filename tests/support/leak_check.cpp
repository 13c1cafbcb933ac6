// Linked into every program of the ASan build only, for the tests: SIGTERM
// ends the program after a leak check. LeakSanitizer checks at exit, and
// the servers never exit by themselves; the tests stop each program they
// started with SIGTERM (test::Process), so a leak of per-client state
// fails the test that caused it. Memory a running thread can still reach
// is no leak. The check runs in a thread of its own that waits for the
// signal (blocked everywhere else), not in a signal handler, where the
// allocator's locks may be held.
#include <csignal>
#include <pthread.h>
#include <sanitizer/lsan_interface.h>
#include <unistd.h>

namespace {

void* check_for_leaks_at_sigterm(void* signals)
{
    int signal = 0;
    sigwait(static_cast<sigset_t*>(signals), &signal);
    __lsan_do_leak_check();  // on a leak: a report, and exit status 23
    _exit(128 + SIGTERM);    // as if SIGTERM had ended it
}

// Before main: every thread made later inherits the blocked SIGTERM.
const bool installed = [] {
    static sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    pthread_t thread;
    pthread_create(&thread, nullptr, check_for_leaks_at_sigterm, &signals);
    pthread_detach(thread);
    return true;
}();

}  // namespace
