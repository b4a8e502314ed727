#include "event/json_writer.h"

#include <array>
#include <charconv>
#include <cmath>

namespace tailtrack::json {
namespace {

// 0: copy as is; 1: needs an escape (quote, backslash, control character).
constexpr std::array<uint8_t, 256> MakeEscapeTable() {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 0x20; ++c) t[c] = 1;
  t['"'] = 1;
  t['\\'] = 1;
  return t;
}
constexpr std::array<uint8_t, 256> kEscape = MakeEscapeTable();

constexpr char kHex[] = "0123456789abcdef";

void AppendEscapeOf(std::string& out, unsigned char c) {
  switch (c) {
    case '"': out.append("\\\"", 2); return;
    case '\\': out.append("\\\\", 2); return;
    case '\n': out.append("\\n", 2); return;
    case '\r': out.append("\\r", 2); return;
    case '\t': out.append("\\t", 2); return;
    case '\b': out.append("\\b", 2); return;
    case '\f': out.append("\\f", 2); return;
    default: {
      const char buf[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
      out.append(buf, 6);
    }
  }
}

// Escapes bytes known to be valid UTF-8.
void AppendEscapedValid(std::string& out, std::string_view s) {
  const char* p = s.data();
  const char* end = p + s.size();
  const char* run = p;
  for (; p < end; ++p) {
    if (kEscape[static_cast<unsigned char>(*p)]) {
      out.append(run, p - run);
      AppendEscapeOf(out, static_cast<unsigned char>(*p));
      run = p + 1;
    }
  }
  out.append(run, end - run);
}

constexpr char kReplacement[] = "\xEF\xBF\xBD";

// Length of the valid UTF-8 sequence at s[i], or 0 when the bytes there are
// invalid; then `*skip` is the length of the maximal invalid subpart to replace.
size_t ValidSequenceAt(const unsigned char* s, size_t n, size_t i, size_t* skip) {
  const unsigned char b = s[i];
  size_t need;
  unsigned char lo = 0x80, hi = 0xBF;  // range of the first continuation byte
  if (b < 0x80) return 1;
  if (b >= 0xC2 && b <= 0xDF) {
    need = 1;
  } else if (b == 0xE0) {
    need = 2, lo = 0xA0;
  } else if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) {
    need = 2;
  } else if (b == 0xED) {
    need = 2, hi = 0x9F;  // no UTF-16 surrogates
  } else if (b == 0xF0) {
    need = 3, lo = 0x90;
  } else if (b >= 0xF1 && b <= 0xF3) {
    need = 3;
  } else if (b == 0xF4) {
    need = 3, hi = 0x8F;
  } else {
    *skip = 1;  // a continuation byte alone, an overlong lead (C0, C1) or F5..FF
    return 0;
  }
  for (size_t k = 1; k <= need; ++k) {
    const unsigned char lo_k = k == 1 ? lo : 0x80, hi_k = k == 1 ? hi : 0xBF;
    if (i + k >= n || s[i + k] < lo_k || s[i + k] > hi_k) {
      *skip = k;
      return 0;
    }
  }
  return need + 1;
}

template <bool kEscapeIt>
void RepairInto(std::string& out, std::string_view s) {
  const auto* u = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    size_t skip = 0;
    const size_t len = ValidSequenceAt(u, n, i, &skip);
    if (len == 0) {
      out.append(kReplacement, 3);
      i += skip;
    } else if (len == 1) {
      if (kEscapeIt && kEscape[u[i]]) {
        AppendEscapeOf(out, u[i]);
      } else {
        out.push_back(static_cast<char>(u[i]));
      }
      ++i;
    } else {
      out.append(s.data() + i, len);
      i += len;
    }
  }
}

}  // namespace

void AppendEscaped(std::string& out, std::string_view s) {
  // One pass over ASCII, the common case; the first byte >= 0x80 hands the
  // rest to the UTF-8 validator (fast) or the repairing writer (rare).
  const char* p = s.data();
  const char* const end = p + s.size();
  const char* run = p;
  for (; p < end; ++p) {
    const auto c = static_cast<unsigned char>(*p);
    if (c >= 0x80) {
      out.append(run, p - run);
      const std::string_view rest(p, end - p);
      if (IsValidUtf8(rest)) {
        AppendEscapedValid(out, rest);
      } else {
        RepairInto<true>(out, rest);
      }
      return;
    }
    if (kEscape[c]) {
      out.append(run, p - run);
      AppendEscapeOf(out, c);
      run = p + 1;
    }
  }
  out.append(run, end - run);
}

void RepairUtf8(std::string_view s, std::string& out) {
  out.clear();
  RepairInto<false>(out, s);
}

void AppendInt(std::string& out, int64_t value) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, value);
  out.append(buf, r.ptr - buf);
}

void AppendUint(std::string& out, uint64_t value) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, value);
  out.append(buf, r.ptr - buf);
}

bool AppendDouble(std::string& out, double value) {
  if (!std::isfinite(value)) return false;
  char buf[32];
  // Past 64-bit integers the shortest form may be all digits (1.8e20 as
  // "178859639454016765952"), which parsers that read integers as 64 bits
  // (simdjson, Go's) refuse: those are written with an exponent. (Found by
  // rule_set_fuzz.)
  const bool huge = std::fabs(value) >= 9223372036854775808.0;
  const auto r = huge ? std::to_chars(buf, buf + sizeof buf, value, std::chars_format::scientific)
                      : std::to_chars(buf, buf + sizeof buf, value);
  out.append(buf, r.ptr - buf);
  return true;
}

void AppendElement(std::string& out, simdjson::dom::element element) {
  using simdjson::dom::element_type;
  switch (element.type()) {
    case element_type::OBJECT: {
      out.push_back('{');
      bool first = true;
      for (auto field : simdjson::dom::object(element)) {
        if (!first) out.push_back(',');
        first = false;
        AppendString(out, field.key);
        out.push_back(':');
        AppendElement(out, field.value);
      }
      out.push_back('}');
      return;
    }
    case element_type::ARRAY: {
      out.push_back('[');
      bool first = true;
      for (auto item : simdjson::dom::array(element)) {
        if (!first) out.push_back(',');
        first = false;
        AppendElement(out, item);
      }
      out.push_back(']');
      return;
    }
    case element_type::STRING:
      AppendString(out, std::string_view(element));
      return;
    case element_type::INT64:
      AppendInt(out, int64_t(element));
      return;
    case element_type::UINT64:
      AppendUint(out, uint64_t(element));
      return;
    case element_type::DOUBLE:
      // simdjson refuses inf/NaN on input, so this always writes.
      if (!AppendDouble(out, double(element))) out.append("null");
      return;
    case element_type::BOOL:
      out.append(bool(element) ? "true" : "false");
      return;
    case element_type::NULL_VALUE:
      out.append("null");
      return;
  }
}

void AppendHex(std::string& out, const unsigned char* bytes, size_t size) {
  for (size_t i = 0; i < size; ++i) {
    out.push_back(kHex[bytes[i] >> 4]);
    out.push_back(kHex[bytes[i] & 15]);
  }
}

bool IsJsonNumber(std::string_view s) {
  size_t i = 0;
  auto digits = [&] {
    const size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    return i > start;
  };
  if (i < s.size() && s[i] == '-') ++i;
  if (i < s.size() && s[i] == '0') {
    ++i;
  } else if (!digits()) {
    return false;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == s.size();
}

}  // namespace tailtrack::json
