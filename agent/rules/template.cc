#include "rules/template.h"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <charconv>
#include <cmath>

#include "core/clock.h"
#include "event/json_writer.h"

namespace tailtrack {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

struct FilterSpec {
  std::string_view name;
  Filter::Kind kind;
  int min_args, max_args;
};
constexpr FilterSpec kFilters[] = {
    {"number", Filter::kNumber, 0, 0}, {"int", Filter::kInt, 0, 0},         {"bool", Filter::kBool, 0, 0},
    {"string", Filter::kString, 0, 0}, {"lower", Filter::kLower, 0, 0},     {"upper", Filter::kUpper, 0, 0},
    {"trim", Filter::kTrim, 0, 0},     {"default", Filter::kDefault, 1, 1}, {"timestamp", Filter::kTimestamp, 0, 1},
    {"sha256", Filter::kSha256, 0, 0}, {"json", Filter::kJson, 0, 0},
};

// Splits `s` on `sep` outside quotes.
std::vector<std::string_view> SplitOutsideQuotes(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  char quote = 0;
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (quote) {
      if (c == '\\') {
        ++i;
      } else if (c == quote) {
        quote = 0;
      }
    } else if (c == '\'' || c == '"') {
      quote = c;
    } else if (c == sep) {
      parts.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  parts.push_back(s.substr(start));
  return parts;
}

class TemplateError {
 public:
  TemplateError(const std::string& file, Mark mark) : file_(file), mark_(mark) {}
  [[noreturn]] void operator()(const std::string& message) const { throw ConfigError(file_, mark_, message); }
  Mark mark() const { return mark_; }

 private:
  const std::string& file_;
  Mark mark_;
};

// An argument: 'text', "text" (with \-escapes), or a bare word/number.
std::string ParseArg(std::string_view arg, const TemplateError& fail) {
  arg = Trim(arg);
  if (arg.empty()) fail("empty filter argument");
  if (arg.front() == '\'' || arg.front() == '"') {
    const char quote = arg.front();
    if (arg.size() < 2 || arg.back() != quote) fail(fmt::format("unterminated string {} in filter argument", arg));
    std::string out;
    for (size_t i = 1; i + 1 < arg.size(); ++i) {
      if (arg[i] == '\\' && i + 2 < arg.size()) ++i;
      else if (arg[i] == quote) fail(fmt::format("unexpected {} inside filter argument {}", quote, arg));
      out.push_back(arg[i]);
    }
    return out;
  }
  for (char c : arg) {
    if (IsSpace(c) || c == '(' || c == ')' || c == '\'' || c == '"') fail(fmt::format("bad filter argument {}", arg));
  }
  return std::string(arg);
}

std::unique_ptr<Expr> ParseExpr(std::string_view body, const TemplateError& fail, const Resolver& resolve) {
  const auto parts = SplitOutsideQuotes(body, '|');
  const std::string_view var = Trim(parts[0]);
  if (var.empty()) fail("a template expression needs a variable: {{ name }}");
  for (char c : var) {
    if (IsSpace(c) || c == '(' || c == ')' || c == '\'' || c == '"' || c == '{' || c == '}') {
      fail(fmt::format("bad variable name \"{}\" in template", var));
    }
  }
  auto expr = std::make_unique<Expr>();
  expr->var = resolve(std::string(var), fail.mark());
  for (size_t p = 1; p < parts.size(); ++p) {
    std::string_view f = Trim(parts[p]);
    std::string_view name = f;
    std::vector<std::string> args;
    const size_t paren = f.find('(');
    if (paren != std::string_view::npos) {
      if (f.back() != ')') fail(fmt::format("missing ')' after filter arguments in \"{}\"", f));
      name = Trim(f.substr(0, paren));
      const std::string_view inside = Trim(f.substr(paren + 1, f.size() - paren - 2));
      if (!inside.empty()) {
        for (auto a : SplitOutsideQuotes(inside, ',')) args.push_back(ParseArg(a, fail));
      }
    }
    if (name.empty()) fail("empty filter after '|'");
    const FilterSpec* spec = nullptr;
    for (const auto& s : kFilters) {
      if (s.name == name) spec = &s;
    }
    if (!spec) {
      fail(fmt::format("unknown filter \"{}\" (filters: number, int, bool, string, lower, upper, trim, default, "
                       "timestamp, sha256, json)",
                       name));
    }
    const int n = static_cast<int>(args.size());
    if (n < spec->min_args || n > spec->max_args) {
      if (spec->max_args == 0) fail(fmt::format("filter \"{}\" takes no arguments", name));
      if (spec->min_args == spec->max_args) {
        fail(fmt::format("filter \"{}\" takes {} argument{}, not {}", name, spec->min_args,
                         spec->min_args == 1 ? "" : "s", n));
      }
      fail(fmt::format("filter \"{}\" takes {} to {} arguments, not {}", name, spec->min_args, spec->max_args, n));
    }
    Filter filter{spec->kind, n > 0 ? args[0] : std::string(), nullptr};
    if (spec->kind == Filter::kTimestamp) {
      if (n == 1 && filter.arg.find('%') == std::string::npos) {
        fail(fmt::format("timestamp format \"{}\" has no % field (e.g. '%d/%b/%Y:%H:%M:%S %z')", filter.arg));
      }
      filter.parser = std::make_unique<TimestampParser>(filter.arg);
    }
    expr->filters.push_back(std::move(filter));
  }
  return expr;
}

// Splits template text into literal text and `{{ ... }}` bodies.
template <typename OnText, typename OnExpr>
void ScanTemplate(std::string_view text, const TemplateError* fail, OnText on_text, OnExpr on_expr) {
  size_t i = 0;
  while (i < text.size()) {
    const size_t open = text.find("{{", i);
    if (open == std::string_view::npos) {
      on_text(text.substr(i));
      return;
    }
    if (open > i) on_text(text.substr(i, open - i));
    const size_t close = text.find("}}", open + 2);
    if (close == std::string_view::npos) {
      if (fail) (*fail)("unterminated \"{{\" in template: missing \"}}\"");
      return;
    }
    on_expr(text.substr(open + 2, close - open - 2));
    i = close + 2;
  }
}

void Sha256Hex(std::string_view text, std::string& out) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), md, &len, EVP_sha256(), nullptr);
  out.clear();
  json::AppendHex(out, md, len);
}

bool ParseBool(std::string_view t, bool* b) {
  t = Trim(t);
  for (auto yes : {"true", "yes", "on", "1"}) {
    if (EqualsIgnoreCase(t, yes)) return *b = true, true;
  }
  for (auto no : {"false", "no", "off", "0"}) {
    if (EqualsIgnoreCase(t, no)) return *b = false, true;
  }
  return false;
}

}  // namespace

Value NumberOfElement(simdjson::dom::element e) {
  Value v;
  switch (e.type()) {
    case simdjson::dom::element_type::INT64:
      v.kind = Value::kInt, v.i = e.get_int64().value_unsafe();
      break;
    case simdjson::dom::element_type::UINT64:
      v.kind = Value::kDouble, v.d = static_cast<double>(e.get_uint64().value_unsafe());
      break;
    case simdjson::dom::element_type::DOUBLE:
      v.kind = Value::kDouble, v.d = e.get_double().value_unsafe();
      break;
    default:
      break;
  }
  return v;
}

bool ParseNumber(std::string_view text, bool* is_int, int64_t* i, double* d) {
  text = Trim(text);
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  if (text.empty()) return false;
  const char* end = text.data() + text.size();
  auto ri = std::from_chars(text.data(), end, *i);
  if (ri.ec == std::errc() && ri.ptr == end) {
    *is_int = true;
    return true;
  }
  auto rd = std::from_chars(text.data(), end, *d);
  if (rd.ec != std::errc() || rd.ptr != end || !std::isfinite(*d)) return false;
  *is_int = false;
  return true;
}

Value Lookup(const VarRef& var, const Scope& scope, std::string& offset_buf) {
  Value v;
  switch (var.kind) {
    case VarRef::kCapture:
      if (var.capture < scope.ncaptures && scope.captures[var.capture].data() != nullptr) {
        v.kind = Value::kText, v.text = scope.captures[var.capture];
      }
      return v;
    case VarRef::kLine: v.kind = Value::kText, v.text = scope.line; return v;
    case VarRef::kSource: v.kind = Value::kText, v.text = scope.source_name; return v;
    case VarRef::kPath: v.kind = Value::kText, v.text = scope.path; return v;
    case VarRef::kHost: v.kind = Value::kText, v.text = scope.host; return v;
    case VarRef::kStream:
      if (!scope.stream.empty()) v.kind = Value::kText, v.text = scope.stream;
      return v;
    case VarRef::kRuntimeTime:
      if (!scope.runtime_time.empty()) v.kind = Value::kText, v.text = scope.runtime_time;
      return v;
    case VarRef::kOffset: {
      char buf[24];
      auto r = std::to_chars(buf, buf + sizeof buf, scope.offset);
      offset_buf.assign(buf, r.ptr - buf);
      v.kind = Value::kText, v.text = offset_buf;
      return v;
    }
    case VarRef::kJsonPath: {
      if (!scope.has_json) return v;
      simdjson::dom::element e = scope.json;
      for (const std::string& seg : var.path) {
        if (e.is_object()) {
          auto r = e.get_object().value_unsafe().at_key(seg);
          if (r.error()) return v;
          e = r.value_unsafe();
        } else if (e.is_array()) {
          size_t index = 0;
          auto fr = std::from_chars(seg.data(), seg.data() + seg.size(), index);
          if (fr.ec != std::errc() || fr.ptr != seg.data() + seg.size()) return v;
          auto r = e.get_array().value_unsafe().at(index);
          if (r.error()) return v;
          e = r.value_unsafe();
        } else {
          return v;
        }
      }
      if (e.is_null()) return v;
      v.kind = Value::kElement, v.element = e;
      return v;
    }
  }
  return v;
}

bool TextOf(const Value& value, std::string& buf, std::string_view* text) {
  switch (value.kind) {
    case Value::kMissing: return false;
    case Value::kText: *text = value.text; return true;
    case Value::kInt: buf.clear(); json::AppendInt(buf, value.i); *text = buf; return true;
    case Value::kDouble:
      buf.clear();
      if (!json::AppendDouble(buf, value.d)) return false;
      *text = buf;
      return true;
    case Value::kBool: *text = value.b ? "true" : "false"; return true;
    case Value::kElement:
    case Value::kJson: {
      const auto e = value.element;
      switch (e.type()) {
        case simdjson::dom::element_type::STRING: *text = e.get_string().value_unsafe(); return true;
        case simdjson::dom::element_type::NULL_VALUE: return false;
        case simdjson::dom::element_type::BOOL: *text = e.get_bool().value_unsafe() ? "true" : "false"; return true;
        default: buf.clear(); json::AppendElement(buf, e); *text = buf; return true;
      }
    }
  }
  return false;
}

Value Expr::Eval(const Scope& scope) const {
  Value v = Lookup(var, scope, offset_);
  int k = 0;
  for (const Filter& f : filters) {
    std::string& out = bufs_[k++ & 1];
    std::string_view text;
    switch (f.kind) {
      case Filter::kNumber:
      case Filter::kInt: {
        if (v.kind == Value::kElement || v.kind == Value::kJson) {
          if (v.element.is_number()) {
            v = NumberOfElement(v.element);
          } else if (v.element.is_string()) {
            v.text = v.element.get_string().value_unsafe();
            v.kind = Value::kText;
          } else {
            v = Value{};
          }
        } else if (v.kind == Value::kBool) {
          v = Value{};
        }
        if (v.kind == Value::kText) {
          bool is_int;
          int64_t i;
          double d;
          if (ParseNumber(v.text, &is_int, &i, &d)) {
            v = Value{};
            if (is_int) v.kind = Value::kInt, v.i = i;
            else v.kind = Value::kDouble, v.d = d;
          } else {
            v = Value{};
          }
        }
        if (f.kind == Filter::kInt && v.kind == Value::kDouble) {
          // Toward zero, as a cast: "34.9" | int is 34.
          if (std::isfinite(v.d) && v.d > -9.2e18 && v.d < 9.2e18) {
            v.kind = Value::kInt, v.i = static_cast<int64_t>(v.d);
          } else {
            v = Value{};
          }
        }
        break;
      }
      case Filter::kBool: {
        if (v.kind == Value::kBool) break;
        bool b = false;
        bool ok = false;
        if ((v.kind == Value::kElement || v.kind == Value::kJson) && v.element.is_bool()) {
          b = v.element.get_bool().value_unsafe(), ok = true;
        } else if (v.kind == Value::kInt) {
          ok = v.i == 0 || v.i == 1, b = v.i == 1;
        } else if (TextOf(v, conv_, &text)) {
          ok = ParseBool(text, &b);
        }
        v = Value{};
        if (ok) v.kind = Value::kBool, v.b = b;
        break;
      }
      case Filter::kString:
        if (TextOf(v, conv_, &text)) {
          out.assign(text);
          v = Value{};
          v.kind = Value::kText, v.text = out;
        }
        break;
      case Filter::kLower:
      case Filter::kUpper:
        if (TextOf(v, conv_, &text)) {
          out.assign(text);
          for (char& c : out) {
            if (f.kind == Filter::kLower && c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
            if (f.kind == Filter::kUpper && c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
          }
          v = Value{};
          v.kind = Value::kText, v.text = out;
        }
        break;
      case Filter::kTrim:
        if (TextOf(v, conv_, &text)) {
          out.assign(Trim(text));
          v = Value{};
          v.kind = Value::kText, v.text = out;
        }
        break;
      case Filter::kDefault:
        if (!TextOf(v, conv_, &text) || text.empty()) {
          v = Value{};
          v.kind = Value::kText, v.text = f.arg;
        }
        break;
      case Filter::kTimestamp: {
        int64_t ms = 0;
        const bool ok = TextOf(v, conv_, &text) && f.parser->Parse(Trim(text), scope.zone, &ms);
        v = Value{};
        if (ok) {
          out.resize(24);
          FormatIsoMillis(ms, out.data());
          v.kind = Value::kText, v.text = out, v.normalized_time = true;
        } else {
          v.time_failed = true;
        }
        break;
      }
      case Filter::kSha256:
        if (TextOf(v, conv_, &text)) {
          Sha256Hex(text, out);
          v = Value{};
          v.kind = Value::kText, v.text = out;
        }
        break;
      case Filter::kJson:
        if (v.kind == Value::kElement) {
          v.kind = Value::kJson;
        } else if (v.kind == Value::kText && scope.aux_parser) {
          // Text that holds JSON is embedded as that value; other text stays a string.
          auto r = scope.aux_parser->parse(v.text.data(), v.text.size(), true);
          if (!r.error()) {
            v = Value{};
            v.kind = Value::kJson, v.element = r.value_unsafe();
          }
        }
        break;
    }
  }
  return v;
}

bool ScalarTemplate::Render(const Scope& scope, std::string& out) const {
  if (constant) {
    if (constant_json.empty()) return false;
    out.append(constant_json);
    return true;
  }
  if (single_expr) {
    const Expr& e = *exprs[0];
    const Value v = e.Eval(scope);
    std::string_view text;
    if (!typed) {  // `{{ x | number | default('0') }}` is a string, whatever x is
      if (!TextOf(v, scratch_, &text) || text.empty()) return false;
      json::AppendString(out, text);
      return true;
    }
    switch (v.kind) {
      case Value::kMissing: return false;
      case Value::kInt: json::AppendInt(out, v.i); return true;
      case Value::kDouble: return json::AppendDouble(out, v.d);
      case Value::kBool: out.append(v.b ? "true" : "false"); return true;
      case Value::kJson: json::AppendElement(out, v.element); return true;
      case Value::kText:
      case Value::kElement: {
        if (!TextOf(v, scratch_, &text) || text.empty()) return false;
        json::AppendString(out, text);
        return true;
      }
    }
    return false;
  }
  const size_t start = out.size();
  out.push_back('"');
  for (const Piece& p : pieces) {
    if (p.expr < 0) {
      out.append(p.literal);  // escaped at compile time
      continue;
    }
    const Value v = exprs[p.expr]->Eval(scope);
    std::string_view text;
    if (TextOf(v, scratch_, &text)) json::AppendEscaped(out, text);
  }
  if (out.size() == start + 1) {
    out.resize(start);
    return false;
  }
  out.push_back('"');
  return true;
}

bool ScalarTemplate::RenderText(const Scope& scope, std::string& out, Value* value) const {
  out.clear();
  *value = Value{};
  if (constant) {
    for (const Piece& p : pieces) out.append(p.raw);
    return !out.empty();
  }
  for (const Piece& p : pieces) {
    if (p.expr < 0) {
      out.append(p.raw);
      continue;
    }
    const Value v = exprs[p.expr]->Eval(scope);
    if (single_expr) *value = v;
    std::string_view text;
    if (TextOf(v, scratch_, &text)) out.append(text);
  }
  return !out.empty();
}

std::vector<std::string> TemplateVariables(std::string_view text) {
  std::vector<std::string> vars;
  ScanTemplate(
      text, nullptr, [](std::string_view) {},
      [&](std::string_view body) {
        const auto var = Trim(SplitOutsideQuotes(body, '|')[0]);
        if (!var.empty()) vars.emplace_back(var);
      });
  return vars;
}

ScalarTemplate CompileScalar(const TemplateNode& node, const std::string& file, const Resolver& resolve) {
  const TemplateError fail(file, node.mark);
  ScalarTemplate t;
  if (node.text.find("}}") != std::string::npos && node.text.find("{{") == std::string::npos) {
    fail("\"}}\" without \"{{\" in template");
  }
  ScanTemplate(
      node.text, &fail,
      [&](std::string_view literal) {
        ScalarTemplate::Piece p;
        p.raw.assign(literal);
        json::AppendEscaped(p.literal, literal);
        t.pieces.push_back(std::move(p));
      },
      [&](std::string_view body) {
        ScalarTemplate::Piece p;
        p.expr = static_cast<int>(t.exprs.size());
        t.exprs.push_back(ParseExpr(body, fail, resolve));
        t.pieces.push_back(std::move(p));
      });
  t.constant = t.exprs.empty();
  t.single_expr = t.exprs.size() == 1 && t.pieces.size() == 1;
  if (t.single_expr && !t.exprs[0]->filters.empty()) {
    const Filter::Kind last = t.exprs[0]->filters.back().kind;
    t.typed = last == Filter::kNumber || last == Filter::kInt || last == Filter::kBool || last == Filter::kJson;
  }
  if (t.constant) {
    const std::string& s = node.text;
    if (s.empty()) {
      // renders empty: left out
    } else if (node.plain && (s == "true" || s == "false" || json::IsJsonNumber(s))) {
      t.constant_json = s;
    } else if (node.plain && (s == "null" || s == "~")) {
      // left out
    } else {
      json::AppendString(t.constant_json, s);
    }
  }
  return t;
}

}  // namespace tailtrack
