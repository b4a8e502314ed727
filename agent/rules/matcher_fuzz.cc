// libFuzzer: the one-pass matcher against RE2, differentially.
//
// From the fuzz bytes: a pattern, grown from a small grammar of the shapes the
// matcher takes (literals, escapes, `\S+`, `[^x]*`, `[0-9.]+`, `[A-Z]{3}`,
// groups, named captures, `$`) and of near misses it must refuse (optional and
// repeated groups, alternation, flags, lazy quantifiers, assertions, POSIX
// classes, `\x41`...); a line that the grammar made to match, then mutated.
// Whenever the matcher takes the pattern and says its answer is exact (always
// on ASCII lines; on others unless a byte >= 0x80 is where it stopped), as
// RuleSet uses it, match/no-match and every capture must be RE2's, as the
// rules call it (RE2::Match, start anchored by the pattern's `^`, end unanchored).
// RequiredLiteral must be in every line RE2 matches.
#include <fuzzer/FuzzedDataProvider.h>
#include <re2/re2.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "rules/matcher.h"

namespace {

using tailtrack::OnePassMatcher;

struct Gen {
  FuzzedDataProvider& in;
  std::string pattern;
  std::string sample;  // a line the pattern was meant to match
  int groups = 0;

  char Pick(std::string_view from) { return from[in.ConsumeIntegralInRange<size_t>(0, from.size() - 1)]; }

  // Characters a class matches, to put in the sample.
  std::string_view MembersOf(std::string_view atom) {
    if (atom == "\\S" || atom == "[^ ]" || atom == ".") return "ab:x-Z09.=\"/";
    if (atom == "\\d" || atom == "[0-9]") return "0123456789";
    if (atom == "[0-9.]") return "0123.";
    if (atom == "\\w") return "aZ_09";
    if (atom == "\\s") return " \t";
    if (atom == "[A-Z]") return "ABCXYZ";
    if (atom == "[^\"]" || atom == "[^\\]]") return "ab c=";
    if (atom == "[a-c-e]") return "abc-e";
    if (atom == "[]a]") return "]a";
    if (atom == "\\W") return " -.=";
    return "abc";
  }

  // `atom` with `quantifier`, or one picked from the bytes when null.
  void Quantified(std::string_view atom, const char* q = nullptr) {
    static const char* kQuant[] = {"", "", "+", "+", "*", "?", "{3}", "{2,4}", "{2,}", "{0}", "+?", "*?", "{,3}", "{1}"};
    if (!q) q = kQuant[in.ConsumeIntegralInRange<size_t>(0, std::size(kQuant) - 1)];
    pattern.append(atom);
    pattern.append(q);
    const std::string_view members = MembersOf(atom);
    const int count = in.ConsumeIntegralInRange<int>(0, 5);
    for (int k = 0; k < count; ++k) sample.push_back(Pick(members));
  }

  void Item(int depth) {
    switch (in.ConsumeIntegralInRange<int>(0, 13)) {
      case 0:
      case 1: {  // literal text
        const int n = in.ConsumeIntegralInRange<int>(1, 4);
        for (int k = 0; k < n; ++k) {
          const char c = Pick("ab =:x-_\"0A/,]}#");
          pattern.push_back(c);
          sample.push_back(c);
        }
        if (in.ConsumeBool()) Quantifier();
        break;
      }
      case 2: {  // an escaped character
        static const char* kEsc[] = {"\\.", "\\[", "\\]", "\\-", "\\\"", "\\\\", "\\$", "\\^", "\\{", "\\}",
                                     "\\(", "\\t", "\\n", "\\r", "\\f", "\\v", "\\a", "\\ ", "\\x41", "\\101",
                                     "\\|", "\\/", "\\Qa.b\\E", "\\=", "\\#", "\\:", "\\+"};
        static const char* kLit[] = {".", "[", "]", "-", "\"", "\\", "$", "^", "{", "}", "(", "\t", "\n", "\r",
                                     "\f", "\v", "\a", " ", "A", "A", "|", "/", "a.b", "=", "#", ":", "+"};
        const size_t k = in.ConsumeIntegralInRange<size_t>(0, std::size(kEsc) - 1);
        pattern.append(kEsc[k]);
        sample.append(kLit[k]);
        if (in.ConsumeIntegralInRange(0, 3) == 0) Quantifier();
        break;
      }
      case 3:
      case 4:
      case 5: {  // a class, quantified
        static const char* kAtoms[] = {"\\S", "\\d", "\\w", "\\s", "\\W", "\\D", ".", "[^ ]", "[0-9]", "[0-9.]",
                                       "[A-Z]", "[^\"]", "[^\\]]", "[a-c-e]", "[]a]", "[^]a]", "[\\d.]", "[-a]",
                                       "[a-]", "[^\\s]", "[[:alpha:]]", "[\\x41]", "[a\\-z]", "[\\n]", "\\pL",
                                       "\\C", "[^\\n]", "[ -~]", "[\\^a]"};
        Quantified(kAtoms[in.ConsumeIntegralInRange<size_t>(0, std::size(kAtoms) - 1)]);
        break;
      }
      case 6:
      case 7:
      case 8: {  // a group
        if (depth >= 3) break;
        switch (in.ConsumeIntegralInRange<int>(0, 4)) {
          case 0: pattern.append("("), ++groups; break;
          case 1: pattern.append("(?:"); break;
          case 2: pattern.append("(?i:"); break;
          default: pattern.append("(?P<g" + std::to_string(++groups) + ">"); break;
        }
        const int n = in.ConsumeIntegralInRange<int>(0, 3);
        for (int k = 0; k < n; ++k) Item(depth + 1);
        pattern.push_back(')');
        if (in.ConsumeIntegralInRange(0, 4) == 0) Quantifier();
        break;
      }
      case 9: {  // near misses
        static const char* kMiss[] = {"|", "(?i)", "(?s)", "\\b", "\\B", "\\A", "\\z", "$", "^", "(?U)", "a|b"};
        pattern.append(kMiss[in.ConsumeIntegralInRange<size_t>(0, std::size(kMiss) - 1)]);
        break;
      }
      default: {  // the usual log shapes
        static const char* kShapes[] = {"\\S+", "[^ ]*", "[0-9.]+", "[A-Z]{3}", "\\d{2}", "\\w+", "[^\"]*", "\\d+"};
        const char* s = kShapes[in.ConsumeIntegralInRange<size_t>(0, std::size(kShapes) - 1)];
        const bool capture = in.ConsumeBool();
        if (capture) pattern.append("(?P<g" + std::to_string(++groups) + ">");
        const std::string_view shape(s);
        const size_t q = shape.find_first_of("+*{");
        Quantified(shape.substr(0, q), s + q);
        if (capture) pattern.push_back(')');
        break;
      }
    }
  }

  void Quantifier() {
    static const char* kQuant[] = {"?", "*", "+", "{2}", "{1,3}", "??", "{2,}"};
    pattern.append(kQuant[in.ConsumeIntegralInRange<size_t>(0, std::size(kQuant) - 1)]);
  }
};

// A few random edits of the sample, mostly with bytes the patterns use.
std::string Mutate(FuzzedDataProvider& in, std::string line) {
  const int edits = in.ConsumeIntegralInRange<int>(0, 3);
  for (int e = 0; e < edits; ++e) {
    const size_t pos = in.ConsumeIntegralInRange<size_t>(0, line.size());
    const uint8_t raw = in.ConsumeIntegral<uint8_t>();
    const char c = raw < 200 ? "ab =:x-_\"0A/,]}#.\t9Z"[raw % 20] : static_cast<char>(raw);
    switch (in.ConsumeIntegralInRange<int>(0, 2)) {
      case 0: line.insert(line.begin() + pos, c); break;
      case 1: if (pos < line.size()) line.erase(pos, 1); break;
      default: if (pos < line.size()) line[pos] = c; break;
    }
  }
  if (in.ConsumeIntegralInRange(0, 7) == 0) line += in.ConsumeRandomLengthString(16);
  return line;
}

[[noreturn]] void Fail(const std::string& pattern, const std::string& line, const char* what, int group = -1) {
  std::fprintf(stderr, "matcher differs from RE2 (%s, group %d)\npattern: %s\nline:    ", what, group, pattern.c_str());
  for (unsigned char c : line) std::fprintf(stderr, c < 0x20 || c >= 0x7f ? "\\x%02x" : "%c", c);
  std::fprintf(stderr, "\n");
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  Gen gen{in, {}, {}, 0};
  if (in.ConsumeIntegralInRange(0, 15) != 0) gen.pattern = "^";
  const int items = in.ConsumeIntegralInRange<int>(1, 8);
  for (int k = 0; k < items && in.remaining_bytes() > 0; ++k) gen.Item(0);
  if (in.ConsumeIntegralInRange(0, 5) == 0) gen.pattern.push_back('$');
  const std::string line = Mutate(in, gen.sample);

  RE2::Options options;
  options.set_log_errors(false);  // as RuleSet compiles rules
  const RE2 re(gen.pattern, options);
  if (!re.ok()) return 0;
  const int n = 1 + re.NumberOfCapturingGroups();
  std::vector<re2::StringPiece> want(n);
  const bool matched = re.Match(line, 0, line.size(), RE2::UNANCHORED, want.data(), n);

  if (matched) {
    const std::string literal = tailtrack::RequiredLiteral(gen.pattern);
    if (!literal.empty() && line.find(literal) == std::string::npos) Fail(gen.pattern, line, "required literal");
  }

  const auto fast = OnePassMatcher::TryCompile(gen.pattern);
  if (!fast) return 0;
  if (fast->groups() + 1 != n) Fail(gen.pattern, line, "group count");
  std::vector<std::string_view> got(n);
  bool exact = false;
  const bool fast_matched = fast->Match(line, got.data(), &exact);
  if (!exact) {  // RuleSet asks RE2 then; only a byte >= 0x80 may make it so
    if (tailtrack::IsAscii(line)) Fail(gen.pattern, line, "not exact on an ASCII line");
    return 0;
  }
  if (fast_matched != matched) Fail(gen.pattern, line, matched ? "RE2 matches" : "RE2 does not match");
  if (!matched) return 0;
  for (int g = 0; g < n; ++g) {
    const bool re2_took_part = want[g].data() != nullptr;
    const bool took_part = got[g].data() != nullptr;
    if (re2_took_part != took_part) Fail(gen.pattern, line, "participation", g);
    if (took_part && (got[g].data() != want[g].data() || got[g].size() != want[g].size())) {
      Fail(gen.pattern, line, "span", g);
    }
  }
  return 0;
}
