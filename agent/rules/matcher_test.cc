#include "rules/matcher.h"

#include <gtest/gtest.h>
#include <re2/re2.h>

#include <random>

namespace tailtrack {
namespace {

const char* kPatterns[] = {
    R"(^(?P<ts>\S+) INFO order completed order_id=(?P<order_id>\S+) user_id=(?P<user_id>\S+) total=(?P<total>[0-9.]+) currency=(?P<currency>[A-Z]{3}))",
    R"(^(?P<a>\d+)-(?P<b>[a-z]*)X?(?P<c>[0-9]{2,4})$)",
    R"(^\[(?P<time>[^\]]+)\] \[(?P<level>\w+)\] (?P<msg>.*)$)",
    R"re(^(\S+) (\S*) "([^"]*)")re",
    R"(^a+)",
    R"(^(?:ab)(c))",
};

// Lines near the patterns: mutations of matching lines.
std::vector<std::string> Lines() {
  std::vector<std::string> base = {
      "2026-01-20T06:30:00.123Z INFO order completed order_id=ord_456 user_id=user_123 total=99.99 currency=USD",
      "2026-01-20T06:30:00.123Z INFO order completed order_id=ord_456 user_id=user_123 total=99.99 currency=US",
      "123-abcX12", "123-abc12", "123-X1234", "7-ab", "7-X12345", "[Sun Dec 04 04:47:44 2005] [error] mod_jk child",
      "host - \"GET / HTTP/1.1\" 200", "a b \"c", "aaab", "abc", "", " ",
  };
  std::mt19937 rng(7);
  const std::string alphabet = "ab xXc-[]\"\\019._=QZ";
  std::vector<std::string> lines = base;
  for (int i = 0; i < 3000; ++i) {
    std::string s = base[rng() % base.size()];
    const int edits = 1 + rng() % 3;
    for (int e = 0; e < edits; ++e) {
      const size_t pos = s.empty() ? 0 : rng() % (s.size() + 1);
      const char c = alphabet[rng() % alphabet.size()];
      switch (rng() % 3) {
        case 0: s.insert(s.begin() + pos, c); break;
        case 1: if (pos < s.size()) s.erase(pos, 1); break;
        default: if (pos < s.size()) s[pos] = c; break;
      }
    }
    lines.push_back(s);
  }
  return lines;
}

TEST(OnePassMatcher, FindsExactlyWhatRe2FindsOnAsciiLines) {
  const auto lines = Lines();
  for (const char* pattern : kPatterns) {
    RE2 re(pattern);
    ASSERT_TRUE(re.ok()) << pattern;
    auto fast = OnePassMatcher::TryCompile(pattern);
    ASSERT_NE(fast, nullptr) << pattern;
    const int n = 1 + re.NumberOfCapturingGroups();
    ASSERT_EQ(fast->groups() + 1, n);
    std::vector<re2::StringPiece> want(n);
    std::vector<std::string_view> got(n);
    for (const auto& line : lines) {
      const bool w = re.Match(line, 0, line.size(), RE2::UNANCHORED, want.data(), n);
      bool exact = false;
      const bool g = fast->Match(line, got.data(), &exact);
      ASSERT_TRUE(exact) << pattern << "\n" << line;
      ASSERT_EQ(g, w) << pattern << "\n" << line;
      if (!w) continue;
      for (int i = 0; i < n; ++i) {
        EXPECT_EQ(got[i], std::string_view(want[i].data(), want[i].size())) << pattern << " group " << i << "\n" << line;
        EXPECT_EQ(got[i].data(), want[i].data());
      }
    }
  }
}

TEST(OnePassMatcher, OnUtf8LinesIsExactUnlessItStopsAtAByteRe2ReadsDifferently) {
  struct Case {
    const char* pattern;
    const char* line;
    bool exact;
  } cases[] = {
      {R"(^(\S+) x)", "caf\xC3\xA9 x", false},      // \S stops at the \xC3 RE2 would take
      {R"(^(\S+) x)", "ab x \xC3\xA9", true},       // past the match: RE2 never looks
      {R"(^(\S+) x$)", "ab x\xC3\xA9", false},      // `$` fails at a byte RE2 reads as a character
      {R"(^a)", "\xC3\xA9", false},
      {R"(^a)", "b\xC3\xA9", true},                 // fails on an ASCII byte
      {R"(^(?P<x>[^ ]*) )", "\xC3\xA9 ", false},
      {R"(^(\d{2})\S*)", "12ab\xC3\xA9", false},
      {R"(^(\d{2})\S*)", "12ab \xC3\xA9", true},
  };
  for (const auto& c : cases) {
    const RE2 re(c.pattern);
    auto fast = OnePassMatcher::TryCompile(c.pattern);
    ASSERT_NE(fast, nullptr) << c.pattern;
    const int n = 1 + re.NumberOfCapturingGroups();
    std::vector<re2::StringPiece> want(n);
    std::vector<std::string_view> got(n);
    const std::string_view line(c.line);
    bool exact = !c.exact;
    const bool g = fast->Match(line, got.data(), &exact);
    EXPECT_EQ(exact, c.exact) << c.pattern << " " << c.line;
    if (!exact) continue;
    const bool w = re.Match(line, 0, line.size(), RE2::UNANCHORED, want.data(), n);
    ASSERT_EQ(g, w) << c.pattern << " " << c.line;
    for (int i = 0; w && i < n; ++i) EXPECT_EQ(got[i].data(), want[i].data()) << c.pattern << " " << i;
  }
}

TEST(OnePassMatcher, LeavesPatternsOutsideTheSubsetToRe2) {
  for (const char* p : {"no anchor", "^a|b", "^(?i)abc", "^.*x", "^\\S+\\S", "^(a)?b", "^a+?", "^(?:x y)+",
                        "^\\bword", "^é", "^[[:alpha:]]+", "^(\\S+)(?: (\\d+))?$"}) {
    EXPECT_EQ(OnePassMatcher::TryCompile(p), nullptr) << p;
  }
}

TEST(OnePassMatcher, AsciiCheckSeesAnyHighByte) {
  EXPECT_TRUE(IsAscii(std::string(100, 'a')));
  for (size_t at : {0, 7, 8, 31, 32, 63, 99}) {
    std::string s(100, 'a');
    s[at] = '\xC3';
    EXPECT_FALSE(IsAscii(s)) << at;
  }
}

TEST(RequiredLiteral, FindsTheLongestLiteralEveryMatchContains) {
  EXPECT_EQ(RequiredLiteral(R"(^(?P<ts>\S+) INFO order completed order_id=(?P<order_id>\S+) user_id=)"),
            " INFO order completed order_id=");
  EXPECT_EQ(RequiredLiteral(R"(Accepted (?P<m>\S+) for)"), "Accepted ");
  EXPECT_EQ(RequiredLiteral(R"(abcd?e)"), "abc");
  EXPECT_EQ(RequiredLiteral(R"(foo|barbaz)"), "");
  EXPECT_EQ(RequiredLiteral(R"((?i)hello)"), "");
  EXPECT_EQ(RequiredLiteral(R"(x\.y\[z)"), "x.y[z");
}

// Found by matcher_fuzz: the digits of a counted repetition were taken for
// literal text, so RuleSet's prefilter dropped lines RE2 matches.
TEST(RequiredLiteral, CountedRepetitionsAreNotLiteralText) {
  EXPECT_EQ(RequiredLiteral(R"(^[A-Z]{3}$)"), "");
  EXPECT_EQ(RequiredLiteral(R"(ts=\d{10,13} (?P<user>\S+))"), "ts=");
  EXPECT_EQ(RequiredLiteral(R"((ab){2}cdef)"), "cdef");
  EXPECT_EQ(RequiredLiteral(R"([xy]{2,}?cdef)"), "cdef");
  EXPECT_EQ(RequiredLiteral(R"(abx{2}yz)"), "abx");
  EXPECT_EQ(RequiredLiteral(R"(abx{0,2}yz)"), "ab");
}

TEST(RequiredLiteral, GivesUpOnFlagsAndLongEscapes) {
  EXPECT_EQ(RequiredLiteral(R"(a\\(?i)hello)"), "");  // an escaped backslash, then flags
  EXPECT_EQ(RequiredLiteral(R"(\x41bcd)"), "");
  EXPECT_EQ(RequiredLiteral(R"(\pLbcd)"), "");
  EXPECT_EQ(RequiredLiteral(R"(\Qab\Ecd)"), "");
  EXPECT_EQ(RequiredLiteral(R"(\101bcd)"), "");
  EXPECT_EQ(RequiredLiteral(R"(x(?i:abc)yz)"), "yz");  // flags scoped to a group are fine
}

TEST(RequiredLiteral, EveryLineRe2MatchesContainsIt) {
  for (const char* pattern : {R"(^[A-Z]{3}$)", R"(ts=\d{10,13} (?P<user>\S+))", R"((ab){2}cdef)", R"(a\\(?i)hello)"}) {
    const RE2 re(pattern);
    for (const char* line : {"AAA", "ts=1700000000000 joe", "ababcdef", "a\\HELLO"}) {
      if (!RE2::PartialMatch(line, re)) continue;
      EXPECT_NE(std::string_view(line).find(RequiredLiteral(pattern)), std::string_view::npos) << pattern << " " << line;
    }
  }
}

}  // namespace
}  // namespace tailtrack
