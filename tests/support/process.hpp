// A program under test, started by the test and stopped by it: its stdin is
// a pipe, its stdout is read line by line as it comes, its stderr goes to a
// file. The destructor stops it (by pid, nothing else) if it still runs:
// SIGTERM (in the ASan build the program checks for leaks then, see
// leak_check.cpp), and SIGKILL if that has not ended it in 30 s;
// and the kernel kills it if the thread that started it dies first: start
// processes from the test's own thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <thread>
#include <vector>

namespace test {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

// How long to wait for something that should happen. Generous, because the
// sanitizer builds are several times slower; a passing test never waits it.
constexpr milliseconds event_timeout{15000};
// How long to watch for something that should NOT happen.
constexpr milliseconds quiet_period{400};

// Whether this is a sanitizer build: they are slower, and ASan keeps freed
// memory in quarantine, so memory bounds are checked in the plain build.
constexpr bool sanitized = CHAT_SANITIZED;

// Where the stage executables are, e.g. "build/plain/bin/chatserver3".
std::string stage_path(std::string_view program);

class Process {
public:
    explicit Process(std::vector<std::string> argv);
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;
    ~Process();

    pid_t pid() const { return pid_; }
    void write_stdin(std::string_view text);
    void close_stdin();
    // Stops reading its stdout, as `program | head -n1` does after a line:
    // what it prints from now on fails with EPIPE (and SIGPIPE).
    void close_stdout();
    // Stops reading its stdout for a while, as a terminal stopped with
    // Ctrl-S does: once the buffer between is full, what it prints waits.
    void hold_stdout();
    void release_stdout();

    // Waits until a line of stdout satisfies `match`, returns that line.
    // wait_for_line looks at every line so far; wait_for_next_line only
    // at lines after the one it found last time, so a test sees order.
    std::optional<std::string>
    wait_for_line(const std::function<bool(const std::string&)>& match,
                  milliseconds timeout = event_timeout);
    std::optional<std::string>
    wait_for_next_line(const std::function<bool(const std::string&)>& match,
                       milliseconds timeout = event_timeout);
    // Waits until a line of stdout so far contains `text`.
    bool shows(const std::string& text, milliseconds timeout = event_timeout);
    // Waits until stdout is closed (normally: the program ended), and
    // returns every line it printed.
    std::vector<std::string>
    wait_for_output(milliseconds timeout = event_timeout);
    std::vector<std::string> output();

    // Waits for the process to end, and for all it printed to be read;
    // returns its exit status, or -signal if it was killed.
    std::optional<int> wait_exit(milliseconds timeout = event_timeout);
    bool running();
    std::string error_output() const;  // all of stderr so far
    // Its resident memory (VmRSS), in KiB; 0 if it has ended.
    long resident_kib() const;
    // A sanitizer's report on stderr, if any ("" if none). The data races
    // of chatserver4 are its lesson, not a failure: race_test.cpp checks
    // them, and here they are left out.
    std::string sanitizer_report() const;
    // Tests that are about the report (the stage 4 race) call this, so
    // the destructor does not count the report as a failure.
    void expect_sanitizer_report() { report_expected_ = true; }

protected:
    bool races_expected_ = false;

private:
    // Stops the process and fails the test if a sanitizer reported.
    void stop_and_check();
    void read_stdout();
    std::optional<std::string>
    find_line(const std::function<bool(const std::string&)>& match,
              milliseconds timeout, size_t& from);

    bool report_expected_ = false;
    pid_t pid_ = -1;
    int pidfd_ = -1;
    int stdin_ = -1;
    int stdout_ = -1;
    std::string stderr_path_;
    std::optional<int> status_;

    std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<std::string> lines_;
    size_t next_ = 0;  // where wait_for_next_line looks from
    bool stdout_closed_ = false;
    bool held_ = false;  // hold_stdout
    std::thread reader_;
};

// A number from /proc/PID/status: "VmRSS", "VmHWM" (the peak of VmRSS),
// "VmSize" (address space), in KiB; "Threads"; 0 if the process has ended.
long proc_status(pid_t pid, const std::string& key);

// Its resident memory is back within 10 MiB of `start_kib` (checked in the
// plain build only: ASan keeps freed memory in quarantine on purpose).
void expect_memory_near(const Process& process, long start_kib);

// A networked stage (or any program printing "...: listening on port N"
// first), started on a port the OS picks.
class Server : public Process {
public:
    explicit Server(std::string_view program,
                    const std::vector<std::string>& args = {"0"},
                    int max_files = 0);  // > 0: its RLIMIT_NOFILE

    std::uint16_t port() const { return port_; }
    // Waits for the server's "Connected <address>" line about this client.
    bool saw_connected(const std::string& address,
                       milliseconds timeout = event_timeout);
    bool saw_disconnected(const std::string& address,
                          milliseconds timeout = event_timeout);

private:
    bool saw_line(const std::string& expected, milliseconds timeout);
    std::uint16_t port_ = 0;
};

}  // namespace test
