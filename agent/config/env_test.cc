#include "config/env.h"

#include <gtest/gtest.h>

#include <map>

namespace tailtrack {
namespace {

EnvLookup TestEnv() {
  static const std::map<std::string, std::string> vars = {{"HOME", "/home/u"}, {"EMPTY", ""}, {"DOLLAR", "${HOME}"}};
  return [](const std::string& name) -> std::optional<std::string> {
    const auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

std::string Sub(const std::string& text) {
  std::string out, error;
  if (!SubstituteEnv(text, TestEnv(), false, &out, &error)) return "error: " + error;
  return out;
}

TEST(ConfigEnvSubstitution, ReplacesVariablesDefaultsAndDollars) {
  EXPECT_EQ(Sub("plain"), "plain");
  EXPECT_EQ(Sub("${HOME}/x"), "/home/u/x");
  EXPECT_EQ(Sub("a${HOME}b${HOME}c"), "a/home/ub/home/uc");
  EXPECT_EQ(Sub("${MISSING:-/var/log}"), "/var/log");
  EXPECT_EQ(Sub("${HOME:-/var/log}"), "/home/u");
  EXPECT_EQ(Sub("${EMPTY:-fallback}"), "fallback");
  EXPECT_EQ(Sub("${MISSING:-}"), "");
  EXPECT_EQ(Sub("${EMPTY}"), "");
  EXPECT_EQ(Sub("${HOME:?needed}"), "/home/u");
  EXPECT_EQ(Sub("$$"), "$");
  EXPECT_EQ(Sub("$${HOME}"), "${HOME}");
  EXPECT_EQ(Sub("cost: $5"), "cost: $5");
  EXPECT_EQ(Sub("^end$"), "^end$");
  EXPECT_EQ(Sub("$"), "$");
}

TEST(ConfigEnvSubstitution, IsNotRecursive) {
  EXPECT_EQ(Sub("${DOLLAR}"), "${HOME}");
  EXPECT_EQ(Sub("${MISSING:-$$}"), "$$");
}

TEST(ConfigEnvSubstitution, ReportsWhatIsWrong) {
  EXPECT_EQ(Sub("${MISSING}"), "error: environment variable MISSING is not set (write ${MISSING:-default} to give a default)");
  EXPECT_EQ(Sub("${MISSING:?give the log dir}"), "error: environment variable MISSING is not set: give the log dir");
  EXPECT_EQ(Sub("${EMPTY:?give it}"), "error: environment variable EMPTY is empty: give it");
  EXPECT_EQ(Sub("${MISSING:?}"), "error: environment variable MISSING is not set");
  EXPECT_EQ(Sub("x ${HOME"), "error: unterminated \"${\" (write $$ for a literal $)");
  EXPECT_EQ(Sub("${}"), "error: invalid variable reference \"${}\" (expected ${NAME}, ${NAME:-default} or "
                        "${NAME:?message}; substitution is not nested)");
  EXPECT_EQ(Sub("${1A}"), "error: invalid variable reference \"${1A}\" (expected ${NAME}, ${NAME:-default} or "
                          "${NAME:?message}; substitution is not nested)");
  EXPECT_EQ(Sub("${A-b}"), "error: invalid variable reference \"${A-b}\" (expected ${NAME}, ${NAME:-default} or "
                           "${NAME:?message}; substitution is not nested)");
}

// Found by config_values_fuzz: an error quoting a reference or a message with
// a line break was two lines.
TEST(ConfigEnvSubstitution, ErrorsQuotingLineBreaksAreOneLine) {
  EXPECT_EQ(Sub("${UN\nSET}"), "error: invalid variable reference \"${UN\\nSET}\" (expected ${NAME}, "
                               "${NAME:-default} or ${NAME:?message}; substitution is not nested)");
  EXPECT_EQ(Sub("${MISSING:?one\r\ntwo}"), "error: environment variable MISSING is not set: one\\r\\ntwo");
}

TEST(ConfigEnvSubstitution, SecretValuesAreNotQuotedInErrors) {
  std::string out, error;
  EXPECT_FALSE(SubstituteEnv("abc${not valid}", TestEnv(), true, &out, &error));
  EXPECT_EQ(error, "invalid variable reference (expected ${NAME}, ${NAME:-default} or ${NAME:?message}; "
                   "substitution is not nested)");
}

}  // namespace
}  // namespace tailtrack
