// Random, truncated and hostile YAML: the loader returns a Config or throws
// one ConfigError line; never anything else, never a crash.
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>

#include "config/loader.h"

namespace tailtrack {
namespace {

EnvLookup FuzzEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    if (name == "TAILTRACK_WRITE_KEY") return "wk";
    return std::nullopt;
  };
}

// Loads `text`; fails the test unless the outcome is a Config or one well-formed error line.
void LoadsOrFailsCleanly(const std::string& text) {
  try {
    LoadConfigFromString(text, "f.yaml", FuzzEnv());
  } catch (const ConfigError& e) {
    const std::string what = e.what();
    EXPECT_TRUE(what.starts_with("f.yaml:")) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    EXPECT_GE(e.mark().line, 1) << what;
    EXPECT_GE(e.mark().column, 1) << what;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "unexpected exception " << e.what() << " for:\n" << text;
  } catch (...) {
    ADD_FAILURE() << "unexpected non-std exception for:\n" << text;
  }
}

std::string Example() {
  std::ifstream in(std::string(TAILTRACK_SOURCE_DIR) + "/tests/data/spec/example-config.yaml");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(ConfigFuzz, TruncatedExampleConfigsLoadOrFailCleanly) {
  const std::string example = Example();
  ASSERT_FALSE(example.empty());
  for (size_t n = 0; n < example.size(); n += 5) LoadsOrFailsCleanly(example.substr(0, n));
}

TEST(ConfigFuzz, MutatedExampleConfigsLoadOrFailCleanly) {
  const std::string example = Example();
  const std::string alphabet = "{}[]:,-'\"&*!|>#%@?$ \t\n\r\\0aZ9.~";
  std::mt19937 rng(20260120);
  for (int round = 0; round < 1500; ++round) {
    std::string text = example;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const size_t at = rng() % text.size();
      switch (rng() % 3) {
        case 0:
          text[at] = alphabet[rng() % alphabet.size()];
          break;
        case 1:
          text.insert(at, 1, alphabet[rng() % alphabet.size()]);
          break;
        default:
          text.erase(at, 1 + rng() % 8);
      }
    }
    LoadsOrFailsCleanly(text);
  }
}

TEST(ConfigFuzz, HostileYamlFailsCleanly) {
  const std::vector<std::string> inputs = {
      std::string(100000, '['),
      std::string(100000, '{'),
      std::string(5000, '-') + " a",
      "a: &x [*x]\n",
      "a: *nope\n",
      "&a a: b\n*a : c\n",
      "collector: !!binary aGVsbG8=\n",
      "? [a, b]\n: c\n",
      "? {a: b}\n: c\n",
      "%YAML 9.9\n---\na: 1\n",
      "---\na: 1\n---\nb: 2\n",
      std::string("a: \0\n", 5),
      "a: \xff\xfe\n",
      "\xef\xbb\xbf" "collector: 1\n",
      "a:\tb\n",
      "\t- x\n",
      "'unterminated\n",
      "a: |\n  x\n b: c\n",
      "collector:\n  url: https://x\n  write_key: k\nsources:\n  - *a\n",
      "collector:\n  url: https://x\n  write_key: k\nsources:\n  - name: a\n    type: file\n    paths: [x]\n"
      "rules:\n  - name: r\n    event:\n      a: " + std::string(50000, '[') + "\n",
      "collector:\n  url: https://x\n  write_key: k\nsources:\n  - name: a\n    type: file\n    paths: [x]\n"
      "rules:\n  - name: r\n    event: {a: [[[[[[[{b: [1, {c: d}]}]]]]]]]}\n",
      "collector:\n  url: https://x\n  write_key: k\nsources:\n  - name: a\n    type: file\n    paths: [x]\n"
      "tests:\n  - name: t\n    source: a\n    input: [x]\n    expect: [{a: &e [*e]}]\n",
  };
  for (const auto& text : inputs) LoadsOrFailsCleanly(text);
}

}  // namespace
}  // namespace tailtrack
