#include "rules/matcher.h"

#include <algorithm>
#include <cstring>
#include <limits>

namespace tailtrack {
namespace {

using Class = std::array<bool, 256>;
constexpr uint32_t kInfinite = std::numeric_limits<uint32_t>::max();

bool IsWord(int c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsSpace(int c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }  // RE2's \s
bool IsPunct(unsigned char c) { return c < 0x80 && c > 0x20 && c != 0x7f && !IsWord(c); }

// Fills `cls` for the Perl class escape `e` (d D s S w W); false for others.
bool PerlClass(char e, Class* cls) {
  bool (*pred)(int) = nullptr;
  bool negate = false;
  switch (e) {
    case 'd': pred = [](int c) { return c >= '0' && c <= '9'; }; break;
    case 'D': pred = [](int c) { return c >= '0' && c <= '9'; }; negate = true; break;
    case 's': pred = IsSpace; break;
    case 'S': pred = IsSpace; negate = true; break;
    case 'w': pred = IsWord; break;
    case 'W': pred = IsWord; negate = true; break;
    default: return false;
  }
  for (int c = 0; c < 256; ++c) (*cls)[c] = pred(c) != negate;
  return true;
}

// A control-character escape (\n \t ...) or escaped punctuation as one byte.
bool EscapedLiteral(char e, char* out) {
  switch (e) {
    case 'n': *out = '\n'; return true;
    case 't': *out = '\t'; return true;
    case 'r': *out = '\r'; return true;
    case 'f': *out = '\f'; return true;
    case 'v': *out = '\v'; return true;
    case 'a': *out = '\a'; return true;
    default:
      if (IsPunct(static_cast<unsigned char>(e))) {
        *out = e;
        return true;
      }
      return false;
  }
}

class Parser {
 public:
  explicit Parser(std::string_view p) : p_(p) {}

  // Parses `[...]` at p_[i] (i at '['); sets i past ']'.
  bool ParseBracket(size_t& i, Class* cls) {
    ++i;
    bool negate = false;
    if (i < p_.size() && p_[i] == '^') negate = true, ++i;
    Class set{};
    bool first = true;
    while (i < p_.size() && (p_[i] != ']' || first)) {
      first = false;
      int lo;
      if (p_[i] == '\\') {
        if (i + 1 >= p_.size()) return false;
        Class perl;
        if (PerlClass(p_[i + 1], &perl)) {
          for (int c = 0; c < 256; ++c) set[c] = set[c] || perl[c];
          i += 2;
          continue;
        }
        char lit;
        if (!EscapedLiteral(p_[i + 1], &lit)) return false;
        lo = static_cast<unsigned char>(lit);
        i += 2;
      } else if (p_[i] == '[' && i + 1 < p_.size() && p_[i + 1] == ':') {
        return false;  // [:alpha:]
      } else {
        lo = static_cast<unsigned char>(p_[i]);
        if (lo >= 0x80) return false;
        ++i;
      }
      int hi = lo;
      if (i + 1 < p_.size() && p_[i] == '-' && p_[i + 1] != ']') {
        ++i;
        if (p_[i] == '\\') {
          char lit;
          if (i + 1 >= p_.size() || !EscapedLiteral(p_[i + 1], &lit)) return false;
          hi = static_cast<unsigned char>(lit);
          i += 2;
        } else {
          hi = static_cast<unsigned char>(p_[i]);
          if (hi >= 0x80) return false;
          ++i;
        }
        if (hi < lo) return false;
      }
      for (int c = lo; c <= hi; ++c) set[c] = true;
    }
    if (i >= p_.size()) return false;
    ++i;  // ']'
    if (negate) {
      // In UTF-8 mode RE2 matches any character not listed; on ASCII lines
      // that is every byte below 0x80 not in the set.
      for (int c = 0; c < 256; ++c) set[c] = !set[c];
    }
    for (int c = 0x80; c < 256; ++c) set[c] = false;  // lines with such bytes go to RE2
    *cls = set;
    return true;
  }

  // Parses a quantifier at p_[i], if any. Returns false on one outside the subset.
  bool ParseQuantifier(size_t& i, uint32_t* min, uint32_t* max, bool* present) {
    *present = false;
    if (i >= p_.size()) return true;
    const char c = p_[i];
    if (c == '+') {
      *min = 1, *max = kInfinite, ++i;
    } else if (c == '*') {
      *min = 0, *max = kInfinite, ++i;
    } else if (c == '?') {
      *min = 0, *max = 1, ++i;
    } else if (c == '{') {
      size_t j = i + 1;
      auto number = [&](uint32_t* out) {
        size_t start = j;
        uint64_t v = 0;
        while (j < p_.size() && p_[j] >= '0' && p_[j] <= '9' && v < 100000) v = v * 10 + (p_[j++] - '0');
        *out = static_cast<uint32_t>(v);
        return j > start;
      };
      uint32_t lo = 0, hi = 0;
      if (!number(&lo)) return false;  // RE2 would read `{` literally; keep it simple
      if (j < p_.size() && p_[j] == '}') {
        hi = lo;
      } else if (j < p_.size() && p_[j] == ',') {
        ++j;
        if (j < p_.size() && p_[j] == '}') {
          hi = kInfinite;
        } else if (!number(&hi) || hi < lo) {
          return false;
        }
        if (j >= p_.size() || p_[j] != '}') return false;
      } else {
        return false;
      }
      i = j + 1;
      *min = lo, *max = hi;
    } else {
      return true;
    }
    *present = true;
    if (i < p_.size() && (p_[i] == '?' || p_[i] == '+')) return false;  // non-greedy
    return true;
  }

  std::string_view p_;
};

}  // namespace

bool IsAscii(std::string_view text) {
  const char* p = text.data();
  size_t n = text.size();
  uint64_t acc = 0;
  while (n >= 32) {  // four words a step: the compiler makes it SIMD
    uint64_t w[4];
    std::memcpy(w, p, 32);
    acc |= w[0] | w[1] | w[2] | w[3];
    p += 32, n -= 32;
  }
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    acc |= w;
    p += 8, n -= 8;
  }
  while (n > 0) acc |= static_cast<unsigned char>(*p++), --n;
  return (acc & 0x8080808080808080ull) == 0;
}

std::unique_ptr<OnePassMatcher> OnePassMatcher::TryCompile(std::string_view p) {
  auto m = std::unique_ptr<OnePassMatcher>(new OnePassMatcher());
  Parser parser(p);
  if (p.empty() || p[0] != '^') return nullptr;
  size_t i = 1;
  std::vector<int> open;  // group numbers; 0 for non-capturing
  auto add_class = [&](const Class& cls) {
    m->classes_.push_back(cls);
    return static_cast<uint16_t>(m->classes_.size() - 1);
  };
  // Adds one atom (a byte or a class), with its quantifier.
  auto add_atom = [&](const Class& cls, int literal) -> bool {
    uint32_t min = 1, max = 1;
    bool quantified = false;
    if (!parser.ParseQuantifier(i, &min, &max, &quantified)) return false;
    if (!quantified && literal >= 0) {
      if (m->steps_.empty() || m->steps_.back().op != Step::kLiteral) m->steps_.push_back(Step{Step::kLiteral});
      m->steps_.back().literal.push_back(static_cast<char>(literal));
      return true;
    }
    Step s{Step::kRepeat};
    s.cls = add_class(cls);
    s.min = min, s.max = max;
    m->steps_.push_back(std::move(s));
    return true;
  };
  while (i < p.size()) {
    const unsigned char c = static_cast<unsigned char>(p[i]);
    if (c >= 0x80) return nullptr;
    if (c == '(') {
      int group = 0;
      if (p.substr(i, 4) == "(?P<" || (p.substr(i, 3) == "(?<" )) {
        const size_t close = p.find('>', i);
        if (close == std::string_view::npos) return nullptr;
        group = ++m->groups_;
        i = close + 1;
      } else if (p.substr(i, 3) == "(?:") {
        i += 3;
      } else if (p.substr(i, 2) == "(?") {
        return nullptr;  // flags
      } else {
        group = ++m->groups_;
        ++i;
      }
      open.push_back(group);
      if (group) {
        Step s{Step::kOpen};
        s.group = group;
        m->steps_.push_back(std::move(s));
      }
      continue;
    }
    if (c == ')') {
      if (open.empty()) return nullptr;
      const int group = open.back();
      open.pop_back();
      ++i;
      if (i < p.size() && (p[i] == '?' || p[i] == '*' || p[i] == '+' || p[i] == '{')) return nullptr;
      if (group) {
        Step s{Step::kClose};
        s.group = group;
        m->steps_.push_back(std::move(s));
      }
      continue;
    }
    if (c == '|' || c == '^' || c == '*' || c == '+' || c == '?' || c == '{') return nullptr;
    if (c == '$') {
      if (i + 1 != p.size() || !open.empty()) return nullptr;
      m->steps_.push_back(Step{Step::kEnd});
      ++i;
      continue;
    }
    Class cls{};
    if (c == '.') {
      for (int b = 0; b < 0x80; ++b) cls[b] = b != '\n';
      ++i;
      if (!add_atom(cls, -1)) return nullptr;
    } else if (c == '[') {
      if (!parser.ParseBracket(i, &cls)) return nullptr;
      if (!add_atom(cls, -1)) return nullptr;
    } else if (c == '\\') {
      if (i + 1 >= p.size()) return nullptr;
      const char e = p[i + 1];
      i += 2;
      if (PerlClass(e, &cls)) {
        for (int b = 0x80; b < 256; ++b) cls[b] = false;
        if (!add_atom(cls, -1)) return nullptr;
      } else {
        char lit;
        if (!EscapedLiteral(e, &lit)) return nullptr;
        cls[static_cast<unsigned char>(lit)] = true;
        if (!add_atom(cls, static_cast<unsigned char>(lit))) return nullptr;
      }
    } else {
      cls[c] = true;
      ++i;
      if (!add_atom(cls, c)) return nullptr;
    }
  }
  if (!open.empty() || m->groups_ >= 64) return nullptr;
  for (Step& st : m->steps_) {
    if (st.op == Step::kRepeat) st.table = m->classes_[st.cls].data();
  }

  // One-pass check: after each repetition, what must come next is never in
  // the repeated class, unless nothing more must come at all.
  for (size_t s = 0; s < m->steps_.size(); ++s) {
    if (m->steps_[s].op != Step::kRepeat) continue;
    const Class& mine = m->classes_[m->steps_[s].cls];
    Class next{};
    bool nullable = true;
    for (size_t t = s + 1; t < m->steps_.size() && nullable; ++t) {
      const Step& st = m->steps_[t];
      if (st.op == Step::kLiteral) {
        next[static_cast<unsigned char>(st.literal[0])] = true;
        nullable = false;
      } else if (st.op == Step::kRepeat) {
        const Class& other = m->classes_[st.cls];
        for (int b = 0; b < 256; ++b) next[b] = next[b] || other[b];
        if (st.min > 0) nullable = false;
      } else if (st.op == Step::kEnd) {
        nullable = false;
      }
    }
    if (nullable) continue;
    for (int b = 0; b < 256; ++b) {
      if (mine[b] && next[b]) return nullptr;
    }
  }
  return m;
}

bool OnePassMatcher::Run(std::string_view text, std::string_view* caps, size_t* stop) const {
  const char* const base = text.data();
  const size_t n = text.size();
  size_t pos = 0;
  size_t open_at[64];  // TryCompile refuses patterns of 64 groups or more
  for (const Step& s : steps_) {
    switch (s.op) {
      case Step::kLiteral: {
        const size_t len = s.literal.size();
        if (n - pos < len) return *stop = pos, false;
        const char* lit = s.literal.data();
        const char* at = base + pos;
        if (at[0] != lit[0]) return *stop = pos, false;  // most mismatches end here, without a call
        if (std::memcmp(at, lit, len) != 0) return *stop = pos, false;
        pos += len;
        break;
      }
      case Step::kRepeat: {
        const bool* cls = s.table;
        const size_t start = pos;
        const size_t limit = s.max == kInfinite ? n : std::min(n, pos + s.max);
        while (pos < limit && cls[static_cast<unsigned char>(base[pos])]) ++pos;
        if (pos - start < s.min) return *stop = pos, false;
        break;
      }
      case Step::kOpen:
        open_at[s.group] = pos;
        break;
      case Step::kClose:
        caps[s.group] = std::string_view(base + open_at[s.group], pos - open_at[s.group]);
        break;
      case Step::kEnd:
        if (pos != n) return *stop = pos, false;
        break;
    }
  }
  caps[0] = std::string_view(base, pos);
  *stop = pos;
  return true;
}

bool OnePassMatcher::Match(std::string_view text, std::string_view* caps, bool* exact) const {
  // Every byte consumed is ASCII (literals and class tables hold no byte >=
  // 0x80), so the only byte that can be read differently by RE2, which reads
  // UTF-8 characters, is the one the matcher stopped at: every decision was
  // made on consumed bytes and that one.
  size_t stop;
  const bool ok = Run(text, caps, &stop);
  *exact = stop >= text.size() || static_cast<unsigned char>(text[stop]) < 0x80;
  return ok;
}

namespace {

// The repetition at p[i], if any (`?`, `*`, `+`, `{n}`, `{n,}`, `{n,m}`, each
// perhaps lazy): sets i past it and *min to its minimum. A `{` that is not a
// repetition is a literal to RE2; it is reported as one of minimum 0, which is
// conservative for RequiredLiteral.
bool SkipRepetition(std::string_view p, size_t& i, uint32_t* min) {
  if (i >= p.size()) return false;
  const char c = p[i];
  if (c == '?' || c == '*') {
    *min = 0, ++i;
  } else if (c == '+') {
    *min = 1, ++i;
  } else if (c == '{') {
    size_t j = i + 1;
    uint32_t lo = 0;
    const size_t digits = j;
    while (j < p.size() && p[j] >= '0' && p[j] <= '9') lo = std::min<uint32_t>(lo * 10 + (p[j++] - '0'), 100000);
    if (j == digits) {
      *min = 0, ++i;  // `{` as a literal: drop it
      return true;
    }
    if (j < p.size() && p[j] == ',') {
      ++j;
      while (j < p.size() && p[j] >= '0' && p[j] <= '9') ++j;
    }
    if (j >= p.size() || p[j] != '}') {
      *min = 0, ++i;
      return true;
    }
    *min = lo, i = j + 1;
  } else {
    return false;
  }
  if (i < p.size() && p[i] == '?') ++i;  // lazy
  return true;
}

// Skips the class `[...]` at p[i] (i at '[').
void SkipClass(std::string_view p, size_t& i) {
  ++i;
  if (i < p.size() && p[i] == '^') ++i;
  if (i < p.size() && p[i] == ']') ++i;
  while (i < p.size() && p[i] != ']') {
    if (p[i] == '[' && i + 1 < p.size() && p[i + 1] == ':') {  // [:alpha:]
      const size_t close = p.find(":]", i + 2);
      i = close == std::string_view::npos ? p.size() : close + 2;
      continue;
    }
    i += p[i] == '\\' ? 2 : 1;
  }
  ++i;
}

}  // namespace

std::string RequiredLiteral(std::string_view p) {
  // Conservative: only the top level of a pattern without alternation, without
  // flags at the top level and without escapes longer than two characters
  // (`\x41`, `\pL`, `\Q...\E`, octal); a group, class or class escape ends a
  // run of literal characters, and a character that may repeat or be absent
  // ends its run (kept when it must appear at least once).
  if (p.find('|') != std::string_view::npos) return {};
  std::string best, run;
  auto end_run = [&] {
    if (run.size() > best.size()) best = run;
    run.clear();
  };
  uint32_t min = 0;
  size_t i = 0;
  while (i < p.size()) {
    const unsigned char c = static_cast<unsigned char>(p[i]);
    if (c == '(') {
      end_run();
      const std::string_view rest = p.substr(i + 1);
      if (rest.starts_with("?") && !rest.starts_with("?P<") && !rest.starts_with("?<")) {
        const size_t end = rest.find_first_of(":)");
        if (end == std::string_view::npos || rest[end] == ')') return {};  // `(?i)`: flags for what follows
      }
      int depth = 0;
      for (; i < p.size(); ++i) {  // skip the group, with classes and escapes inside
        if (p[i] == '\\') {
          ++i;
        } else if (p[i] == '[') {
          SkipClass(p, i);
          --i;
        } else if (p[i] == '(') {
          ++depth;
        } else if (p[i] == ')' && --depth == 0) {
          break;
        }
      }
      ++i;
      SkipRepetition(p, i, &min);
      continue;
    }
    if (c == '[') {
      end_run();
      SkipClass(p, i);
      SkipRepetition(p, i, &min);
      continue;
    }
    int literal = -1;
    size_t next = i + 1;
    if (c == '\\') {
      if (i + 1 >= p.size()) return {};
      const char e = p[i + 1];
      if (e == 'x' || e == 'p' || e == 'P' || e == 'Q' || (e >= '0' && e <= '9')) return {};
      char lit;
      if (IsPunct(static_cast<unsigned char>(e)) && EscapedLiteral(e, &lit)) literal = static_cast<unsigned char>(lit);
      next = i + 2;
    } else if (c < 0x80 && (IsWord(c) || c == ' ' || (IsPunct(c) && !std::strchr(".^$*+?{}()[]|\\", c)))) {
      literal = c;
    }
    i = next;
    const bool repeated = SkipRepetition(p, i, &min);
    if (literal < 0) {
      end_run();
    } else if (!repeated) {
      run.push_back(static_cast<char>(literal));
    } else {
      if (min > 0) run.push_back(static_cast<char>(literal));
      end_run();
    }
  }
  end_run();
  return best;
}

}  // namespace tailtrack
