#include "app/reload_plan.h"

#include <optional>

namespace tailtrack {

namespace {

SourceConfig WithoutMarks(SourceConfig s) {
  s.timezone_mark = s.path_mark = s.group_mark = s.mark = Mark{};
  return s;
}

CollectorConfig WithoutMarks(CollectorConfig c) {
  c.mark = Mark{};
  return c;
}

}  // namespace

bool SameSourceSettings(const SourceConfig& a, const SourceConfig& b) { return WithoutMarks(a) == WithoutMarks(b); }

ReloadPlan PlanReload(const Config& running, Config next) {
  ReloadPlan plan;
  std::vector<bool> placed(next.sources.size(), false);
  auto find_next = [&](const std::string& name) -> std::optional<size_t> {
    for (size_t j = 0; j < next.sources.size(); ++j) {
      if (!placed[j] && next.sources[j].name == name) return j;
    }
    return std::nullopt;
  };

  std::vector<SourceConfig> sources;
  for (size_t i = 0; i < running.sources.size(); ++i) {
    const SourceConfig& old = running.sources[i];
    const std::optional<size_t> j = find_next(old.name);
    if (!j) {
      sources.push_back(old);
      sources.back().retired = true;
      if (!old.retired) plan.retired.push_back(i);
      continue;
    }
    placed[*j] = true;
    sources.push_back(std::move(next.sources[*j]));
    if (old.retired) {
      plan.added.push_back(i);
    } else if (SameSourceSettings(old, sources.back())) {
      plan.kept.push_back(i);
    } else {
      plan.restarted.push_back(i);
    }
  }
  for (size_t j = 0; j < next.sources.size(); ++j) {
    if (placed[j]) continue;
    plan.added.push_back(sources.size());
    sources.push_back(std::move(next.sources[j]));
  }
  next.sources = std::move(sources);

  // Where state lives and what listens: taken at start only.
  auto keep = [&](auto& value, const auto& running_value, const char* name) {
    if (value == running_value) return;
    plan.restart_only.push_back(name);
    value = running_value;
  };
  if (next.state_dir != running.state_dir) {
    plan.restart_only.push_back("state_dir");
    next.state_dir = running.state_dir;
    next.state_dir_mark = running.state_dir_mark;
  }
  keep(next.spool, running.spool, "spool");
  keep(next.dead_letter, running.dead_letter, "dead_letter");
  if (next.admin.listen != running.admin.listen) plan.restart_only.push_back("admin.listen");
  next.admin = running.admin;

  plan.collector_changed = WithoutMarks(next.collector) != WithoutMarks(running.collector);
  plan.batch_changed = next.batch != running.batch;
  plan.config = std::move(next);
  return plan;
}

}  // namespace tailtrack
