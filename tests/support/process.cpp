#include "process.hpp"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <gtest/gtest.h>
#include <poll.h>
#include <sstream>
#include <stdexcept>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <system_error>
#include <unistd.h>

namespace test {

namespace {

void check(bool ok, const char* what)
{
    if (!ok)
        throw std::runtime_error(std::string(what) + ": " +
                                 std::generic_category().message(errno));
}

int remaining_ms(Clock::time_point deadline)
{
    auto left =
        std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

}  // namespace

std::string stage_path(std::string_view program)
{
    return std::string(CHAT_BIN_DIR) + "/" + std::string(program);
}

Process::Process(std::vector<std::string> argv)
{
    int in[2];
    int out[2];
    check(pipe2(in, O_CLOEXEC) == 0, "pipe");
    // stdout is a socket, not a pipe, so that close_stdout can end the
    // reading while the reader thread waits in read().
    check(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, out) == 0,
          "socketpair");
    char path[] = "/tmp/chatserver-test-stderr-XXXXXX";
    int err = mkstemp(path);
    check(err >= 0, "mkstemp");
    stderr_path_ = path;

    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (std::string& arg : argv)
        args.push_back(arg.data());
    args.push_back(nullptr);
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ == 0) {
        // The child. If the test process dies (a crash, an abort), the
        // kernel kills this program too: no server outlives its test.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent)
            ::_exit(127);
        ::dup2(in[0], 0);
        ::dup2(out[1], 1);
        ::dup2(err, 2);
        ::execv(args[0], args.data());
        ::_exit(127);  // could not run it: the test sees status 127
    }
    int fork_errno = errno;
    ::close(in[0]);
    ::close(out[1]);
    ::close(err);
    if (pid_ < 0) {
        ::close(in[1]);
        ::close(out[0]);
        errno = fork_errno;
        check(false, "fork");
    }
    stdin_ = in[1];
    stdout_ = out[0];
    pidfd_ = static_cast<int>(syscall(SYS_pidfd_open, pid_, 0));
    check(pidfd_ >= 0, "pidfd_open");
    reader_ = std::thread(&Process::read_stdout, this);
}

Process::~Process()
{
    release_stdout();
    stop_and_check();
    close_stdin();
    reader_.join();  // ends when the child's stdout closes
    ::close(stdout_);
    ::close(pidfd_);
    ::unlink(stderr_path_.c_str());
}

void Process::stop_and_check()
{
    if (!wait_exit(milliseconds(0))) {
        ::kill(pid_, SIGTERM);  // our own child, by pid; nothing else. In
        if (!wait_exit(seconds(30))) {  // the ASan build: a leak check first
            ::kill(pid_, SIGKILL);
            wait_exit(seconds(60));
        }
    }
    std::string report = sanitizer_report();
    if (!report_expected_ && !report.empty()) {
        report_expected_ = true;  // say it once
        ADD_FAILURE() << "the program's sanitizer reported:\n" << report;
    }
}

void Process::read_stdout()
{
    std::string partial;
    char chunk[4096];
    for (;;) {
        {
            std::unique_lock lock(mutex_);
            changed_.wait(lock, [this] { return !held_; });
        }
        ssize_t n = ::read(stdout_, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        std::lock_guard lock(mutex_);
        if (n <= 0) {
            if (!partial.empty())
                lines_.push_back(partial);
            stdout_closed_ = true;
            changed_.notify_all();
            return;
        }
        partial.append(chunk, static_cast<size_t>(n));
        for (size_t end; (end = partial.find('\n')) != std::string::npos;) {
            lines_.push_back(partial.substr(0, end));
            partial.erase(0, end + 1);
        }
        changed_.notify_all();
    }
}

void Process::close_stdout()
{
    ::shutdown(stdout_, SHUT_RDWR);  // the reader thread sees the end
}

void Process::hold_stdout()
{
    std::lock_guard lock(mutex_);
    held_ = true;
}

void Process::release_stdout()
{
    std::lock_guard lock(mutex_);
    held_ = false;
    changed_.notify_all();
}

void Process::write_stdin(std::string_view text)
{
    while (!text.empty()) {
        ssize_t n = ::write(stdin_, text.data(), text.size());
        if (n < 0 && errno == EINTR)
            continue;
        check(n > 0, "write to child's stdin");
        text.remove_prefix(static_cast<size_t>(n));
    }
}

void Process::close_stdin()
{
    if (stdin_ >= 0)
        ::close(stdin_);
    stdin_ = -1;
}

std::optional<std::string>
Process::wait_for_line(const std::function<bool(const std::string&)>& match,
                       milliseconds timeout)
{
    size_t from = 0;
    return find_line(match, timeout, from);
}

std::optional<std::string> Process::wait_for_next_line(
    const std::function<bool(const std::string&)>& match, milliseconds timeout)
{
    return find_line(match, timeout, next_);
}

std::optional<std::string>
Process::find_line(const std::function<bool(const std::string&)>& match,
                   milliseconds timeout, size_t& from)
{
    std::unique_lock lock(mutex_);
    auto deadline = Clock::now() + timeout;
    for (;;) {
        for (; from < lines_.size(); ++from)
            if (match(lines_[from]))
                return lines_[from++];
        if (stdout_closed_ ||
            changed_.wait_until(lock, deadline) == std::cv_status::timeout) {
            for (; from < lines_.size(); ++from)  // what came at the end
                if (match(lines_[from]))
                    return lines_[from++];
            return std::nullopt;
        }
    }
}

std::vector<std::string> Process::wait_for_output(milliseconds timeout)
{
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, timeout, [this] { return stdout_closed_; });
    return lines_;
}

std::vector<std::string> Process::output()
{
    std::lock_guard lock(mutex_);
    return lines_;
}

std::optional<int> Process::wait_exit(milliseconds timeout)
{
    if (status_)
        return status_;
    pollfd p{pidfd_, POLLIN, 0};  // readable once the process has ended
    auto deadline = Clock::now() + timeout;
    int rc;
    while ((rc = ::poll(&p, 1, remaining_ms(deadline))) < 0 && errno == EINTR) {
    }
    if (rc <= 0)
        return std::nullopt;
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    wait_for_output(std::chrono::duration_cast<milliseconds>(
        deadline - Clock::now()));  // and for the last lines it printed
    return status_;
}

bool Process::running()
{
    return !wait_exit(milliseconds(0));
}

void expect_memory_near(const Process& process, long start_kib)
{
    constexpr long slack_kib = 10L * 1024;
    const long now = process.resident_kib();
    EXPECT_GT(now, 0) << "the process has ended: it has no memory to check";
    if (!sanitized) {
        EXPECT_LT(now, start_kib + slack_kib);
    }
}

long proc_status(pid_t pid, const std::string& key)
{
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string word;
    while (status >> word)
        if (word == key + ":" && status >> word)
            return std::stol(word);
    return 0;
}

long Process::resident_kib() const
{
    return proc_status(pid_, "VmRSS");
}

std::string Process::error_output() const
{
    std::ifstream file(stderr_path_);
    std::ostringstream text;
    text << file.rdbuf();
    return text.str();
}

Server::Server(std::string_view program, const std::vector<std::string>& args,
               int max_files)
    : Process([&] {
          std::vector<std::string> argv{stage_path(program)};
          if (max_files > 0)  // the shell lowers the limit, then becomes it
              argv.insert(argv.begin(),
                          {"/bin/sh", "-c",
                           "ulimit -n " + std::to_string(max_files) +
                               " && exec \"$0\" \"$@\""});
          argv.insert(argv.end(), args.begin(), args.end());
          return argv;
      }())
{
    races_expected_ = program == "chatserver4";
    const std::string marker = ": listening on port ";
    auto line = wait_for_line([&](const std::string& l) {
        return l.find(marker) != std::string::npos;
    });
    if (!line)
        throw std::runtime_error(std::string(program) +
                                 " did not start: " + error_output());
    port_ = static_cast<std::uint16_t>(
        std::stoi(line->substr(line->find(marker) + marker.size())));
}

bool Process::shows(const std::string& text, milliseconds timeout)
{
    auto has_it = [&](const std::string& line) {
        return line.find(text) != std::string::npos;
    };
    return wait_for_line(has_it, timeout).has_value();
}

bool Server::saw_connected(const std::string& address, milliseconds timeout)
{
    return saw_line("Connected " + address, timeout);
}

bool Server::saw_disconnected(const std::string& address, milliseconds timeout)
{
    return saw_line("Disconnected " + address, timeout);
}

bool Server::saw_line(const std::string& expected, milliseconds timeout)
{
    auto is_it = [&](const std::string& line) { return line == expected; };
    return wait_for_line(is_it, timeout).has_value();
}

std::string Process::sanitizer_report() const
{
    const std::string text = error_output();
    for (const char* marker :
         {"WARNING: ThreadSanitizer", "ERROR: AddressSanitizer",
          "ERROR: LeakSanitizer", "runtime error:"}) {
        for (size_t at = text.find(marker); at != std::string::npos;
             at = text.find(marker, at + 1)) {
            const std::string race = "WARNING: ThreadSanitizer: data race (";
            if (races_expected_ && text.compare(at, race.size(), race) == 0)
                continue;
            return text.substr(at, 6000);
        }
    }
    return "";
}

}  // namespace test
