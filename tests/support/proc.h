#pragma once
// What /proc says of a process, for tests that check processes they made.
#include <string>
#include <vector>

namespace adam::test {

// /proc/PID/stat: the command (between its parentheses, which it may itself
// contain) and the fields from the third (the state) on. Both empty when the
// process is gone.
struct ProcStat {
  std::string comm;
  std::vector<std::string> fields;  // fields[0] the state, fields[1] the parent pid, ...
};
ProcStat proc_stat(int pid);

// The parent pid in /proc/PID/stat; 0 when the process is gone.
int parent_of(int pid);

// The processes whose parent is `pid`, zombies included.
std::vector<int> children_of(int pid);

}  // namespace adam::test
