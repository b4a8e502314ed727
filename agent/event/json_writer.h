// The event JSON writer: appends JSON text to a string that is reused, so that
// a warm writer does not allocate.
//
// Whatever bytes come in, what comes out is valid JSON and valid UTF-8: an
// invalid UTF-8 sequence becomes U+FFFD (one per maximal invalid subpart, as
// the Unicode standard and WHATWG recommend), and quotes, backslashes, NUL and
// every other control character are escaped.
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace tailtrack::json {

// Appends `s` escaped for the inside of a JSON string (no quotes).
void AppendEscaped(std::string& out, std::string_view s);

// Appends `s` as a JSON string literal, quotes included.
inline void AppendString(std::string& out, std::string_view s) {
  out.push_back('"');
  AppendEscaped(out, s);
  out.push_back('"');
}

// Replaces `out` with `s`, each invalid UTF-8 sequence replaced by U+FFFD.
void RepairUtf8(std::string_view s, std::string& out);

// True when `s` is valid UTF-8 (simdjson's validator: fast on the common case).
inline bool IsValidUtf8(std::string_view s) { return simdjson::validate_utf8(s.data(), s.size()); }

// True when `s` is a number as JSON's grammar writes it:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
bool IsJsonNumber(std::string_view s);

void AppendInt(std::string& out, int64_t value);
void AppendUint(std::string& out, uint64_t value);

// Shortest text that reads back as the same double (99.99 stays 99.99).
// Returns false and appends nothing for NaN and infinities, which JSON lacks.
bool AppendDouble(std::string& out, double value);

// Appends a parsed JSON value, minified. Strings are re-escaped by the rules
// above, so the output is valid whatever the parser let through.
void AppendElement(std::string& out, simdjson::dom::element element);

// Lowercase hex of `size` bytes.
void AppendHex(std::string& out, const unsigned char* bytes, size_t size);

}  // namespace tailtrack::json
