// The configuration schema and its loader.
//
// One table per kind of map (the top level, a source, a rule, a test) lists
// every key: its kind, default, range, documentation and where it is stored.
// The same tables parse, fill in defaults, validate and generate
// docs/configuration.md, so that none of these can drift from the others.
#include "config/loader.h"

#include <fcntl.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <type_traits>

#include "config/env.h"
#include "config/units.h"
#include "event/json_writer.h"

namespace tailtrack {
namespace {

constexpr uint64_t kNoMax = std::numeric_limits<uint64_t>::max();

enum class Kind { kString, kBool, kInt, kSize, kDuration, kEnum, kStringList, kMode, kCustom };

// Keys that exist for one type of source only.
enum class Only { kAny, kFile, kUnix };

class Loader;

// One parsed value, ready to be stored.
struct Value {
  Mark key_mark;
  Mark mark;
  std::string text;
  uint64_t number = 0;  // kInt, kSize, kMode; the index of the choice for kEnum
  bool flag = false;
  Duration duration{0};
  std::vector<std::string> list;
  std::vector<Mark> marks;  // one per entry of `list`
};

template <class T>
struct Field {
  std::string key;  // dotted path inside T's map: "retry.max_backoff"
  Kind kind = Kind::kString;
  std::string def;  // the default as it would be written; empty: none
  std::string doc;
  bool required = false;
  std::vector<std::string> choices;  // kEnum
  uint64_t min = 0;                  // kInt, kSize; milliseconds for kDuration
  uint64_t max = kNoMax;
  std::string max_why;  // why `max`, for the error message
  Only only = Only::kAny;
  bool secret = false;    // never quoted in an error message
  std::string type_doc;   // kCustom: how the docs describe its type
  std::function<void(T&, const Value&)> store;
  // kCustom: parses the value itself. `label` is the key's full name for messages.
  std::function<void(T&, const YAML::Node& key, const YAML::Node& value, Loader&, const std::string& label)> custom;

  Field Required() && {
    required = true;
    return std::move(*this);
  }
  Field Range(uint64_t lo, uint64_t hi, std::string why = "") && {
    min = lo;
    max = hi;
    max_why = std::move(why);
    return std::move(*this);
  }
  Field For(Only o) && {
    only = o;
    return std::move(*this);
  }
  Field Secret() && {
    secret = true;
    return std::move(*this);
  }
};

template <class T>
Field<T> Make(std::string key, Kind kind, std::string def, std::string doc) {
  Field<T> f;
  f.key = std::move(key);
  f.kind = kind;
  f.def = std::move(def);
  f.doc = std::move(doc);
  return f;
}

// A field whose value is stored by `store` (when it is more than one member).
template <class T>
Field<T> Stored(std::string key, Kind kind, std::string def, std::string doc,
                std::function<void(T&, const Value&)> store) {
  Field<T> f = Make<T>(std::move(key), kind, std::move(def), std::move(doc));
  f.store = std::move(store);
  return f;
}

#define AT(T, member) [](T& t) -> auto& { return t.member; }

template <class T, class At>
Field<T> String(std::string key, At at, std::string def, std::string doc) {
  Field<T> f = Make<T>(std::move(key), Kind::kString, std::move(def), std::move(doc));
  f.store = [at](T& t, const Value& v) { at(t) = v.text; };
  return f;
}

template <class T, class At>
Field<T> Bool(std::string key, At at, std::string def, std::string doc) {
  Field<T> f = Make<T>(std::move(key), Kind::kBool, std::move(def), std::move(doc));
  f.store = [at](T& t, const Value& v) { at(t) = v.flag; };
  return f;
}

template <class T, class At>
Field<T> Int(std::string key, At at, std::string def, std::string doc) {
  Field<T> f = Make<T>(std::move(key), Kind::kInt, std::move(def), std::move(doc));
  f.store = [at](T& t, const Value& v) { at(t) = static_cast<std::remove_reference_t<decltype(at(t))>>(v.number); };
  return f;
}

template <class T, class At>
Field<T> Size(std::string key, At at, std::string def, std::string doc) {
  Field<T> f = Make<T>(std::move(key), Kind::kSize, std::move(def), std::move(doc));
  f.store = [at](T& t, const Value& v) { at(t) = v.number; };
  return f;
}

template <class T, class At>
Field<T> Dur(std::string key, At at, std::string def, std::string doc) {
  Field<T> f = Make<T>(std::move(key), Kind::kDuration, std::move(def), std::move(doc));
  f.store = [at](T& t, const Value& v) { at(t) = v.duration; };
  return f;
}

template <class T, class E, class At>
Field<T> Enum(std::string key, At at, std::vector<std::pair<std::string, E>> choices, std::string def,
              std::string doc) {
  Field<T> f = Make<T>(std::move(key), Kind::kEnum, std::move(def), std::move(doc));
  for (const auto& c : choices) f.choices.push_back(c.first);
  f.store = [at, choices](T& t, const Value& v) { at(t) = choices[v.number].second; };
  return f;
}

template <class T, class At>
Field<T> List(std::string key, At at, std::string doc) {
  Field<T> f = Make<T>(std::move(key), Kind::kStringList, "", std::move(doc));
  f.store = [at](T& t, const Value& v) { at(t) = v.list; };
  return f;
}

template <class T>
Field<T> Custom(std::string key, std::string type_doc, std::string doc,
                std::function<void(T&, const YAML::Node&, const YAML::Node&, Loader&, const std::string&)> parse) {
  Field<T> f = Make<T>(std::move(key), Kind::kCustom, "", std::move(doc));
  f.type_doc = std::move(type_doc);
  f.custom = std::move(parse);
  return f;
}

// Where each key given in a map was written: key path → (key mark, value mark).
using Seen = std::map<std::string, std::pair<Mark, Mark>>;

Mark ToMark(const YAML::Mark& m) {
  if (m.is_null() || m.line < 0 || m.column < 0) return Mark{1, 1};
  return Mark{m.line + 1, m.column + 1};
}

const char* Describe(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "a single value";
    default:
      return "nothing";
  }
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

// The closest of `candidates` to `word`, if it is close enough to be a typo.
std::string Suggest(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_distance = 3;
  for (const auto& c : candidates) {
    const size_t d = EditDistance(word, c);
    if (d < best_distance && d < word.size()) {
      best = c;
      best_distance = d;
    }
  }
  return best;
}

std::string Join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? sep : "") + items[i];
  return out;
}

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

// Errors are one line: control characters from the file are shown escaped.
std::string OneLine(const std::string& message) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (char ch : message) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    } else {
      out.push_back(ch);
    }
  }
  return out;
}

bool ParseDecimal(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 19) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = v;
  return true;
}

// ---------------------------------------------------------------------------

class Loader {
 public:
  Loader(std::string path, const EnvLookup& env, const LoadOptions& options)
      : path_(std::move(path)), env_(env), options_(options) {}

  [[noreturn]] void Fail(Mark mark, const std::string& message) const {
    throw ConfigError(path_, mark, OneLine(message));
  }
  [[noreturn]] void Fail(const YAML::Node& node, const std::string& message) const {
    Fail(ToMark(node.Mark()), message);
  }

  const LoadOptions& options() const { return options_; }

  // The scalar's text after ${VAR} substitution.
  std::string Text(const YAML::Node& node, bool secret = false) const {
    std::string out;
    std::string error;
    if (!SubstituteEnv(node.Scalar(), env_, secret, &out, &error)) Fail(node, error);
    return out;
  }

  // A scalar string, substituted; `label` names the key in messages.
  std::string ScalarText(const YAML::Node& key, const YAML::Node& value, const std::string& label,
                         const char* expected = "a string") const {
    if (value.IsNull()) Fail(key, label + " has no value");
    if (!value.IsScalar()) Fail(value, label + " must be " + expected + ", not " + Describe(value));
    return Text(value);
  }

  // Iterates a map's entries, rejecting keys that are not strings and keys given twice.
  template <class F>
  void ForEachEntry(const YAML::Node& map, const std::string& label, F&& f) const {
    std::map<std::string, Mark> keys;
    for (auto it = map.begin(); it != map.end(); ++it) {
      const YAML::Node key = it->first;
      if (!key.IsScalar()) Fail(key, "keys must be strings" + (label.empty() ? "" : " in " + label));
      const auto [where, fresh] = keys.emplace(key.Scalar(), ToMark(key.Mark()));
      if (!fresh) {
        Fail(key, "duplicate key " + Quote(key.Scalar()) + (label.empty() ? "" : " in " + label) +
                      " (first at line " + std::to_string(where->second.line) + ")");
      }
      const YAML::Node value = it->second;
      f(key, value);
    }
  }

  // Parses the map `node` into `target` with `table`; then fills in defaults
  // and reports missing required keys. `label` prefixes key names in
  // messages ("sources[0]"); `where` is where the map begins.
  template <class T>
  Seen ParseSection(const YAML::Node& node, Mark where, const std::vector<Field<T>>& table, T& target,
                    const std::string& label, Only type = Only::kAny) {
    Seen seen;
    std::map<std::string, Mark> section_marks{{"", where}};
    ParseMap(node, "", table, target, label, type, &seen, &section_marks);
    for (const auto& f : table) {
      if (seen.count(f.key) || (f.only != Only::kAny && f.only != type)) continue;
      if (f.required) {
        std::string prefix = f.key;
        Mark at = where;
        while (true) {
          const size_t dot = prefix.rfind('.');
          prefix = dot == std::string::npos ? "" : prefix.substr(0, dot);
          if (auto m = section_marks.find(prefix); m != section_marks.end()) {
            at = m->second;
            break;
          }
        }
        Fail(at, "missing required key " + Quote(Name(label, f.key)));
      }
      if (!f.def.empty() && f.store) f.store(target, ParseText(f, f.def, Name(label, f.key), Mark{}));
    }
    return seen;
  }

  static std::string Name(const std::string& label, const std::string& key) {
    if (label.empty()) return key;
    if (key.empty()) return label;
    return label + "." + key;
  }

  // Types one scalar's text (already substituted) as `f` says.
  template <class T>
  Value ParseText(const Field<T>& f, const std::string& text, const std::string& name, Mark mark) const {
    Value v;
    v.mark = mark;
    v.text = text;
    const std::string shown = f.secret ? std::string("(hidden)") : Quote(text);
    std::string why;
    auto out_of_range = [&](const std::string& what, const std::string& lo, const std::string& hi) {
      std::string m = name + " must be " + what;
      if (f.max == kNoMax) {
        m += " of at least " + lo;
      } else if (f.min == 0) {
        m += " of at most " + hi;
      } else {
        m += " from " + lo + " to " + hi;
      }
      if (!f.max_why.empty()) m += " (" + f.max_why + ")";
      Fail(mark, m + ", got " + shown);
    };
    switch (f.kind) {
      case Kind::kString:
        break;
      case Kind::kBool:
        if (text == "true" || text == "True" || text == "TRUE") {
          v.flag = true;
        } else if (text == "false" || text == "False" || text == "FALSE") {
          v.flag = false;
        } else {
          Fail(mark, name + " must be true or false, got " + shown);
        }
        break;
      case Kind::kInt:
        if (!ParseDecimal(text, &v.number) || v.number < f.min || v.number > f.max) {
          out_of_range("an integer", std::to_string(f.min), std::to_string(f.max));
        }
        break;
      case Kind::kSize: {
        const auto size = ParseSize(text, &why);
        if (!size) Fail(mark, name + ": invalid size " + shown + ": " + why);
        v.number = *size;
        if (v.number < f.min || v.number > f.max) out_of_range("a size", FormatSize(f.min), FormatSize(f.max));
        break;
      }
      case Kind::kDuration: {
        const auto d = ParseDuration(text, &why);
        if (!d) Fail(mark, name + ": invalid duration " + shown + ": " + why);
        v.duration = *d;
        const auto ms = static_cast<uint64_t>(d->count());
        if (ms < f.min || ms > f.max) {
          if (f.min == 1 && f.max == kNoMax) Fail(mark, name + " must be more than 0s, got " + shown);
          out_of_range("a duration", FormatDuration(Duration(f.min)), FormatDuration(Duration(f.max)));
        }
        break;
      }
      case Kind::kEnum: {
        const auto it = std::find(f.choices.begin(), f.choices.end(), text);
        if (it == f.choices.end()) Fail(mark, name + " must be one of " + Join(f.choices, ", ") + "; got " + shown);
        v.number = static_cast<uint64_t>(it - f.choices.begin());
        break;
      }
      case Kind::kMode: {
        // "0660" or "660": permission bits in octal, as chmod takes them.
        const std::string_view digits = text.size() == 4 && text[0] == '0' ? std::string_view(text).substr(1) : text;
        const bool ok = digits.size() == 3 && std::all_of(digits.begin(), digits.end(),
                                                          [](char c) { return c >= '0' && c <= '7'; });
        if (!ok) Fail(mark, name + " must be an octal file mode like \"0660\", got " + shown);
        v.number = std::strtoul(std::string(digits).c_str(), nullptr, 8);
        break;
      }
      case Kind::kStringList:
      case Kind::kCustom:
        break;
    }
    return v;
  }

 private:
  template <class T>
  void ParseMap(const YAML::Node& node, const std::string& prefix, const std::vector<Field<T>>& table, T& target,
                const std::string& label, Only type, Seen* seen, std::map<std::string, Mark>* section_marks) {
    ForEachEntry(node, Name(label, prefix), [&](const YAML::Node& key, const YAML::Node& value) {
      const std::string full = prefix.empty() ? key.Scalar() : prefix + "." + key.Scalar();
      const std::string name = Name(label, full);
      const Field<T>* field = nullptr;
      bool is_section = false;
      for (const auto& f : table) {
        if (f.key == full) field = &f;
        if (f.key.starts_with(full + ".")) is_section = true;
      }
      if (field) {
        if (field->only != Only::kAny && field->only != type) {
          Fail(key, name + " is only valid for " + (field->only == Only::kFile ? "type: file" : "type: unix") +
                        " sources");
        }
        (*seen)[full] = {ToMark(key.Mark()), ToMark(value.Mark())};
        ParseLeaf(*field, key, value, target, name);
      } else if (is_section) {
        if (value.IsNull()) Fail(key, name + " has no value");
        if (!value.IsMap()) Fail(value, name + " must be a map, not " + Describe(value));
        (*section_marks)[full] = ToMark(key.Mark());
        ParseMap(value, full, table, target, label, type, seen, section_marks);
      } else {
        UnknownKey(key, prefix, table, label, type);
      }
    });
  }

  template <class T>
  [[noreturn]] void UnknownKey(const YAML::Node& key, const std::string& prefix, const std::vector<Field<T>>& table,
                               const std::string& label, Only type) const {
    std::vector<std::string> names;  // the keys valid at this level
    for (const auto& f : table) {
      if (f.only != Only::kAny && f.only != type) continue;
      if (!prefix.empty() && !f.key.starts_with(prefix + ".")) continue;
      const std::string rest = prefix.empty() ? f.key : f.key.substr(prefix.size() + 1);
      names.push_back(rest.substr(0, rest.find('.')));
    }
    std::string message = "unknown key " + Quote(key.Scalar());
    const std::string where = Name(label, prefix);
    if (!where.empty()) message += " in " + where;
    const std::string suggestion = Suggest(key.Scalar(), names);
    if (!suggestion.empty()) message += " (did you mean " + Quote(suggestion) + "?)";
    Fail(key, message);
  }

  template <class T>
  void ParseLeaf(const Field<T>& f, const YAML::Node& key, const YAML::Node& value, T& target,
                 const std::string& name) {
    if (f.kind == Kind::kCustom) {
      f.custom(target, key, value, *this, name);
      return;
    }
    if (value.IsNull()) Fail(key, name + " has no value");
    Value v;
    if (f.kind == Kind::kStringList) {
      if (!value.IsSequence()) Fail(value, name + " must be a list of strings, not " + Describe(value));
      for (auto it = value.begin(); it != value.end(); ++it) {
        const YAML::Node item = *it;
        if (item.IsNull()) Fail(value, name + " has an empty entry");
        if (!item.IsScalar()) Fail(item, "each entry of " + name + " must be a string, not " + Describe(item));
        v.list.push_back(Text(item, f.secret));
        v.marks.push_back(ToMark(item.Mark()));
      }
    } else {
      static const std::map<Kind, const char*> kExpected = {
          {Kind::kString, "a string"}, {Kind::kBool, "true or false"}, {Kind::kInt, "an integer"},
          {Kind::kSize, "a size"},     {Kind::kDuration, "a duration"}, {Kind::kEnum, "a single value"},
          {Kind::kMode, "an octal file mode like \"0660\""}};
      if (!value.IsScalar()) Fail(value, name + " must be " + kExpected.at(f.kind) + ", not " + Describe(value));
      v = ParseText(f, Text(value, f.secret), name, ToMark(value.Mark()));
    }
    v.key_mark = ToMark(key.Mark());
    v.mark = ToMark(value.Mark());
    f.store(target, v);
  }

  std::string path_;
  const EnvLookup& env_;
  const LoadOptions& options_;
};

// ---------------------------------------------------------------------------
// Rules: `when:` conditions and `event:` templates; tests: `expect:` events.

// Events nest a few levels; an alias may even make a cycle. Past this depth is an error.
constexpr int kMaxNesting = 32;

void ParseTemplate(const YAML::Node& node, Loader& loader, const std::string& label, TemplateNode* out,
                   int depth = 0) {
  out->mark = ToMark(node.Mark());
  if (depth > kMaxNesting) loader.Fail(node, label + " is nested too deeply");
  if (node.IsMap()) {
    out->kind = TemplateNode::Kind::kMap;
    loader.ForEachEntry(node, label, [&](const YAML::Node& key, const YAML::Node& value) {
      const std::string name = label + "." + key.Scalar();
      if (value.IsNull()) loader.Fail(key, name + " has no value (write \"\" for an empty string)");
      TemplateNode child;
      ParseTemplate(value, loader, name, &child, depth + 1);
      out->entries.emplace_back(key.Scalar(), std::move(child));
    });
  } else if (node.IsSequence()) {
    out->kind = TemplateNode::Kind::kList;
    size_t i = 0;
    for (auto it = node.begin(); it != node.end(); ++it, ++i) {
      const std::string name = label + "[" + std::to_string(i) + "]";
      if (it->IsNull()) loader.Fail(node, name + " has no value (write \"\" for an empty string)");
      TemplateNode child;
      ParseTemplate(*it, loader, name, &child, depth + 1);
      out->items.push_back(std::move(child));
    }
  } else {
    out->kind = TemplateNode::Kind::kScalar;
    out->text = loader.Text(node);
    out->plain = node.Tag() == "?";
  }
}

void ToJson(const YAML::Node& node, Loader& loader, const std::string& label, std::string* out, int depth = 0) {
  if (depth > kMaxNesting) loader.Fail(node, label + " is nested too deeply");
  if (node.IsMap()) {
    out->push_back('{');
    bool first = true;
    loader.ForEachEntry(node, label, [&](const YAML::Node& key, const YAML::Node& value) {
      if (!first) out->push_back(',');
      first = false;
      json::AppendString(*out, key.Scalar());
      out->push_back(':');
      ToJson(value, loader, label + "." + key.Scalar(), out, depth + 1);
    });
    out->push_back('}');
  } else if (node.IsSequence()) {
    out->push_back('[');
    size_t i = 0;
    for (auto it = node.begin(); it != node.end(); ++it, ++i) {
      if (i) out->push_back(',');
      ToJson(*it, loader, label + "[" + std::to_string(i) + "]", out, depth + 1);
    }
    out->push_back(']');
  } else if (node.IsScalar()) {
    const std::string text = loader.Text(node);
    if (node.Tag() != "?") {
      json::AppendString(*out, text);
    } else if (json::IsJsonNumber(text) || text == "true" || text == "false" || text == "null") {
      *out += text;
    } else if (text == "True" || text == "TRUE" || text == "False" || text == "FALSE") {
      *out += text[0] == 'T' ? "true" : "false";
    } else if (text == "~" || text == "Null" || text == "NULL") {
      *out += "null";
    } else {
      json::AppendString(*out, text);
    }
  } else {
    *out += "null";
  }
}

void ParseWhen(RuleConfig& rule, const YAML::Node& key, const YAML::Node& value, Loader& loader,
               const std::string& label) {
  if (value.IsNull()) loader.Fail(key, label + " has no value");
  if (!value.IsMap()) loader.Fail(value, label + " must be a map of VARIABLE: condition, not " + Describe(value));
  if (value.size() == 0) loader.Fail(value, label + " has no conditions (leave it out to match every line)");
  const std::string kShapes = "a literal, {regex: RE}, {in: [a, b]} or {exists: true|false}";
  loader.ForEachEntry(value, label, [&](const YAML::Node& var, const YAML::Node& cond) {
    const std::string name = label + "." + var.Scalar();
    Condition c;
    c.var = var.Scalar();
    c.mark = ToMark(var.Mark());
    if (cond.IsNull()) loader.Fail(var, name + " has no value; write " + kShapes);
    if (cond.IsScalar()) {
      c.kind = Condition::Kind::kEquals;
      c.value = loader.Text(cond);
      c.mark = ToMark(cond.Mark());
    } else if (cond.IsSequence()) {
      loader.Fail(cond, name + " must be " + kShapes + ", not a list (for one of several values write {in: [a, b]})");
    } else {
      if (cond.size() != 1) loader.Fail(cond, name + " must have exactly one of regex, in, exists");
      const YAML::Node op = cond.begin()->first;
      const YAML::Node arg = cond.begin()->second;
      if (!op.IsScalar()) loader.Fail(op, name + " must be " + kShapes);
      const std::string op_name = op.Scalar();
      const std::string arg_label = name + "." + op_name;
      if (op_name == "regex") {
        c.kind = Condition::Kind::kRegex;
        c.value = loader.ScalarText(op, arg, arg_label);
        c.mark = ToMark(arg.Mark());
        if (c.value.empty()) loader.Fail(arg, arg_label + " is empty");
      } else if (op_name == "in") {
        c.kind = Condition::Kind::kIn;
        if (arg.IsNull()) loader.Fail(op, arg_label + " has no value");
        if (!arg.IsSequence()) loader.Fail(arg, arg_label + " must be a list of values, not " + Describe(arg));
        if (arg.size() == 0) loader.Fail(arg, arg_label + " must list at least one value");
        for (auto it = arg.begin(); it != arg.end(); ++it) {
          if (!it->IsScalar()) loader.Fail(*it, "each entry of " + arg_label + " must be a single value, not " +
                                                    Describe(*it));
          c.values.push_back(loader.Text(*it));
        }
        c.mark = ToMark(arg.Mark());
      } else if (op_name == "exists") {
        c.kind = Condition::Kind::kExists;
        const std::string text = loader.ScalarText(op, arg, arg_label, "true or false");
        if (text != "true" && text != "false") loader.Fail(arg, arg_label + " must be true or false, got " + Quote(text));
        c.exists = text == "true";
      } else {
        std::string message = "unknown condition " + Quote(op_name) + " in " + name + "; write " + kShapes;
        const std::string suggestion = Suggest(op_name, {"regex", "in", "exists"});
        if (!suggestion.empty()) message = "unknown condition " + Quote(op_name) + " in " + name +
                                           " (did you mean " + Quote(suggestion) + "?)";
        loader.Fail(op, message);
      }
    }
    rule.when.push_back(std::move(c));
  });
}

// ---------------------------------------------------------------------------
// The schema.

const std::vector<std::pair<std::string, Format>> kFormats = {
    {"text", Format::kText}, {"json", Format::kJson}, {"event", Format::kEvent}, {"cri", Format::kCri},
    {"docker", Format::kDocker}};

const std::vector<Field<SourceConfig>>& SourceTable() {
  using S = SourceConfig;
  static const std::vector<Field<S>> table = {
      String<S>("name", AT(S, name), "", "Names the source in rules, tests, metrics and checkpoints; "
                                         "letters, digits, `_`, `-` and `.`; unique.")
          .Required(),
      Enum<S>("type", AT(S, type), std::vector<std::pair<std::string, SourceType>>{{"file", SourceType::kFile}, {"unix", SourceType::kUnix}}, "",
              "`file` tails files matched by globs; `unix` listens on a Unix socket.")
          .Required(),
      Enum<S>("format", AT(S, format), kFormats, "text",
              "How a line is read: `text` (regex captures), `json` (fields by dotted path), `event` (a "
              "ready-made event, passed on without rules), `cri` or `docker` (container runtime envelopes; "
              "file sources only)."),
      Enum<S>("inner", AT(S, inner), std::vector<std::pair<std::string, InnerFormat>>{{"text", InnerFormat::kText}, {"json", InnerFormat::kJson}}, "text",
              "For `cri` and `docker`: how the message inside the envelope is read.")
          .For(Only::kFile),
      List<S>("paths", AT(S, paths), "Globs of the files to tail.").For(Only::kFile).Required(),
      Enum<S>("encoding", AT(S, encoding),
              std::vector<std::pair<std::string, Encoding>>{
                  {"utf-8", Encoding::kUtf8}, {"latin1", Encoding::kLatin1}, {"windows-1252", Encoding::kWindows1252},
                  {"utf-16le", Encoding::kUtf16Le}, {"utf-16be", Encoding::kUtf16Be}, {"utf-16", Encoding::kUtf16}},
              "utf-8",
              "The files' encoding; other encodings' lines are transcoded to UTF-8 before the rules (bytes that are "
              "not valid UTF-8 in a `utf-8` file are matched as U+FFFD). `utf-16` takes the byte order from the "
              "file's byte order mark (little-endian without one); UTF-16 lines end at the code unit U+000A and "
              "`max_line_bytes` counts the file's bytes. A UTF-8 byte order mark at the start of a file is removed.")
          .For(Only::kFile),
      List<S>("exclude", AT(S, exclude), "Globs of files not to tail, matched against the full path and the file name.")
          .For(Only::kFile),
      Enum<S>("start_at", AT(S, start_at), std::vector<std::pair<std::string, StartAt>>{{"beginning", StartAt::kBeginning}, {"end", StartAt::kEnd}},
              "beginning", "Where to start reading a file seen for the first time (no checkpoint).")
          .For(Only::kFile),
      Size<S>("fingerprint_bytes", AT(S, fingerprint_bytes), "1KiB",
              "How many first bytes of a file, with device and inode, identify it across rotations.")
          .For(Only::kFile)
          .Range(16, 64 << 10),
      Dur<S>("rotate_wait", AT(S, rotate_wait), "5s", "How long a rotated-away file is still read to its end.")
          .For(Only::kFile),
      Dur<S>("idle_flush", AT(S, idle_flush), "5s",
             "A partial last line (no newline yet) is taken as a line after the file has not grown for this long.")
          .For(Only::kFile),
      Dur<S>("close_idle_after", AT(S, close_idle_after), "5m",
             "A file that has not grown for this long is closed; it is reopened when it grows.")
          .For(Only::kFile)
          .Range(1, kNoMax),
      Int<S>("max_open_files", AT(S, max_open_files), "512",
             "At most this many of the source's files are held open: past it, the files idle longest are closed "
             "(and reopened at their position when they grow). The soft descriptor limit is raised to the hard one "
             "at start.")
          .For(Only::kFile)
          .Range(4, 1 << 20),
      Dur<S>("poll_interval", AT(S, poll_interval), "1s",
             "The period of the stat pass that backs up inotify (and catches what it misses).")
          .For(Only::kFile)
          .Range(1, kNoMax),
      Size<S>("max_line_bytes", AT(S, max_line_bytes), "1MiB",
              "Longer lines (and datagrams) are handled as `on_long_line` says.")
          .Range(1, 64 << 20),
      Enum<S>("on_long_line", AT(S, on_long_line), std::vector<std::pair<std::string, LongLine>>{{"truncate", LongLine::kTruncate}, {"skip", LongLine::kSkip}},
              "truncate", "`truncate` keeps the first `max_line_bytes`; `skip` drops the line. Both are counted."),
      Stored<S>("timezone", Kind::kString, "UTC", "The IANA time zone of times written without an offset.",
                [](S& s, const Value& v) {
                  s.timezone = v.text;
                  s.timezone_mark = v.mark;
                }),
      Stored<S>("path", Kind::kString, "", "The socket's path; created at start, replacing a stale socket.",
                [](S& s, const Value& v) {
                  s.path = v.text;
                  s.path_mark = v.mark;
                })
          .For(Only::kUnix)
          .Required(),
      Enum<S>("protocol", AT(S, protocol), std::vector<std::pair<std::string, SocketProtocol>>{{"stream", SocketProtocol::kStream}, {"datagram", SocketProtocol::kDatagram}},
              "stream", "`stream`: newline-separated lines on each connection; `datagram`: one line per datagram.")
          .For(Only::kUnix),
      Stored<S>("mode", Kind::kMode, "0660", "The socket file's permissions, in octal (quote it: `\"0660\"`).",
                [](S& s, const Value& v) { s.mode = static_cast<uint32_t>(v.number); })
          .For(Only::kUnix),
      Stored<S>("group", Kind::kString, "", "The socket file's group (name); empty: the agent's group.",
                [](S& s, const Value& v) {
                  s.group = v.text;
                  s.group_mark = v.mark;
                })
          .For(Only::kUnix),
      Int<S>("max_clients", AT(S, max_clients), "256",
             "`stream`: connections at once. A new one past it closes the client silent longest (if it has been "
             "silent for a second or more), else it is refused; both are counted.")
          .For(Only::kUnix)
          .Range(1, 1 << 16),
      Size<S>("clients_buffer", AT(S, clients_buffer), "16MiB",
              "`stream`: the memory for all clients' incomplete lines together. Past it, a client holding more than "
              "its share (this divided by the clients connected) has its incomplete line cut as if it were over "
              "`max_line_bytes` (`on_long_line`), counted; the rest of that line is discarded.")
          .For(Only::kUnix)
          .Range(64 << 10, 1ull << 34),
      Dur<S>("client_idle_timeout", AT(S, client_idle_timeout), "5m",
             "`stream`: a client that sends nothing for this long is closed (its incomplete line is delivered). "
             "Not while the pipeline is full and reading is paused.")
          .For(Only::kUnix)
          .Range(1, kNoMax),
  };
  return table;
}

const std::vector<Field<RuleConfig>>& RuleTable() {
  using R = RuleConfig;
  static const std::vector<Field<R>> table = {
      String<R>("name", AT(R, name), "", "Names the rule in metrics, tests and `messageId`; unique.").Required(),
      Stored<R>("sources", Kind::kStringList, "",
                "The sources the rule applies to; absent: every source (except `format: event` ones).",
                [](R& r, const Value& v) {
                  r.sources = v.list;
                  r.source_marks = v.marks;
                }),
      Stored<R>("regex", Kind::kString, "",
                "An RE2 pattern the line (or `field`) must match; its named groups `(?P<name>...)` become "
                "variables. Single-quote it in YAML.",
                [](R& r, const Value& v) {
                  r.regex = v.text;
                  r.regex_mark = v.mark;
                }),
      Stored<R>("field", Kind::kString, "",
                "JSON sources: the dotted path of the field `regex` applies to (instead of the whole line).",
                [](R& r, const Value& v) {
                  r.field = v.text;
                  r.field_mark = v.mark;
                }),
      Custom<R>("when", "map", "Conditions that must all hold: `VAR: literal`, `VAR: {regex: RE}`, "
                               "`VAR: {in: [a, b]}`, `VAR: {exists: true}`.",
                ParseWhen),
      Custom<R>("event", "map", "The event to make: a map of templates (`{{ VAR | filter }}`).",
                [](R& r, const YAML::Node& key, const YAML::Node& value, Loader& loader, const std::string& label) {
                  if (value.IsNull()) loader.Fail(key, label + " has no value");
                  if (!value.IsMap()) loader.Fail(value, label + " must be a map, not " + Describe(value));
                  if (value.size() == 0) loader.Fail(value, label + " is empty");
                  ParseTemplate(value, loader, label, &r.event);
                })
          .Required(),
      Bool<R>("continue", AT(R, continue_matching), "false",
              "`true`: after this rule matches, later rules are tried too."),
  };
  return table;
}

const std::vector<Field<RuleTestConfig>>& TestTable() {
  using T = RuleTestConfig;
  static const std::vector<Field<T>> table = {
      String<T>("name", AT(T, name), "", "Names the test in `tailtrack test` output.").Required(),
      Stored<T>("source", Kind::kString, "", "The source whose rules map `input`.",
                [](T& t, const Value& v) {
                  t.source = v.text;
                  t.source_mark = v.mark;
                })
          .Required(),
      List<T>("input", AT(T, input), "The lines, each one string.").Required(),
      Custom<T>("expect", "list of maps",
                "The events `input` must make, in order, without `messageId`, `context.library` and `sentAt`; "
                "absent or empty: no event. Unquoted numbers, `true`, `false` and `null` are JSON values, quoted "
                "ones strings.",
                [](T& t, const YAML::Node& key, const YAML::Node& value, Loader& loader, const std::string& label) {
                  if (value.IsNull()) loader.Fail(key, label + " has no value (write [] for no events)");
                  if (!value.IsSequence()) loader.Fail(value, label + " must be a list of events, not " + Describe(value));
                  size_t i = 0;
                  for (auto it = value.begin(); it != value.end(); ++it, ++i) {
                    const std::string name = label + "[" + std::to_string(i) + "]";
                    if (!it->IsMap()) loader.Fail(*it, name + " must be a map (an event), not " + Describe(*it));
                    std::string json;
                    ToJson(*it, loader, name, &json);
                    t.expect.push_back(std::move(json));
                  }
                }),
  };
  return table;
}

void ParseSources(Config& config, const YAML::Node& key, const YAML::Node& value, Loader& loader,
                  const std::string& label) {
  if (value.IsNull()) loader.Fail(key, label + " has no value");
  if (!value.IsSequence()) loader.Fail(value, label + " must be a list of sources, not " + Describe(value));
  if (value.size() == 0) loader.Fail(value, label + " must list at least one source");
  std::map<std::string, Mark> names;
  size_t i = 0;
  for (auto it = value.begin(); it != value.end(); ++it, ++i) {
    const YAML::Node item = *it;
    const std::string name = label + "[" + std::to_string(i) + "]";
    if (!item.IsMap()) loader.Fail(item.IsNull() ? value : item, name + " must be a map, not " + Describe(item));
    SourceConfig source;
    source.mark = ToMark(item.Mark());
    // The type decides which keys are valid, so it is read first.
    Only type = Only::kAny;
    for (auto kv = item.begin(); kv != item.end(); ++kv) {
      if (kv->first.IsScalar() && kv->first.Scalar() == "type") {
        const auto& table = SourceTable();
        const auto& f = *std::find_if(table.begin(), table.end(), [](const auto& x) { return x.key == "type"; });
        const std::string text = loader.ScalarText(kv->first, kv->second, name + ".type", "a single value");
        type = loader.ParseText(f, text, name + ".type", ToMark(kv->second.Mark())).number == 0 ? Only::kFile
                                                                                                : Only::kUnix;
      }
    }
    if (type == Only::kAny) loader.Fail(source.mark, "missing required key " + Quote(name + ".type"));
    const Seen seen = loader.ParseSection(item, source.mark, SourceTable(), source, name, type);

    const auto name_ok = !source.name.empty() && std::all_of(source.name.begin(), source.name.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
    });
    if (!name_ok) {
      loader.Fail(seen.at("name").second, name + ".name must be letters, digits, _, - or ., got " + Quote(source.name));
    }
    const auto [first, fresh] = names.emplace(source.name, seen.at("name").second);
    if (!fresh) {
      loader.Fail(seen.at("name").second, "duplicate source name " + Quote(source.name) + " (first at line " +
                                              std::to_string(first->second.line) + ")");
    }
    const bool envelope = source.format == Format::kCri || source.format == Format::kDocker;
    if (envelope && source.type == SourceType::kUnix) {
      loader.Fail(seen.at("format").second, name + ".format " + (source.format == Format::kCri ? "cri" : "docker") +
                                                " is only valid for type: file sources");
    }
    if (seen.count("inner") && !envelope) {
      loader.Fail(seen.at("inner").first, name + ".inner is only valid with format: cri or docker");
    }
    for (size_t p = 0; p < source.paths.size(); ++p) {
      if (source.paths[p].empty()) loader.Fail(seen.at("paths").second, name + ".paths has an empty entry");
    }
    if (source.type == SourceType::kFile && source.paths.empty()) {
      loader.Fail(seen.at("paths").second, name + ".paths must list at least one glob");
    }
    if (source.type == SourceType::kUnix && source.path.empty()) {
      loader.Fail(seen.at("path").second, name + ".path is empty");
    }
    config.sources.push_back(std::move(source));
  }
}

void ParseRules(Config& config, const YAML::Node& key, const YAML::Node& value, Loader& loader,
                const std::string& label) {
  if (value.IsNull()) loader.Fail(key, label + " has no value (write [] for no rules)");
  if (!value.IsSequence()) loader.Fail(value, label + " must be a list of rules, not " + Describe(value));
  size_t i = 0;
  for (auto it = value.begin(); it != value.end(); ++it, ++i) {
    const std::string name = label + "[" + std::to_string(i) + "]";
    if (!it->IsMap()) loader.Fail(it->IsNull() ? value : *it, name + " must be a map, not " + Describe(*it));
    RuleConfig rule;
    rule.mark = ToMark(it->Mark());
    const Seen seen = loader.ParseSection(*it, rule.mark, RuleTable(), rule, name);
    if (rule.name.empty()) loader.Fail(seen.at("name").second, name + ".name is empty");
    if (seen.count("sources") && rule.sources.empty()) {
      loader.Fail(seen.at("sources").second,
                  name + ".sources is empty (leave it out to apply the rule to every source)");
    }
    if (seen.count("regex") && rule.regex.empty()) loader.Fail(rule.regex_mark, name + ".regex is empty");
    if (seen.count("field") && !seen.count("regex")) {
      loader.Fail(seen.at("field").first, name + ".field needs a regex to apply to");
    }
    if (seen.count("field") && rule.field.empty()) loader.Fail(rule.field_mark, name + ".field is empty");
    config.rules.push_back(std::move(rule));
  }
}

void ParseTests(Config& config, const YAML::Node& key, const YAML::Node& value, Loader& loader,
                const std::string& label) {
  if (value.IsNull()) loader.Fail(key, label + " has no value (write [] for no tests)");
  if (!value.IsSequence()) loader.Fail(value, label + " must be a list of tests, not " + Describe(value));
  size_t i = 0;
  for (auto it = value.begin(); it != value.end(); ++it, ++i) {
    const std::string name = label + "[" + std::to_string(i) + "]";
    if (!it->IsMap()) loader.Fail(it->IsNull() ? value : *it, name + " must be a map, not " + Describe(*it));
    RuleTestConfig test;
    test.mark = ToMark(it->Mark());
    const Seen seen = loader.ParseSection(*it, test.mark, TestTable(), test, name);
    if (test.input.empty()) loader.Fail(seen.at("input").second, name + ".input must list at least one line");
    config.tests.push_back(std::move(test));
  }
}

const std::vector<Field<Config>>& TopTable() {
  using C = Config;
  static const std::vector<Field<C>> table = {
      String<C>("state_dir", AT(C, state_dir), "/var/lib/tailtrack",
                "Where checkpoints live; created (0700) by `run` when missing."),
      String<C>("collector.url", AT(C, collector.url), "",
                "The collector's base URL, `http://` or `https://`; events are POSTed to `{url}/v1/capture`.")
          .Required(),
      String<C>("collector.write_key", AT(C, collector.write_key), "",
                "The write key, sent as `X-Write-Key`. Never logged or shown. Use this or `write_key_file`.")
          .Secret(),
      String<C>("collector.write_key_file", AT(C, collector.write_key_file), "",
                "A file holding the write key (a mounted secret); read at start and on reload, a trailing newline "
                "removed."),
      Dur<C>("collector.timeout", AT(C, collector.timeout), "10s", "The deadline of one request.").Range(1, kNoMax),
      Enum<C>("collector.compression", AT(C, collector.compression),
              std::vector<std::pair<std::string, Compression>>{{"none", Compression::kNone}, {"gzip", Compression::kGzip}}, "none",
              "`gzip` compresses request bodies (`Content-Encoding: gzip`)."),
      Int<C>("collector.max_in_flight", AT(C, collector.max_in_flight), "4", "Requests sent concurrently.")
          .Range(1, 64),
      Dur<C>("collector.retry.initial_backoff", AT(C, collector.retry.initial_backoff), "500ms",
             "The first retry's backoff; it doubles on each failure, with full jitter.")
          .Range(1, kNoMax),
      Dur<C>("collector.retry.max_backoff", AT(C, collector.retry.max_backoff), "1m",
             "The backoff's cap; at least `initial_backoff`.")
          .Range(1, kNoMax),
      String<C>("collector.tls.ca_file", AT(C, collector.tls.ca_file), "",
                "A PEM bundle of CAs to trust instead of the system's."),
      Bool<C>("collector.tls.insecure_skip_verify", AT(C, collector.tls.insecure_skip_verify), "false",
              "Skip certificate and host name checks. For testing only."),
      Dur<C>("collector.drain_timeout", AT(C, collector.drain_timeout), "10s",
             "On SIGTERM, how long to keep sending before spooling the rest and exiting."),
      Int<C>("batch.max_events", AT(C, batch.max_events), "500", "A batch is sent when it holds this many events.")
          .Range(1, 10000),
      Size<C>("batch.max_bytes", AT(C, batch.max_bytes), "500KiB",
              "A batch is sent before its body would pass this size.")
          .Range(1 << 10, 500 << 10, "the collector's limit"),
      Dur<C>("batch.flush_interval", AT(C, batch.flush_interval), "1s",
             "A batch is sent when its first event is this old.")
          .Range(1, kNoMax),
      String<C>("spool.dir", AT(C, spool.dir), "{state_dir}/spool",
                "Where batches wait while the collector is unreachable; created (0700) when missing."),
      Size<C>("spool.max_bytes", AT(C, spool.max_bytes), "1GiB", "The spool's size limit on disk.").Range(1, kNoMax),
      Enum<C>("spool.when_full", AT(C, spool.when_full),
              std::vector<std::pair<std::string, WhenFull>>{{"drop_oldest", WhenFull::kDropOldest}, {"block", WhenFull::kBlock}}, "drop_oldest",
              "`drop_oldest` drops the oldest batches (counted); `block` stops reading files and counts socket "
              "lines it cannot take."),
      Bool<C>("spool.fsync", AT(C, spool.fsync), "true",
              "Sync spool writes to disk before offsets are committed (safe across power loss)."),
      String<C>("dead_letter.path", AT(C, dead_letter.path), "{state_dir}/dead-letter.jsonl",
                "Where events that cannot be sent are written, one JSON object a line."),
      Size<C>("dead_letter.max_bytes", AT(C, dead_letter.max_bytes), "64MiB",
              "The dead-letter file's size limit.")
          .Range(1, kNoMax),
      String<C>("admin.listen", AT(C, admin.listen), "",
                "`HOST:PORT`, `[::1]:PORT` or a bare `PORT` (127.0.0.1) for the admin endpoint: `/metrics`, "
                "`/healthz`, `/readyz`, `/status` and a status page at `/` (see [admin.md](admin.md)); absent: off."),
      Bool<C>("reload.watch", AT(C, reload.watch), "false",
              "Also reload when the configuration file or `collector.write_key_file` changes (checked every "
              "2 s by content, so a Kubernetes ConfigMap or Secret update is seen); SIGHUP always reloads."),
      Custom<C>("sources", "list of maps", "Where lines come from; see `sources[]` below.", ParseSources).Required(),
      Custom<C>("rules", "list of maps", "How lines become events, tried in order; see `rules[]` below.", ParseRules),
      Custom<C>("tests", "list of maps", "Rule tests run by `tailtrack test -c FILE`; see `tests[]` below.",
                ParseTests),
  };
  return table;
}

std::string ReplaceStateDir(const std::string& value, const std::string& state_dir) {
  static const std::string kToken = "{state_dir}";
  if (!value.starts_with(kToken)) return value;
  std::string dir = state_dir;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir + value.substr(kToken.size());
}

bool ValidListen(const std::string& listen) {
  std::string port = listen;
  if (const size_t colon = listen.rfind(':'); colon != std::string::npos) {
    const std::string host = listen.substr(0, colon);
    if (host.empty()) return false;
    if (host.front() == '[' && host.back() != ']') return false;
    port = listen.substr(colon + 1);
  }
  uint64_t n = 0;
  return ParseDecimal(port, &n) && n <= 65535;
}

// Reads a whole (small) file; on failure says why in `*error`.
std::string ReadFile(const std::string& path, size_t max_bytes, std::string* error) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *error = std::strerror(errno);
    return {};
  }
  std::string data;
  char buf[4096];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *error = std::strerror(errno);
      ::close(fd);
      return {};
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
    if (data.size() > max_bytes) {
      *error = "file is larger than " + FormatSize(max_bytes);
      ::close(fd);
      return {};
    }
  }
  ::close(fd);
  return data;
}

void CheckCollector(Config& config, const Seen& seen, Loader& loader) {
  auto& c = config.collector;

  const Mark url_mark = seen.at("collector.url").second;
  std::string lower = c.url;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char ch) { return std::tolower(ch); });
  const size_t scheme = lower.starts_with("http://") ? 7 : lower.starts_with("https://") ? 8 : 0;
  if (scheme == 0 || c.url.size() == scheme || c.url[scheme] == '/') {
    loader.Fail(url_mark, "collector.url must be an http:// or https:// URL with a host, got " + Quote(c.url));
  }
  while (c.url.size() > scheme + 1 && c.url.back() == '/') c.url.pop_back();
  // A common first mistake: the endpoint's own path in the base URL would
  // post to /v1/capture/v1/capture and every event would be refused.
  if (c.url.ends_with("/v1/capture")) {
    loader.Fail(url_mark, "collector.url is the collector's base URL; tailtrack adds /v1/capture itself: use " +
                              Quote(c.url.substr(0, c.url.size() - std::string_view("/v1/capture").size())) +
                              " instead of " + Quote(c.url));
  }

  const bool has_key = !c.write_key.empty();
  const bool has_file = seen.count("collector.write_key_file") > 0;
  if (has_key && has_file) {
    loader.Fail(seen.at("collector.write_key_file").first,
                "collector.write_key and collector.write_key_file are both set; use one");
  }
  if (has_file && c.write_key_file.empty()) {
    loader.Fail(seen.at("collector.write_key_file").second, "collector.write_key_file is empty");
  }
  if (has_file && loader.options().require_write_key) {
    std::string error;
    if (!ReadWriteKeyFile(c.write_key_file, &c.write_key, &error)) loader.Fail(seen.at("collector.write_key_file").second, error);
  }
  if (has_key) {
    for (char ch : c.write_key) {
      if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) {
        loader.Fail(seen.at("collector.write_key").second, "collector.write_key holds a control character");
      }
    }
  }
  if (loader.options().require_write_key && !has_key && !has_file) {
    if (seen.count("collector.write_key")) {
      loader.Fail(seen.at("collector.write_key").second,
                  "collector.write_key is empty (set it, or its environment variable, or use write_key_file)");
    }
    loader.Fail(c.mark, "collector.write_key or collector.write_key_file is required");
  }

  // Checked where the write key file is read: only when the agent will send
  // (not for dry runs or `tailtrack test`). Unchecked, every https request
  // would fail with curl 77 while validate said ok.
  if (!c.tls.ca_file.empty() && loader.options().require_write_key && ::access(c.tls.ca_file.c_str(), R_OK) != 0) {
    loader.Fail(seen.at("collector.tls.ca_file").second,
                "cannot read collector.tls.ca_file " + Quote(c.tls.ca_file) + ": " + std::strerror(errno));
  }

  if (c.retry.max_backoff < c.retry.initial_backoff) {
    const Mark at = seen.count("collector.retry.max_backoff") ? seen.at("collector.retry.max_backoff").second
                                                              : seen.at("collector.retry.initial_backoff").second;
    loader.Fail(at, "collector.retry.max_backoff (" + FormatDuration(c.retry.max_backoff) +
                        ") must not be less than collector.retry.initial_backoff (" +
                        FormatDuration(c.retry.initial_backoff) + ")");
  }
}

Config Load(const std::string& text, const std::string& path, const EnvLookup& env, const LoadOptions& options) {
  Loader loader(path, env, options);
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw ConfigError(path, ToMark(e.mark), "invalid YAML: " + OneLine(e.msg));
  }
  if (root.IsNull()) throw ConfigError(path, Mark{1, 1}, "the configuration is empty");
  if (!root.IsMap()) loader.Fail(root, std::string("the configuration must be a map of settings, not ") + Describe(root));

  Config config;
  config.path = path;
  Seen seen = loader.ParseSection(root, ToMark(root.Mark()), TopTable(), config, "");
  // Where sections begin, for errors about keys missing from them.
  for (auto it = root.begin(); it != root.end(); ++it) {
    if (it->first.IsScalar()) seen.emplace(it->first.Scalar(), std::make_pair(ToMark(it->first.Mark()), ToMark(it->second.Mark())));
  }

  config.spool.dir = ReplaceStateDir(config.spool.dir, config.state_dir);
  config.dead_letter.path = ReplaceStateDir(config.dead_letter.path, config.state_dir);
  config.state_dir_mark = seen.count("state_dir") ? seen.at("state_dir").second : Mark{1, 1};
  if (config.state_dir.empty()) loader.Fail(seen.at("state_dir").second, "state_dir is empty");
  if (config.spool.dir.empty()) loader.Fail(seen.at("spool.dir").second, "spool.dir is empty");
  if (config.dead_letter.path.empty()) loader.Fail(seen.at("dead_letter.path").second, "dead_letter.path is empty");

  config.collector.mark = seen.at("collector").first;  // collector.url is required, so it is there
  CheckCollector(config, seen, loader);

  if (seen.count("admin.listen")) config.admin.listen_mark = seen.at("admin.listen").second;
  if (!config.admin.listen.empty() && !ValidListen(config.admin.listen)) {
    loader.Fail(seen.at("admin.listen").second,
                "admin.listen must be HOST:PORT or a port number, got " + Quote(config.admin.listen));
  }

  std::vector<std::string> source_names;
  for (const auto& s : config.sources) source_names.push_back(s.name);
  auto unknown_source = [&](const std::string& name, const std::string& where) {
    std::string message = "unknown source " + Quote(name) + " in " + where;
    const std::string suggestion = Suggest(name, source_names);
    if (!suggestion.empty()) return message + " (did you mean " + Quote(suggestion) + "?)";
    return message + " (sources: " + Join(source_names, ", ") + ")";
  };

  std::map<std::string, Mark> rule_names;
  for (size_t i = 0; i < config.rules.size(); ++i) {
    const RuleConfig& rule = config.rules[i];
    const std::string label = "rules[" + std::to_string(i) + "]";
    const auto [first, fresh] = rule_names.emplace(rule.name, rule.mark);
    if (!fresh) {
      loader.Fail(rule.mark, "duplicate rule name " + Quote(rule.name) + " (first at line " +
                                 std::to_string(first->second.line) + ")");
    }
    for (size_t j = 0; j < rule.sources.size(); ++j) {
      const auto index = config.FindSource(rule.sources[j]);
      if (!index) loader.Fail(rule.source_marks[j], unknown_source(rule.sources[j], label + ".sources"));
      if (config.sources[*index].format == Format::kEvent) {
        loader.Fail(rule.source_marks[j], "source " + Quote(rule.sources[j]) +
                                              " has format: event; its lines are events already and take no rules");
      }
    }
  }

  std::set<std::string> test_names;
  for (size_t i = 0; i < config.tests.size(); ++i) {
    const RuleTestConfig& test = config.tests[i];
    const std::string label = "tests[" + std::to_string(i) + "]";
    if (!test_names.insert(test.name).second) loader.Fail(test.mark, "duplicate test name " + Quote(test.name));
    if (!config.FindSource(test.source)) loader.Fail(test.source_mark, unknown_source(test.source, label + ".source"));
  }
  return config;
}

// ---------------------------------------------------------------------------
// The reference, generated from the tables.

std::string EscapeCell(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += "\\";
    out.push_back(c);
  }
  return out;
}

template <class T>
std::string TypeDoc(const Field<T>& f) {
  auto range = [&](const std::string& lo, const std::string& hi) -> std::string {
    if (f.min == 0 && f.max == kNoMax) return "";
    if (f.max == kNoMax) return f.min == 1 && f.kind == Kind::kDuration ? ", more than 0s" : ", at least " + lo;
    return ", " + lo + " to " + hi;
  };
  switch (f.kind) {
    case Kind::kString:
      return "string";
    case Kind::kBool:
      return "bool";
    case Kind::kInt:
      return "integer" + range(std::to_string(f.min), std::to_string(f.max));
    case Kind::kSize:
      return "size" + range(FormatSize(f.min), FormatSize(f.max));
    case Kind::kDuration:
      return "duration" + range(FormatDuration(Duration(f.min)), FormatDuration(Duration(f.max)));
    case Kind::kEnum: {
      std::vector<std::string> quoted;
      for (const auto& c : f.choices) quoted.push_back("`" + c + "`");
      return Join(quoted, " | ");
    }
    case Kind::kStringList:
      return "list of strings";
    case Kind::kMode:
      return "octal mode";
    case Kind::kCustom:
      return f.type_doc;
  }
  return "";
}

template <class T>
std::string DefaultDoc(const Field<T>& f) {
  if (f.required) return "**required**";
  if (f.def.empty()) return "—";
  return "`" + f.def + "`";
}

template <class T>
std::string TableDoc(const std::vector<Field<T>>& table, const std::string& prefix, bool with_type_column) {
  std::string out = with_type_column ? "| key | for | type | default | description |\n|---|---|---|---|---|\n"
                                     : "| key | type | default | description |\n|---|---|---|---|\n";
  for (const auto& f : table) {
    out += "| `" + prefix + f.key + "` | ";
    if (with_type_column) out += std::string(f.only == Only::kFile ? "file" : f.only == Only::kUnix ? "unix" : "all") + " | ";
    out += EscapeCell(TypeDoc(f)) + " | " + EscapeCell(DefaultDoc(f)) + " | " + EscapeCell(f.doc) + " |\n";
  }
  return out;
}

}  // namespace

EnvLookup ProcessEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (!value) return std::nullopt;
    return std::string(value);
  };
}

Config LoadConfigFromString(const std::string& text, const std::string& path, const EnvLookup& env,
                            const LoadOptions& options) {
  try {
    return Load(text, path, env, options);
  } catch (const ConfigError&) {
    throw;
  } catch (const YAML::Exception& e) {
    // yaml-cpp may still throw while walking a parsed tree; keep it one line.
    throw ConfigError(path, ToMark(e.mark), "invalid YAML: " + OneLine(e.msg));
  }
}

Config LoadConfig(const std::string& path, const EnvLookup& env, const LoadOptions& options) {
  std::string error;
  const std::string text = ReadFile(path, 16 << 20, &error);
  if (!error.empty()) throw ConfigError(path, Mark{1, 1}, "cannot read configuration: " + error);
  return LoadConfigFromString(text, path, env, options);
}

std::string ConfigReferenceMarkdown() {
  std::string out;
  out += "### Top level\n\n";
  out += "Dotted keys are nested maps: `collector.retry.max_backoff` is written\n"
         "`collector:` → `retry:` → `max_backoff:`.\n\n";
  out += TableDoc(TopTable(), "", false);
  out += "\n### `sources[]`\n\n";
  out += "Each source is a map. Keys marked `file` or `unix` are valid for that `type` only; elsewhere they are "
         "errors.\n\n";
  out += TableDoc(SourceTable(), "", true);
  out += "\n### `rules[]`\n\n";
  out += TableDoc(RuleTable(), "", false);
  out += "\n### `tests[]`\n\n";
  out += TableDoc(TestTable(), "", false);
  return out;
}

bool ReadWriteKeyFile(const std::string& path, std::string* key, std::string* error) {
  std::string read_error;
  std::string text = ReadFile(path, 64 << 10, &read_error);
  if (!read_error.empty()) {
    *error = "cannot read collector.write_key_file " + Quote(path) + ": " + read_error;
    return false;
  }
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (text.empty()) {
    *error = "collector.write_key_file " + Quote(path) + " is empty";
    return false;
  }
  for (char ch : text) {
    if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) {
      *error = "collector.write_key_file " + Quote(path) + " holds a control character";
      return false;
    }
  }
  // Neither the old key nor this copy may stay in freed memory.
  CleanseString(*key);
  key->assign(text);
  CleanseString(text);
  return true;
}

}  // namespace tailtrack
