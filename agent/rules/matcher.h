// Matching a rule's regex against a line, fast.
//
// RE2 is the reference for what a regex means, and the only engine for
// patterns outside the subset below. RE2 asked for more than four captures
// leaves its one-pass engine (here: ~1.7 µs for a 110-byte line with six
// captures), so the common shape of a log regex gets its own matcher:
//
//   anchored (`^`), a sequence of literal characters and single-character
//   classes (`\S`, `\d`, `\w`, `\s`, their negations, `.`, `[...]`) with
//   greedy quantifiers (`+ * ? {n} {n,} {n,m}`), in groups (`(?P<name>...)`,
//   `(...)`, `(?:...)`) that are not quantified, no alternation, optionally
//   `$` at the end;
//   and one-pass: after each repetition, the character that must come next can
//   never belong to the repeated class (`\S+ ` is fine, `.*x` is not).
//
// For such a pattern and an ASCII line, matching greedily without ever
// backtracking finds exactly the captures that RE2 (leftmost-first, like
// Perl) finds, and fails exactly when RE2 fails. Where a byte >= 0x80 could
// change that (RE2 reads UTF-8 characters), the match goes to RE2.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tailtrack {

class OnePassMatcher {
 public:
  // nullptr when `pattern` is outside the subset (RE2 syntax assumed valid).
  static std::unique_ptr<OnePassMatcher> TryCompile(std::string_view pattern);

  // Matches `text` from its start. On success fills caps[0] (the whole match)
  // and caps[1..groups] (RE2's group numbering); `caps` holds at least
  // groups()+1 views. Bytes >= 0x80 are in no class of the matcher: `*exact` is
  // false when such a byte is where matching stopped; RE2, which reads UTF-8
  // characters, must decide then. Otherwise (always, for an ASCII `text`) the
  // answer and the captures are RE2's, without a scan of the whole line for
  // such bytes.
  bool Match(std::string_view text, std::string_view* caps, bool* exact) const;

  int groups() const { return groups_; }

 private:
  struct Step {
    enum Op : uint8_t { kLiteral, kRepeat, kOpen, kClose, kEnd };
    explicit Step(Op o) : op(o) {}
    Op op;
    uint16_t cls = 0;  // kRepeat: index into classes_
    int group = 0;     // kOpen / kClose
    uint32_t min = 0, max = 0;
    std::string literal;
    const bool* table = nullptr;  // kRepeat: classes_[cls], set once compiled
  };
  using Class = std::array<bool, 256>;

  // Matches greedily; `*stop` is where it ended or failed.
  bool Run(std::string_view text, std::string_view* caps, size_t* stop) const;

  std::vector<Step> steps_;
  std::vector<Class> classes_;
  int groups_ = 0;
};

// True when every byte of `text` is below 0x80.
bool IsAscii(std::string_view text);

// A literal that every match of `pattern` contains (the longest one found by a
// conservative scan of the top level of the pattern), or empty. A line without
// it cannot match, which saves running the regex.
std::string RequiredLiteral(std::string_view pattern);

}  // namespace tailtrack
