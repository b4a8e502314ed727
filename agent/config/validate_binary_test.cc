// `tailtrack validate` end to end: the real binary, a file on disk, exit 78
// and one line on stderr.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace tailtrack {
namespace {

struct Outcome {
  int status = -1;
  std::string out;
  std::string err;
};

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Outcome Validate(const std::string& config_path, const std::string& env = "") {
  char dir[] = "/tmp/tailtrack_validate_XXXXXX";
  EXPECT_NE(mkdtemp(dir), nullptr);
  const std::string out = std::string(dir) + "/out", err = std::string(dir) + "/err";
  const std::string command = "env " + env + " '" + TAILTRACK_BINARY + "' validate -c '" + config_path + "' >" + out +
                              " 2>" + err;
  const int raw = std::system(command.c_str());
  Outcome o{WIFEXITED(raw) ? WEXITSTATUS(raw) : -1, Slurp(out), Slurp(err)};
  unlink(out.c_str());
  unlink(err.c_str());
  rmdir(dir);
  return o;
}

TEST(ConfigValidateCommand, RejectsABadConfigWithExit78AndOneLine) {
  char path[] = "/tmp/tailtrack_bad_XXXXXX.yaml";
  const int fd = mkstemps(path, 5);
  ASSERT_GE(fd, 0);
  const std::string yaml = "collector:\n  url: https://c.example\n  write_key: k\n  timout: 5s\n";
  ASSERT_EQ(write(fd, yaml.data(), yaml.size()), static_cast<ssize_t>(yaml.size()));
  close(fd);
  const Outcome o = Validate(path);
  unlink(path);
  EXPECT_EQ(o.status, 78);
  EXPECT_EQ(o.out, "");
  EXPECT_EQ(o.err, std::string(path) + ":4:3: unknown key \"timout\" in collector (did you mean \"timeout\"?)\n");
}

TEST(ConfigValidateCommand, RejectsAMissingFileWithExit78) {
  const Outcome o = Validate("/nonexistent/tailtrack.yaml");
  EXPECT_EQ(o.status, 78);
  EXPECT_EQ(o.err, "/nonexistent/tailtrack.yaml:1:1: cannot read configuration: No such file or directory\n");
}

TEST(ConfigValidateCommand, AcceptsTheExampleConfigWithAWriteKey) {
  const Outcome o =
      Validate(std::string(TAILTRACK_SOURCE_DIR) + "/tests/data/spec/example-config.yaml", "TAILTRACK_WRITE_KEY=wk");
  EXPECT_EQ(o.status, 0) << o.err;
  EXPECT_EQ(o.out, "ok\n");
  EXPECT_EQ(o.err, "");
}

}  // namespace
}  // namespace tailtrack
