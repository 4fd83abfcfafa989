// Running a whole process for the benchmarks: its wall time and peak memory,
// with its stdout thrown away and its stdin fed from the caller.
#pragma once

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

namespace optdb::bench {

struct Child {
  double seconds = 0;
  long peakKiB = 0;
  int status = -1;
};

// Runs `argv` with stdin fed by `feed` (called with the pipe's write end) and
// stdout thrown away; wall time and peak RSS from wait4.
inline Child runChild(const std::vector<std::string>& argv, const std::function<void(int)>& feed) {
  int in[2];
  if (::pipe(in) != 0) std::exit(1);
  const auto start = std::chrono::steady_clock::now();
  pid_t pid = fork();
  if (pid == 0) {
    ::dup2(in[0], 0);
    ::close(in[0]);
    ::close(in[1]);
    int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    _exit(127);
  }
  ::close(in[0]);
  if (feed) feed(in[1]);
  ::close(in[1]);
  int st = 0;
  struct rusage ru {};
  ::wait4(pid, &st, 0, &ru);
  return {std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), ru.ru_maxrss, WIFEXITED(st) ? WEXITSTATUS(st) : -1};
}

}  // namespace optdb::bench
