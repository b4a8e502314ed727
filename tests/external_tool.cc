#include "external_tool.h"

#include <unistd.h>

#include <cstdlib>
#include <sstream>

#include "test_util.h"

namespace tailtrack::testing {

std::string FindProgram(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

std::string ToolResult::Describe() const {
  return "exit " + std::to_string(status) + "\nstdout:\n" + out + "\nstderr:\n" + err;
}

ToolResult RunTool(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                   std::chrono::milliseconds timeout) {
  Child child(argv, env);
  ToolResult result;
  result.status = child.Wait(timeout);
  result.out = child.out();
  result.err = child.err();
  return result;
}

std::string SourcePath(const std::string& relative) { return std::string(TAILTRACK_SOURCE_DIR) + "/" + relative; }

}  // namespace tailtrack::testing
