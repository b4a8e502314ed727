// Templates: `{{ var | filter(args) }}` inside the text of an event field.
//
// A template is compiled once (Compile* throw ConfigError) and rendered per
// line straight into the output JSON. Values are views into the line or the
// parsed JSON document; filters that make new text write into buffers owned by
// the expression, reused from line to line.
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "rules/timestamp.h"

namespace date {
class time_zone;
}

namespace tailtrack {

// Where a variable's value comes from.
struct VarRef {
  enum Kind : uint8_t { kCapture, kLine, kSource, kPath, kOffset, kHost, kStream, kRuntimeTime, kJsonPath };
  Kind kind = kJsonPath;
  int capture = 0;                // kCapture: RE2 group number
  std::vector<std::string> path;  // kJsonPath: dotted path, split
  std::string name;               // as written
};

// What a rule's variables can see while one line is mapped.
struct Scope {
  std::string_view line;
  std::string_view source_name;
  std::string_view path;
  uint64_t offset = 0;
  std::string_view host;
  std::string_view stream;        // cri/docker: "stdout" or "stderr"; empty (missing) otherwise
  std::string_view runtime_time;  // cri/docker: the runtime's timestamp; empty (missing) otherwise
  const std::string_view* captures = nullptr;  // data() == nullptr: the group did not take part
  int ncaptures = 0;
  bool has_json = false;
  simdjson::dom::element json;     // the line's JSON object, when has_json
  const date::time_zone* zone = nullptr;
  simdjson::dom::parser* aux_parser = nullptr;  // for `| json` of text
};

// A value between filters.
struct Value {
  enum Kind : uint8_t {
    kMissing,
    kText,      // untyped text
    kElement,   // a JSON value from the line, untyped (renders as text)
    kInt, kDouble, kBool,  // typed by number / int / bool
    kJson,      // typed by json: `element`
  };
  Kind kind = kMissing;
  std::string_view text;
  simdjson::dom::element element;
  int64_t i = 0;
  double d = 0;
  bool b = false;
  bool normalized_time = false;  // text made by the timestamp filter
  bool time_failed = false;      // a timestamp filter could not parse its input
};

// Looks a variable up. Never allocates.
Value Lookup(const VarRef& var, const Scope& scope, std::string& offset_buf);

// The text of a value, as a string field shows it; false when missing.
// May write into `buf`.
bool TextOf(const Value& value, std::string& buf, std::string_view* text);

struct Filter {
  enum Kind : uint8_t { kNumber, kInt, kBool, kString, kLower, kUpper, kTrim, kDefault, kTimestamp, kSha256, kJson };
  Kind kind;
  std::string arg;
  std::unique_ptr<TimestampParser> parser;  // kTimestamp
};

class Expr {
 public:
  VarRef var;
  std::vector<Filter> filters;

  Value Eval(const Scope& scope) const;

 private:
  // Scratch text of filters, reused from line to line (one thread only).
  mutable std::string bufs_[2];
  mutable std::string conv_;
  mutable std::string offset_;
  mutable std::string json_text_;
};

// One scalar of the event: literal text, `{{ expressions }}`, or both.
struct ScalarTemplate {
  struct Piece {
    std::string literal;  // JSON-escaped
    std::string raw;      // as written
    int expr = -1;  // index into exprs, or -1 for a literal
  };
  std::vector<Piece> pieces;
  std::vector<std::unique_ptr<Expr>> exprs;
  bool single_expr = false;  // exactly one expression and no text
  bool typed = false;        // single_expr ending in number, int, bool or json: keeps its JSON type
  bool constant = false;     // no expression
  std::string constant_json; // constant: its JSON (a typed literal when written unquoted)

  // Appends the JSON of the value; false (and nothing appended) when it
  // renders empty or missing.
  bool Render(const Scope& scope, std::string& out) const;
  // The text of the whole scalar (all pieces) into `out`; false if empty.
  // `value` receives the single expression's value when single_expr.
  bool RenderText(const Scope& scope, std::string& out, Value* value) const;

 private:
  mutable std::string scratch_;
};

// Parses `text` (a field's template). `resolve` maps a variable name to where
// it comes from, or throws ConfigError. Throws ConfigError at `mark` for
// syntax errors, unknown filters and wrong arguments.
using Resolver = std::function<VarRef(const std::string& name, Mark mark)>;
ScalarTemplate CompileScalar(const TemplateNode& node, const std::string& file, const Resolver& resolve);

// Every variable name used in `text` (for checks before compiling).
std::vector<std::string> TemplateVariables(std::string_view text);

// A JSON element as a number Value (kInt for a signed 64-bit integer, kDouble
// for other numbers), or missing when it is not a number.
Value NumberOfElement(simdjson::dom::element e);

// Number parsing for `number` / `int` (std::from_chars; surrounding spaces and a
// leading '+' allowed). false when `text` is not a finite number.
bool ParseNumber(std::string_view text, bool* is_int, int64_t* i, double* d);

}  // namespace tailtrack
