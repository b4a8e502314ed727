#include "rules/rule_set.h"

#include <fmt/format.h>
#include <re2/re2.h>
#include <re2/set.h>
#include <simdjson.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <random>

#include "core/clock.h"
#include "event/json_writer.h"
#include "rules/matcher.h"
#include "rules/template.h"
#include "rules/timestamp.h"

namespace tailtrack {
namespace {

constexpr std::string_view kLibrary = "\"library\":{\"name\":\"tailtrack\",\"version\":\"" TAILTRACK_VERSION "\"}";

uint32_t Fnv1a32(std::string_view s) {
  uint32_t h = 2166136261u;
  for (unsigned char c : s) h = (h ^ c) * 16777619u;
  return h;
}



// Characters (code points) of valid UTF-8 text.
size_t Utf8Length(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// Ends a context object whose '{' is at `open` with tailtrack's `library`.
void AppendLibrary(std::string& out, size_t open) {
  if (out.size() > open + 1) out.push_back(',');
  out.append(kLibrary);
}

// A context of its own, for an event that has none.
void AppendLibraryContext(std::string& out) {
  out.append(",\"context\":{");
  AppendLibrary(out, out.size() - 1);
  out.push_back('}');
}

// Why an event breaks the collector's field reference, or empty when it does
// not. `type` is the value of "type" without quotes: empty when absent, "?"
// when it is not a string.
std::string_view FieldReferenceProblem(std::string_view type, bool has_event, bool has_id) {
  const bool track = type == "track";
  if (type.empty()) return "event without \"type\"";
  if (!track && type != "page" && type != "identify") return "\"type\" is not track, page or identify";
  if (track && !has_event) return "track event without \"event\"";
  if (!has_id) return "event without \"userId\" or \"anonymousId\"";
  return {};
}

bool IsTextual(const SourceConfig& s) {
  return s.format == Format::kText || ((s.format == Format::kCri || s.format == Format::kDocker) && s.inner == InnerFormat::kText);
}

// A node of a rule's event, compiled.
struct Node {
  enum Role : uint8_t { kOther, kType, kEvent, kUserId, kAnonymousId, kTimestamp, kContext };
  TemplateNode::Kind kind = TemplateNode::Kind::kScalar;
  Role role = kOther;
  std::string key_json;  // `"key":`
  std::string whole_json;  // a constant scalar: `"key":value`
  ScalarTemplate scalar;
  std::vector<Node> children;
  std::unique_ptr<TimestampParser> iso;  // kTimestamp
};

struct CompiledCondition {
  Condition::Kind kind;
  VarRef var;
  std::string value;
  std::vector<std::string> values;
  std::unique_ptr<RE2> re;
  bool exists = true;
};

struct CompiledRule {
  std::string name;
  uint32_t hash = 0;
  std::unique_ptr<RE2> re;
  std::unique_ptr<OnePassMatcher> fast;
  std::string literal;  // required literal, when there is no fast matcher
  int ncaps = 0;        // 1 + groups
  bool has_field = false;
  VarRef field;
  std::vector<CompiledCondition> when;
  std::vector<Node> event;  // top-level fields
  bool has_timestamp = false, has_context = false;
  bool continue_matching = false;
  bool uses_line = false;  // `_line` in a condition or the event
};

struct SourceState {
  std::string name;
  Format format = Format::kText;
  InnerFormat inner = InnerFormat::kText;
  const date::time_zone* zone = nullptr;
  std::vector<uint32_t> rules;
  // With many rules, one RE2::Set of the rules' regexes says which of them can
  // match a line, so that a line is tried against those only (see Prefilter()).
  std::unique_ptr<RE2::Set> prefilter;
  std::vector<uint32_t> filtered;    // by pattern of the set: its rule's position in `rules` (ascending)
  std::vector<uint32_t> unfiltered;  // positions in `rules` of the rules always tried (ascending)
};

// A source with at least this many rules that match the line itself gets a
// prefilter. Below it, trying the rules one by one costs less than the set's
// DFA pass over the line (docs/performance.md, "Where CPU goes").
constexpr size_t kPrefilterMinRules = 4;

class RuleSetImpl final : public RuleSet {
 public:
  explicit RuleSetImpl(const Config& config);
  void Map(const LineContext& line, EventSink& sink) override;
  const RuleStats& stats() const override { return stats_; }

 private:
  void CompileRule(const Config& config, size_t index);
  Node CompileNode(const std::string& file, const std::string& key, const TemplateNode& t, const Resolver& resolve,
                   bool top);

  void BuildPrefilter(SourceState& src);
  bool Prefilter(const SourceState& src, Scope& scope);
  bool MatchRule(CompiledRule& rule, Scope& scope);
  void RepairLine(Scope& scope);
  bool Holds(const CompiledCondition& c, const Scope& scope);
  void RenderRule(CompiledRule& rule, const Scope& scope, const LineContext& line, EventSink& sink);
  bool RenderNode(const Node& node, const Scope& scope, std::string& out);
  bool RenderMap(const Node& node, const Scope& scope, std::string& out, bool library);
  void RenderTimestamp(const Node& node, const Scope& scope, const LineContext& line, std::string& out);
  void MapReadyMade(const SourceState& src, const LineContext& line, simdjson::dom::element root, EventSink& sink);
  void AppendMessageId(std::string& out, const LineContext& line, uint32_t rule_hash);
  void AppendTime(std::string& out, int64_t ms);
  bool ParseJson(std::string_view text, simdjson::dom::parser& parser, simdjson::dom::element* root);
  void Finish(const LineContext& line, EventSink& sink, std::string_view invalid_reason);

  std::vector<SourceState> sources_;
  std::vector<CompiledRule> rules_;
  RuleStats stats_;
  std::string host_;
  uint64_t socket_prefix_ = 0;
  uint64_t socket_counter_ = 0;

  // Scratch, reused from line to line.
  std::vector<std::string_view> caps_;
  std::vector<re2::StringPiece> pieces_;
  std::vector<int> set_hits_;  // patterns of a prefilter that match the line
  std::string event_;
  std::string text_;
  std::string field_buf_;
  std::string repaired_;       // a JSON text, by ParseJson
  std::string line_repaired_;  // a text line, by RepairLine
  bool line_unchecked_ = false;  // scope.line is text not yet checked to be valid UTF-8
  std::string reason_;
  simdjson::dom::parser parser_;
  simdjson::dom::parser aux_parser_;
  TimestampParser event_time_;  // format: event timestamps
};

RuleSetImpl::RuleSetImpl(const Config& config) {
  const std::string& file = config.path;
  for (const SourceConfig& s : config.sources) {
    SourceState st;
    st.name = s.name;
    st.format = s.format;
    st.inner = s.inner;
    try {
      st.zone = LocateZone(s.timezone);
    } catch (const std::exception&) {
      throw ConfigError(file, s.timezone_mark.line ? s.timezone_mark : s.mark,
                        fmt::format("unknown time zone \"{}\" (an IANA name such as Europe/Berlin, or UTC)", s.timezone));
    }
    sources_.push_back(std::move(st));
  }
  for (size_t i = 0; i < config.rules.size(); ++i) CompileRule(config, i);
  for (SourceState& src : sources_) BuildPrefilter(src);
  stats_.matched.assign(rules_.size(), 0);
  stats_.matched_by_source.assign(rules_.size() * sources_.size(), 0);
  stats_.invalid_by_source.assign(sources_.size(), 0);
  stats_.unmatched.assign(sources_.size(), 0);
  stats_.not_json.assign(sources_.size(), 0);

  int max_caps = 1;
  for (const auto& r : rules_) max_caps = std::max(max_caps, r.ncaps);
  caps_.resize(max_caps);
  pieces_.resize(max_caps);
  event_.reserve(2 * kMaxEventBytes);

  char host[256] = {0};
  if (gethostname(host, sizeof host - 1) == 0) host_ = host;
  std::random_device rd;
  socket_prefix_ = (uint64_t{rd()} << 32) ^ rd();
}

void RuleSetImpl::CompileRule(const Config& config, size_t index) {
  const std::string& file = config.path;
  const RuleConfig& rc = config.rules[index];
  CompiledRule rule;
  rule.name = rc.name;
  rule.hash = Fnv1a32(rule.name);
  rule.continue_matching = rc.continue_matching;
  const std::string quoted = fmt::format("\"{}\"", rule.name);

  std::vector<uint32_t> applies;
  if (rc.sources.empty()) {
    for (uint32_t s = 0; s < sources_.size(); ++s) {
      if (sources_[s].format != Format::kEvent) applies.push_back(s);
    }
  } else {
    // The loader has checked that each source exists and is not format: event
    // (and says so with a suggestion); a hand-built config is not trusted blindly.
    for (const std::string& name : rc.sources) {
      const std::optional<size_t> found = config.FindSource(name);
      if (!found) continue;
      const auto s = static_cast<uint32_t>(*found);
      // A source named twice is one source: the rule runs once per line.
      if (std::find(applies.begin(), applies.end(), s) == applies.end()) applies.push_back(s);
    }
  }
  const SourceConfig* text_source = nullptr;
  bool envelope_source = false;  // _stream and _time are built-ins (elsewhere, `_time` may be a JSON field)
  for (uint32_t s : applies) {
    if (IsTextual(config.sources[s]) && !text_source) text_source = &config.sources[s];
    const Format f = config.sources[s].format;
    envelope_source = envelope_source || f == Format::kCri || f == Format::kDocker;
  }
  const std::string_view builtins =
      envelope_source ? "_line, _source, _path, _offset, _host, _stream, _time" : "_line, _source, _path, _offset, _host";

  std::vector<std::string> capture_names;
  std::map<std::string, int> named;
  if (!rc.regex.empty()) {
    RE2::Options options;
    options.set_log_errors(false);
    rule.re = std::make_unique<RE2>(rc.regex, options);
    if (!rule.re->ok()) {
      throw ConfigError(file, rc.regex_mark, fmt::format("bad regex in rule {}: {}", quoted, rule.re->error()));
    }
    rule.ncaps = 1 + rule.re->NumberOfCapturingGroups();
    named = rule.re->NamedCapturingGroups();
    for (const auto& [name, _] : named) capture_names.push_back(name);
    rule.fast = OnePassMatcher::TryCompile(rc.regex);
    if (rule.fast && rule.fast->groups() + 1 != rule.ncaps) rule.fast.reset();
    if (!rule.fast) rule.literal = RequiredLiteral(rc.regex);
    if (rule.literal.size() < 3) rule.literal.clear();
  }

  const Resolver resolve = [&](const std::string& name, Mark mark) -> VarRef {
    VarRef v;
    v.name = name;
    if (name == "_line") v.kind = VarRef::kLine, rule.uses_line = true;
    else if (name == "_source") v.kind = VarRef::kSource;
    else if (name == "_path") v.kind = VarRef::kPath;
    else if (name == "_offset") v.kind = VarRef::kOffset;
    else if (name == "_host") v.kind = VarRef::kHost;
    else if (name == "_stream" && envelope_source) v.kind = VarRef::kStream;
    else if (name == "_time" && envelope_source) v.kind = VarRef::kRuntimeTime;
    else if (auto it = named.find(name); it != named.end()) v.kind = VarRef::kCapture, v.capture = it->second;
    else {
      if (text_source) {
        if (name == "_stream" || name == "_time") {
          throw ConfigError(file, mark,
                            fmt::format("variable \"{}\" is set for cri and docker sources only, and rule {} applies "
                                        "to none",
                                        name, quoted));
        }
        std::string known;
        for (const auto& n : capture_names) known += (known.empty() ? "" : ", ") + n;
        if (rc.regex.empty()) {
          throw ConfigError(file, mark,
                            fmt::format("variable \"{}\" is not defined: rule {} has no regex, and its source \"{}\" "
                                        "is text (built-ins: {})",
                                        name, quoted, text_source->name, builtins));
        }
        throw ConfigError(file, mark,
                          fmt::format("variable \"{}\" is not a named capture of the regex of rule {} (captures: {}; "
                                      "built-ins: {})",
                                      name, quoted, known.empty() ? "none" : known, builtins));
      }
      v.kind = VarRef::kJsonPath;
      size_t start = 0;
      while (true) {
        const size_t dot = name.find('.', start);
        v.path.push_back(name.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
        if (dot == std::string::npos) break;
        start = dot + 1;
      }
    }
    return v;
  };

  if (!rc.field.empty()) {
    if (rc.regex.empty()) throw ConfigError(file, rc.field_mark, fmt::format("\"field\" of rule {} needs a \"regex\"", quoted));
    if (text_source) {
      throw ConfigError(file, rc.field_mark,
                        fmt::format("\"field\" applies to JSON lines, but rule {} applies to text source \"{}\"",
                                    quoted, text_source->name));
    }
    named.clear();  // the field is a path into the JSON, not a capture
    rule.field = resolve(rc.field, rc.field_mark);
    named = rule.re->NamedCapturingGroups();
    rule.has_field = true;
  }

  for (const Condition& c : rc.when) {
    CompiledCondition cc;
    cc.kind = c.kind;
    cc.var = resolve(c.var, c.mark);
    cc.value = c.value;
    cc.values = c.values;
    cc.exists = c.exists;
    if (c.kind == Condition::Kind::kRegex) {
      RE2::Options options;
      options.set_log_errors(false);
      cc.re = std::make_unique<RE2>(c.value, options);
      if (!cc.re->ok()) {
        throw ConfigError(file, c.mark,
                          fmt::format("bad regex for \"{}\" in rule {}: {}", c.var, quoted, cc.re->error()));
      }
    }
    rule.when.push_back(std::move(cc));
  }

  // An event that can never be valid is refused here, at its mark, rather
  // than made and dead-lettered for every line it matches.
  const Mark event_mark = rc.event.mark.line ? rc.event.mark : rc.mark;
  if (rc.event.kind != TemplateNode::Kind::kMap) {
    throw ConfigError(file, event_mark, fmt::format("the event of rule {} must be a map of fields", quoted));
  }
  const TemplateNode* type = nullptr;
  bool has_event = false, has_id = false;
  for (const auto& [key, child] : rc.event.entries) {
    if (key == "messageId") {
      throw ConfigError(file, child.mark, "messageId is made by tailtrack (deterministic per line); a rule cannot set it");
    }
    if (key == "type") type = &child;
    if (key == "event") has_event = true;
    if (key == "userId" || key == "anonymousId") has_id = true;
    if ((key == "timestamp" || key == "type" || key == "event" || key == "userId" || key == "anonymousId") &&
        child.kind != TemplateNode::Kind::kScalar) {
      throw ConfigError(file, child.mark, fmt::format("\"{}\" must be a single value, not a map or list", key));
    }
    if (key == "context") {
      if (child.kind != TemplateNode::Kind::kMap) throw ConfigError(file, child.mark, "\"context\" must be a map");
      for (const auto& [ckey, cchild] : child.entries) {
        if (ckey == "library") {
          throw ConfigError(file, cchild.mark, "context.library is set by tailtrack; a rule cannot set it");
        }
      }
    }
    Node node = CompileNode(file, key, child, resolve, true);
    if (node.role == Node::kTimestamp) rule.has_timestamp = true;
    if (node.role == Node::kContext) rule.has_context = true;
    rule.event.push_back(std::move(node));
  }
  if (!type) throw ConfigError(file, event_mark, fmt::format("the event of rule {} has no \"type\" (track, page or identify)", quoted));
  if (TemplateVariables(type->text).empty()) {
    if (type->text != "track" && type->text != "page" && type->text != "identify") {
      throw ConfigError(file, type->mark,
                        fmt::format("type \"{}\" is not one the collector takes: track, page or identify", type->text));
    }
    if (type->text == "track" && !has_event) {
      throw ConfigError(file, event_mark, fmt::format("the track event of rule {} has no \"event\" (its name)", quoted));
    }
  }
  if (!has_id) {
    throw ConfigError(file, event_mark,
                      fmt::format("the event of rule {} has neither \"userId\" nor \"anonymousId\"; the collector "
                                  "needs one",
                                  quoted));
  }

  const auto rule_index = static_cast<uint32_t>(rules_.size());
  for (uint32_t s : applies) sources_[s].rules.push_back(rule_index);
  rules_.push_back(std::move(rule));
}

Node RuleSetImpl::CompileNode(const std::string& file, const std::string& key, const TemplateNode& t,
                              const Resolver& resolve, bool top) {
  Node node;
  node.kind = t.kind;
  json::AppendString(node.key_json, key);
  node.key_json.push_back(':');
  if (top) {
    if (key == "type") node.role = Node::kType;
    else if (key == "event") node.role = Node::kEvent;
    else if (key == "userId") node.role = Node::kUserId;
    else if (key == "anonymousId") node.role = Node::kAnonymousId;
    else if (key == "timestamp") node.role = Node::kTimestamp;
    else if (key == "context") node.role = Node::kContext;
  }
  switch (t.kind) {
    case TemplateNode::Kind::kScalar:
      node.scalar = CompileScalar(t, file, resolve);
      if (node.scalar.constant && !node.scalar.constant_json.empty() && !top) {
        node.whole_json = node.key_json + node.scalar.constant_json;
      }
      if (node.role == Node::kTimestamp) node.iso = std::make_unique<TimestampParser>();
      break;
    case TemplateNode::Kind::kMap:
      for (const auto& [k, child] : t.entries) node.children.push_back(CompileNode(file, k, child, resolve, false));
      break;
    case TemplateNode::Kind::kList:
      for (const auto& item : t.items) node.children.push_back(CompileNode(file, "", item, resolve, false));
      break;
  }
  return node;
}

bool RuleSetImpl::ParseJson(std::string_view text, simdjson::dom::parser& parser, simdjson::dom::element* root) {
  // simdjson validates UTF-8 while it parses: a line is repaired (invalid bytes
  // become U+FFFD) and parsed again only when that is why it was refused. Repair
  // changes no ASCII byte, so a line refused for another reason stays refused.
  auto r = parser.parse(text.data(), text.size(), true);
  if (r.error() == simdjson::UTF8_ERROR) {
    json::RepairUtf8(text, repaired_);
    r = parser.parse(repaired_.data(), repaired_.size(), true);
  }
  if (r.error()) return false;
  *root = r.value_unsafe();
  return true;
}

void RuleSetImpl::Map(const LineContext& line, EventSink& sink) {
  if (line.source >= sources_.size() || line.line.empty()) return;
  const SourceState& src = sources_[line.source];
  Scope scope;
  scope.line = line.line;
  scope.source_name = src.name;
  scope.path = line.path;
  scope.offset = line.offset;
  scope.host = host_;
  scope.zone = src.zone;
  scope.aux_parser = &aux_parser_;

  Format format = src.format;
  if (format == Format::kCri || format == Format::kDocker) {
    // EnvelopeDecoder has taken the envelope off (and joined the pieces of a
    // split line): the line is the container's message. A raw envelope cannot
    // be read here.
    if (!line.decoded) {
      ++stats_.not_json[line.source];
      return;
    }
    scope.stream = line.stream;
    scope.runtime_time = line.runtime_time;
    format = src.inner == InnerFormat::kJson ? Format::kJson : Format::kText;
  }
  line_unchecked_ = format == Format::kText;  // JSON is repaired as it is parsed

  if (format == Format::kJson || format == Format::kEvent) {
    simdjson::dom::element root;
    if (!ParseJson(scope.line, parser_, &root) || !root.is_object()) {
      ++stats_.not_json[line.source];
      return;
    }
    if (format == Format::kEvent) {
      MapReadyMade(src, line, root, sink);
      return;
    }
    scope.has_json = true;
    scope.json = root;
  }

  bool matched = false;
  // Tries the rule at `position` in the source's order; true when it matched and does not continue.
  const auto try_rule = [&](size_t position) {
    const uint32_t r = src.rules[position];
    CompiledRule& rule = rules_[r];
    if (!MatchRule(rule, scope)) return false;
    matched = true;
    ++stats_.matched[r];
    ++stats_.matched_by_source[r * sources_.size() + line.source];
    RenderRule(rule, scope, line, sink);
    return !rule.continue_matching;
  };
  if (src.prefilter && Prefilter(src, scope)) {
    // The rules the set let through and the rules always tried, merged in the source's order.
    size_t h = 0, u = 0;
    while (h < set_hits_.size() || u < src.unfiltered.size()) {
      const bool hit_first = u == src.unfiltered.size() ||
                             (h < set_hits_.size() && src.filtered[set_hits_[h]] < src.unfiltered[u]);
      if (try_rule(hit_first ? src.filtered[set_hits_[h++]] : src.unfiltered[u++])) break;
    }
  } else {
    for (size_t i = 0; i < src.rules.size(); ++i) {
      if (try_rule(i)) break;
    }
  }
  if (!matched) ++stats_.unmatched[line.source];
}

// The rules whose regex is matched against the line itself (not a JSON
// field) go into one RE2::Set, in the source's order; rules without a regex,
// or with `field`, are always tried. Their `when` conditions, `continue` and
// the order are untouched: the set only skips rules whose regex cannot match.
void RuleSetImpl::BuildPrefilter(SourceState& src) {
  size_t eligible = 0;
  for (uint32_t r : src.rules) eligible += rules_[r].re && !rules_[r].has_field;
  if (eligible < kPrefilterMinRules) return;
  RE2::Options options;
  options.set_log_errors(false);
  auto set = std::make_unique<RE2::Set>(options, RE2::UNANCHORED);
  std::vector<uint32_t> filtered, unfiltered;
  for (uint32_t i = 0; i < src.rules.size(); ++i) {
    const CompiledRule& rule = rules_[src.rules[i]];
    if (!rule.re || rule.has_field) {
      unfiltered.push_back(i);
      continue;
    }
    // Compiled alone, so not expected to fail: then every rule is tried.
    if (set->Add(rule.re->pattern(), nullptr) != static_cast<int>(filtered.size())) return;
    filtered.push_back(i);
  }
  if (!set->Compile()) return;
  src.prefilter = std::move(set);
  src.filtered = std::move(filtered);
  src.unfiltered = std::move(unfiltered);
  set_hits_.reserve(std::max(set_hits_.capacity(), eligible));
}

// Puts in set_hits_, ascending, the patterns of `src`'s prefilter that match the line.
// False if the set could not decide (its DFA ran out of memory): then every
// rule is tried, as without a prefilter.
bool RuleSetImpl::Prefilter(const SourceState& src, Scope& scope) {
  // The rules match the line as repaired (RepairLine): so does the set.
  RepairLine(scope);
  RE2::Set::ErrorInfo error{};
  if (!src.prefilter->Match(re2::StringPiece(scope.line.data(), scope.line.size()), &set_hits_, &error) &&
      error.kind != RE2::Set::kNoError) {
    set_hits_.clear();
    return false;
  }
  // RE2 lists them as its DFA found them; usually one or two.
  std::sort(set_hits_.begin(), set_hits_.end());
  return true;
}

// RE2 reads UTF-8: a byte that is not part of valid UTF-8 is matched by
// neither `.` nor `\S`, so a Latin-1 name would end a capture early or fail the
// rule. The rules see a text line as its event will carry it: each maximal
// invalid subpart replaced by U+FFFD, as the JSON writer does. A valid line
// stays a view. Done when first needed, so that a line the one-pass matcher
// decides alone costs no scan: it consumes ASCII bytes only and decides at
// most on the first other byte, which stays a byte >= 0x80 after the repair,
// and the ASCII bytes before it are unchanged, so it decides the same.
void RuleSetImpl::RepairLine(Scope& scope) {
  if (!line_unchecked_) return;
  line_unchecked_ = false;
  if (json::IsValidUtf8(scope.line)) return;
  json::RepairUtf8(scope.line, line_repaired_);
  scope.line = line_repaired_;
}

bool RuleSetImpl::MatchRule(CompiledRule& rule, Scope& scope) {
  scope.captures = nullptr;
  scope.ncaptures = 0;
  if (rule.uses_line) RepairLine(scope);
  if (rule.re) {
    std::string_view subject = scope.line;
    if (rule.has_field) {
      const Value v = Lookup(rule.field, scope, field_buf_);
      if (!TextOf(v, field_buf_, &subject)) return false;
    }
    bool ok = false;
    bool exact = false;
    if (rule.fast) ok = rule.fast->Match(subject, caps_.data(), &exact);
    if (!exact) {
      if (!rule.has_field) {
        RepairLine(scope);
        subject = scope.line;
      }
      if (!rule.literal.empty() && !memmem(subject.data(), subject.size(), rule.literal.data(), rule.literal.size())) {
        return false;
      }
      ok = rule.re->Match(re2::StringPiece(subject.data(), subject.size()), 0, subject.size(), RE2::UNANCHORED,
                          pieces_.data(), rule.ncaps);
      if (ok) {
        for (int i = 0; i < rule.ncaps; ++i) caps_[i] = std::string_view(pieces_[i].data(), pieces_[i].size());
      }
    }
    if (!ok) return false;
    scope.captures = caps_.data();
    scope.ncaptures = rule.ncaps;
  }
  for (const CompiledCondition& c : rule.when) {
    if (!Holds(c, scope)) return false;
  }
  return true;
}

bool RuleSetImpl::Holds(const CompiledCondition& c, const Scope& scope) {
  const Value v = Lookup(c.var, scope, text_);
  std::string_view text;
  const bool present = TextOf(v, text_, &text);
  switch (c.kind) {
    case Condition::Kind::kExists: return present == c.exists;
    case Condition::Kind::kEquals: return present && text == c.value;
    case Condition::Kind::kIn:
      if (!present) return false;
      for (const auto& value : c.values) {
        if (text == value) return true;
      }
      return false;
    case Condition::Kind::kRegex:
      return present && RE2::PartialMatch(re2::StringPiece(text.data(), text.size()), *c.re);
  }
  return false;
}

void RuleSetImpl::AppendMessageId(std::string& out, const LineContext& line, uint32_t rule_hash) {
  // "tt-<16 hex file id>-<hex offset>-<8 hex rule>": at most 45 characters.
  static constexpr char kHex[] = "0123456789abcdef";
  char buf[80];
  char* p = buf;
  std::memcpy(p, "\"messageId\":\"tt-", 16);
  p += 16;
  uint64_t id = line.file_id, pos = line.offset;
  if (id == 0) id = socket_prefix_, pos = ++socket_counter_;
  for (int i = 15; i >= 0; --i, id >>= 4) p[i] = kHex[id & 15];
  p += 16;
  *p++ = '-';
  char tmp[16];
  int n = 0;
  do {
    tmp[n++] = kHex[pos & 15];
    pos >>= 4;
  } while (pos);
  while (n > 0) *p++ = tmp[--n];
  *p++ = '-';
  uint32_t h = rule_hash;
  for (int i = 7; i >= 0; --i, h >>= 4) p[i] = kHex[h & 15];
  p += 8;
  *p++ = '"';
  out.append(buf, p - buf);
}

void RuleSetImpl::AppendTime(std::string& out, int64_t ms) {
  char buf[24];
  FormatIsoMillis(ms, buf);
  out.push_back('"');
  out.append(buf, 24);
  out.push_back('"');
}

bool RuleSetImpl::RenderNode(const Node& node, const Scope& scope, std::string& out) {
  switch (node.kind) {
    case TemplateNode::Kind::kScalar: return node.scalar.Render(scope, out);
    case TemplateNode::Kind::kMap: return RenderMap(node, scope, out, false);
    case TemplateNode::Kind::kList: {
      const size_t start = out.size();
      out.push_back('[');
      for (const Node& child : node.children) {
        const size_t mark = out.size();
        if (out.size() > start + 1) out.push_back(',');
        if (!RenderNode(child, scope, out)) out.resize(mark);
      }
      if (out.size() == start + 1) {
        out.resize(start);
        return false;
      }
      out.push_back(']');
      return true;
    }
  }
  return false;
}

bool RuleSetImpl::RenderMap(const Node& node, const Scope& scope, std::string& out, bool library) {
  const size_t start = out.size();
  out.push_back('{');
  for (const Node& child : node.children) {
    const size_t mark = out.size();
    if (out.size() > start + 1) out.push_back(',');
    if (!child.whole_json.empty()) {  // a constant field: key and value in one go
      out.append(child.whole_json);
      continue;
    }
    out.append(child.key_json);
    if (!RenderNode(child, scope, out)) out.resize(mark);
  }
  if (library) AppendLibrary(out, start);
  if (out.size() == start + 1) {
    out.resize(start);
    return false;
  }
  out.push_back('}');
  return true;
}

void RuleSetImpl::RenderTimestamp(const Node& node, const Scope& scope, const LineContext& line, std::string& out) {
  Value v;
  const bool has = node.scalar.RenderText(scope, text_, &v);
  int64_t ms = line.read_time_ms;
  if (v.normalized_time) {
    out.push_back('"');
    out.append(text_);
    out.push_back('"');
    return;
  }
  if (!has) {
    if (v.time_failed) ++stats_.timestamp_fallbacks;  // a timestamp filter could not read it
  } else if (v.kind == Value::kInt || v.kind == Value::kDouble ||
             ((v.kind == Value::kElement) && v.element.is_number())) {
    // A number: Unix seconds, or milliseconds when it is too large to be seconds.
    const Value n = v.kind == Value::kElement ? NumberOfElement(v.element) : v;
    const double x = n.kind == Value::kInt ? static_cast<double>(n.i) : n.d;
    const double millis = x < 1e11 ? x * 1000 : x;
    if (millis >= 0 && millis < 253402300800000.0) ms = static_cast<int64_t>(millis);
    else ++stats_.timestamp_fallbacks;
  } else if (!node.iso->Parse(text_, scope.zone, &ms)) {
    ms = line.read_time_ms;
    ++stats_.timestamp_fallbacks;
  } else if (text_.size() == 24 && text_[10] == 'T' && text_[19] == '.' && text_[23] == 'Z') {
    // Already in the wire format (and just parsed, so valid): copy it.
    out.push_back('"');
    out.append(text_);
    out.push_back('"');
    return;
  }
  AppendTime(out, ms);
}

void RuleSetImpl::RenderRule(CompiledRule& rule, const Scope& scope, const LineContext& line, EventSink& sink) {
  std::string& out = event_;
  out.clear();
  out.push_back('{');
  AppendMessageId(out, line, rule.hash);
  // Where the rendered type is in `out` (an offset: `out` may grow and move).
  size_t type_at = 0, type_size = 0;
  bool has_event = false, has_user = false, has_anon = false;
  for (const Node& node : rule.event) {
    const size_t mark = out.size();
    out.push_back(',');
    out.append(node.key_json);
    const size_t value_at = out.size();
    bool ok = true;
    if (node.role == Node::kTimestamp) {
      RenderTimestamp(node, scope, line, out);
    } else if (node.role == Node::kContext) {
      ok = RenderMap(node, scope, out, true);
    } else {
      ok = RenderNode(node, scope, out);
    }
    if (!ok) {
      out.resize(mark);
      continue;
    }
    const bool is_string = out[value_at] == '"';
    switch (node.role) {
      case Node::kType: type_at = value_at, type_size = out.size() - value_at; break;
      case Node::kEvent: has_event = is_string; break;
      case Node::kUserId: has_user = is_string; break;
      case Node::kAnonymousId: has_anon = is_string; break;
      default: break;
    }
  }
  if (!rule.has_timestamp) {
    out.append(",\"timestamp\":");
    AppendTime(out, line.read_time_ms);
  }
  if (!rule.has_context) AppendLibraryContext(out);
  out.push_back('}');

  // The rendered type is JSON: a string is compared without its quotes.
  std::string_view type;
  if (type_size > 0) type = out[type_at] == '"' ? std::string_view(out).substr(type_at + 1, type_size - 2) : "?";
  Finish(line, sink, FieldReferenceProblem(type, has_event, has_user || has_anon));
}

void RuleSetImpl::Finish(const LineContext& line, EventSink& sink, std::string_view reason) {
  if (reason.empty() && event_.size() > kMaxEventBytes) {
    reason_ = fmt::format("event of {} bytes is over the collector's limit of {} bytes", event_.size(), kMaxEventBytes);
    reason = reason_;
  }
  if (!reason.empty()) {
    ++stats_.invalid;
    ++stats_.invalid_by_source[line.source];
    sink.OnInvalid(reason, event_, line);
    return;
  }
  ++stats_.events;
  sink.OnEvent(event_, line);
}

void RuleSetImpl::MapReadyMade(const SourceState& src, const LineContext& line, simdjson::dom::element root,
                               EventSink& sink) {
  std::string& out = event_;
  out.clear();
  out.push_back('{');
  std::string_view reason;
  std::string_view type, message_id;
  bool has_event = false, has_user = false, has_anon = false, has_time = false, has_context = false;
  const auto object = root.get_object().value_unsafe();
  for (auto field : object) {
    const std::string_view key = field.key;
    const auto value = field.value;
    std::string_view s;
    const bool is_string = value.get_string().get(s) == simdjson::SUCCESS;
    if (key == "messageId") {
      if (!is_string || s.empty()) reason = "\"messageId\" is not a non-empty string";
      else if (s.size() > 100 && Utf8Length(s) > 100) reason = "\"messageId\" is longer than 100 characters";
      else message_id = s;
      continue;  // written first, below
    }
    if (out.size() > 1) out.push_back(',');
    json::AppendString(out, key);
    out.push_back(':');
    if (key == "timestamp") {
      has_time = true;
      int64_t ms = line.read_time_ms;
      if (is_string) {
        if (!event_time_.Parse(s, src.zone, &ms)) ms = line.read_time_ms, ++stats_.timestamp_fallbacks;
      } else {
        ++stats_.timestamp_fallbacks;
      }
      AppendTime(out, ms);
      continue;
    }
    if (key == "context") {
      has_context = true;
      if (!value.is_object()) {
        reason = "\"context\" is not an object";
        json::AppendElement(out, value);
        continue;
      }
      const size_t open = out.size();
      out.push_back('{');
      for (auto c : simdjson::dom::object(value)) {
        if (c.key == "library") continue;
        if (out.size() > open + 1) out.push_back(',');
        json::AppendString(out, c.key);
        out.push_back(':');
        json::AppendElement(out, c.value);
      }
      AppendLibrary(out, open);
      out.push_back('}');
      continue;
    }
    json::AppendElement(out, value);
    if (key == "type") type = is_string ? s : "?";
    if (key == "event") has_event = is_string && !s.empty();
    if (key == "userId") has_user = is_string && !s.empty();
    if (key == "anonymousId") has_anon = is_string && !s.empty();
  }
  if (!has_time) {
    if (out.size() > 1) out.push_back(',');
    out.append("\"timestamp\":");
    AppendTime(out, line.read_time_ms);
  }
  if (!has_context) AppendLibraryContext(out);
  out.push_back('}');
  // messageId goes first: insert it (the event is small, and this path is the cold one).
  text_.clear();
  text_.push_back('{');
  if (!message_id.empty()) {
    text_.append("\"messageId\":");
    json::AppendString(text_, message_id);
  } else {
    AppendMessageId(text_, line, Fnv1a32(""));
  }
  text_.push_back(',');
  text_.append(out, 1);
  out.swap(text_);

  if (reason.empty()) reason = FieldReferenceProblem(type, has_event, has_user || has_anon);
  Finish(line, sink, reason);
}

}  // namespace

std::unique_ptr<RuleSet> RuleSet::Compile(const Config& config) { return std::make_unique<RuleSetImpl>(config); }

}  // namespace tailtrack
