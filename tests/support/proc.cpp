#include "support/proc.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

namespace adam::test {

ProcStat proc_stat(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  const std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t open = stat.find('('), close = stat.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) return {};
  std::istringstream rest(stat.substr(close + 1));
  return {stat.substr(open + 1, close - open - 1),
          {std::istream_iterator<std::string>(rest), std::istream_iterator<std::string>()}};
}

int parent_of(int pid) {
  const std::vector<std::string> fields = proc_stat(pid).fields;
  return fields.size() > 1 ? std::stoi(fields[1]) : 0;
}

std::vector<int> children_of(int pid) {
  std::vector<int> out;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    if (parent_of(std::stoi(name)) == pid) out.push_back(std::stoi(name));
  }
  return out;
}

}  // namespace adam::test
