#include "app/status_view.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <ctime>
#include <optional>
#include <vector>

#include "app/human.h"

namespace tailtrack {
namespace {

using simdjson::dom::element;

// ANSI SGR codes; empty when colour is off.
struct Palette {
  const char* bold = "";
  const char* dim = "";
  const char* green = "";
  const char* yellow = "";
  const char* red = "";
  const char* reset = "";
  static Palette For(bool colour) {
    if (!colour) return {};
    return {"\x1b[1m", "\x1b[2m", "\x1b[32m", "\x1b[33m", "\x1b[31m", "\x1b[0m"};
  }
};

uint64_t Count(element e, std::string_view key) {
  uint64_t v = 0;
  if (e[key].get_uint64().get(v) == simdjson::SUCCESS) return v;
  double d = 0;
  if (e[key].get_double().get(d) == simdjson::SUCCESS && d > 0) return static_cast<uint64_t>(d);
  return 0;
}

std::optional<double> Number(element e, std::string_view key) {
  double d = 0;
  if (e[key].get_double().get(d) != simdjson::SUCCESS) return std::nullopt;
  return d;
}

std::string Text(element e, std::string_view key, std::string_view fallback = "") {
  std::string_view s;
  if (e[key].get_string().get(s) != simdjson::SUCCESS) return std::string(fallback);
  return std::string(s);
}

bool Flag(element e, std::string_view key) {
  bool b = false;
  return e[key].get_bool().get(b) == simdjson::SUCCESS && b;
}

// "2026-11-30T15:00:12.500Z" -> milliseconds since the epoch.
std::optional<int64_t> IsoMillis(std::string_view iso) {
  std::tm tm{};
  int ms = 0;
  const std::string s(iso);
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec, &ms) < 6) {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<int64_t>(timegm(&tm)) * 1000 + ms;
}

// Columns on a terminal: UTF-8 code points, escape sequences not counted.
size_t VisibleWidth(std::string_view s) {
  size_t width = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\x1b') {
      while (i < s.size() && s[i] != 'm') ++i;
      continue;
    }
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) ++width;
  }
  return width;
}

// `line` cut to `width` columns, escape sequences kept whole (and a reset
// added when something was cut, so that no colour runs on).
std::string CutToWidth(const std::string& line, size_t width, const Palette& p) {
  if (VisibleWidth(line) <= width) return line;
  std::string out;
  size_t seen = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '\x1b') {
      const size_t end = line.find('m', i);
      if (end == std::string::npos) break;
      out.append(line, i, end - i + 1);
      i = end;
      continue;
    }
    if ((static_cast<unsigned char>(line[i]) & 0xC0) != 0x80 && ++seen > width) break;
    if (seen <= width) out.push_back(line[i]);
  }
  return out + p.reset;
}

std::string Pad(const std::string& s, size_t width) {
  const size_t w = VisibleWidth(s);
  return w >= width ? s : s + std::string(width - w, ' ');
}

// Columns sized to their widest cell, two spaces apart.
std::string Table(const std::vector<std::vector<std::string>>& rows, const std::string& indent) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], VisibleWidth(row[c]));
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line = indent;
    for (size_t c = 0; c < row.size(); ++c) line += c + 1 == row.size() ? row[c] : Pad(row[c], widths[c] + 2);
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

const char* StateColour(std::string_view state, const Palette& p) {
  if (state == "healthy") return p.green;
  if (state == "backing_off" || state == "held") return p.yellow;
  return p.red;
}

}  // namespace

bool RenderStatus(std::string_view json, const StatusSample& previous, const StatusViewOptions& options,
                  std::string* out, StatusSample* sample, std::string* error) {
  simdjson::dom::parser parser;
  element doc;
  if (auto err = parser.parse(json.data(), json.size()).get(doc); err != simdjson::SUCCESS) {
    *error = fmt::format("not JSON ({})", simdjson::error_message(err));
    return false;
  }
  element collector, totals;
  if (!doc.is_object() || doc["collector"].get(collector) != simdjson::SUCCESS ||
      doc["totals"].get(totals) != simdjson::SUCCESS) {
    *error = "not the agent's status (no \"collector\" or \"totals\")";
    return false;
  }
  const Palette p = Palette::For(options.colour);

  *sample = StatusSample{};
  sample->valid = true;
  sample->pid = static_cast<int64_t>(Count(doc, "pid"));
  sample->uptime_seconds = Number(doc, "uptime_seconds").value_or(0);
  sample->lines_read = Count(totals, "lines_read");
  sample->events_sent = Count(totals, "events_sent");
  simdjson::dom::array sources;
  if (doc["sources"].get(sources) != simdjson::SUCCESS) sources = {};
  for (element s : sources) sample->source_lines[Text(s, "name")] = Count(s, "lines_read");

  // Rates over the last interval when there is one; else since the start.
  const bool live = previous.valid && previous.pid == sample->pid &&
                    sample->uptime_seconds > previous.uptime_seconds + 0.05 &&
                    sample->lines_read >= previous.lines_read && sample->events_sent >= previous.events_sent;
  const double interval = live ? sample->uptime_seconds - previous.uptime_seconds : sample->uptime_seconds;
  auto rate = [&](uint64_t now, uint64_t before) -> double {
    if (interval <= 0) return 0;
    return static_cast<double>(live ? now - std::min(now, before) : now) / interval;
  };

  std::vector<std::string> lines;
  auto label = [&](const char* name) { return fmt::format("{}{:<10}{}", p.dim, name, p.reset); };

  // The agent.
  const bool ready = Flag(doc, "ready");
  std::string title = fmt::format("{}tailtrack {}{}", p.bold, Text(doc, "version", "?"), p.reset);
  if (!options.address.empty()) title += " at " + options.address;
  title += fmt::format("   pid {}   up {}   ", sample->pid, HumanSeconds(sample->uptime_seconds));
  title += ready ? fmt::format("{}ready{}", p.green, p.reset)
                 : fmt::format("{}not ready: {}{}", p.red, Text(doc, "ready_reason", "?"), p.reset);
  lines.push_back(title);

  // The collector.
  const std::string state = Text(collector, "state", "?");
  std::string line = fmt::format("{}{}{}{}   {}   in flight {}", label("collector"), StateColour(state, p), state,
                                 p.reset, Text(collector, "url", "?"), Count(collector, "in_flight"));
  const auto now_ms = IsoMillis(Text(doc, "now"));
  const auto delivered_ms = IsoMillis(Text(collector, "last_delivery_at"));
  if (now_ms && delivered_ms) {
    line += fmt::format("   last delivery {} ago", HumanSeconds((*now_ms - *delivered_ms) / 1000.0));
  } else {
    line += "   nothing delivered yet";
  }
  lines.push_back(line);
  line = fmt::format("{}requests {}   failed attempts {}", std::string(10, ' '),
                     HumanCount(Count(collector, "requests")), HumanCount(Count(collector, "failed_attempts")));
  if (const std::string last = Text(collector, "last_error"); !last.empty()) {
    line += fmt::format("   last error: {}{}{}", p.red, last, p.reset);
  }
  lines.push_back(line);

  // Rates and totals.
  lines.push_back(fmt::format("{}{}{}{} lines/s   {}{}{} events/s   {}{}{}", label("rates"), p.bold,
                              HumanRate(rate(sample->lines_read, previous.lines_read)), p.reset, p.bold,
                              HumanRate(rate(sample->events_sent, previous.events_sent)), p.reset, p.dim,
                              live ? fmt::format("(last {:.1f}s)", interval) : std::string("(average since start)"),
                              p.reset));
  const uint64_t dead = Count(totals, "dead_letters"), dropped = Count(totals, "dropped_events");
  lines.push_back(fmt::format(
      "{}lines {}   events sent {}   batches {}   unmatched {}   {}dead letters {}{}   {}dropped {}{}", label("totals"),
      HumanCount(sample->lines_read), HumanCount(sample->events_sent), HumanCount(Count(totals, "batches_sent")),
      HumanCount(Count(totals, "unmatched_lines")), dead ? p.yellow : "", HumanCount(dead), dead ? p.reset : "",
      dropped ? p.red : "", HumanCount(dropped), dropped ? p.reset : ""));

  // Memory and the spool.
  element memory, spool;
  if (doc["memory"].get(memory) == simdjson::SUCCESS) {
    lines.push_back(fmt::format("{}{} batches waiting   rss {}", label("memory"),
                                HumanCount(Count(memory, "batches_waiting")), HumanBytes(Count(memory, "rss_bytes"))));
  }
  if (doc["spool"].get(spool) == simdjson::SUCCESS) {
    if (!Flag(spool, "enabled")) {
      lines.push_back(fmt::format("{}{}off{}", label("spool"), p.dim, p.reset));
    } else {
      const uint64_t batches = Count(spool, "batches");
      const auto oldest = Number(spool, "oldest_age_seconds");
      lines.push_back(fmt::format("{}{}{} of {}{}   {} batches   {} events   oldest {}", label("spool"),
                                  batches ? p.yellow : "", HumanBytes(Count(spool, "bytes")),
                                  HumanBytes(Count(spool, "max_bytes")), batches ? p.reset : "", HumanCount(batches),
                                  HumanCount(Count(spool, "events")), oldest ? HumanSeconds(*oldest) : "-"));
    }
  }
  element config;
  if (doc["config"].get(config) == simdjson::SUCCESS) {
    line = fmt::format("{}{}   reloads {}", label("config"), Text(config, "path", "?"), Count(config, "reloads"));
    if (const uint64_t failed = Count(config, "reload_failures")) {
      line += fmt::format("   {}{} failed{}", p.red, failed, p.reset);
    }
    if (const std::string last = Text(config, "last_reload_error"); !last.empty()) {
      line += fmt::format(": {}", last);
    }
    lines.push_back(line);
  }

  // The sources.
  lines.emplace_back();
  std::vector<std::vector<std::string>> rows;
  rows.emplace_back();
  for (const char* heading : {"source", "type", "lines", "lines/s", "lag", "files", "rules matched"}) {
    rows.back().push_back(fmt::format("{}{}{}", p.bold, heading, p.reset));
  }
  for (element s : sources) {
    const std::string name = Text(s, "name", "?");
    const std::string type = Text(s, "type", "?");
    const uint64_t lines_read = Count(s, "lines_read");
    const auto before = previous.source_lines.find(name);
    const double source_rate =
        rate(lines_read, live && before != previous.source_lines.end() ? before->second : lines_read);
    std::string lag = "-", files;
    if (type == "file") {
      const uint64_t lag_bytes = Count(s, "lag_bytes");
      lag = lag_bytes ? fmt::format("{}{}{}", p.yellow, HumanBytes(lag_bytes), p.reset) : "0 B";
      files = fmt::format("{} open / {}", Count(s, "files_open"), Count(s, "files_watched"));
    } else {
      files = fmt::format("{} client{}", Count(s, "clients"), Count(s, "clients") == 1 ? "" : "s");
      if (const uint64_t dropped_lines = Count(s, "dropped_lines")) {
        files += fmt::format(", {}{} dropped{}", p.red, HumanCount(dropped_lines), p.reset);
      }
    }
    std::string rules;
    simdjson::dom::array rule_list;
    if (s["rules"].get(rule_list) == simdjson::SUCCESS) {
      for (element r : rule_list) {
        rules += fmt::format("{}{} {}", rules.empty() ? "" : ", ", Text(r, "name", "?"), HumanCount(Count(r, "matched")));
      }
    }
    if (const uint64_t unmatched = Count(s, "unmatched_lines")) {
      rules += fmt::format("{}{}unmatched {}{}", rules.empty() ? "" : ", ", p.dim, HumanCount(unmatched), p.reset);
    }
    std::string shown = name;
    if (Flag(s, "paused")) shown += fmt::format(" {}(paused){}", p.yellow, p.reset);
    rows.push_back({shown, type, HumanCount(lines_read), HumanRate(source_rate), lag, files, rules});
  }
  if (rows.size() == 1) rows.push_back({"(no sources)"});
  std::string table = Table(rows, "");
  for (size_t start = 0; start < table.size();) {
    const size_t end = table.find('\n', start);
    lines.push_back(table.substr(start, end - start));
    start = end + 1;
  }

  // The agent's last warnings and errors.
  simdjson::dom::array errors;
  if (doc["last_errors"].get(errors) == simdjson::SUCCESS && errors.size() > 0) {
    lines.emplace_back();
    lines.push_back(fmt::format("{}last errors{}", p.bold, p.reset));
    for (element e : errors) {
      const std::string at = Text(e, "at");
      const std::string level = Text(e, "level", "?");
      // The time of day is enough here: the full time is in the JSON.
      lines.push_back(fmt::format("  {}{}{}  {}{:<5}{}  {}", p.dim, at.size() >= 19 ? at.substr(11, 8) : at, p.reset,
                                  level == "error" ? p.red : p.yellow, level, p.reset, Text(e, "message")));
    }
  }

  out->clear();
  for (const std::string& l : lines) {
    *out += options.width > 0 ? CutToWidth(l, static_cast<size_t>(options.width), p) : l;
    *out += '\n';
  }
  return true;
}

}  // namespace tailtrack
