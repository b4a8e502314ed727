// Live reload (SIGHUP, or reload.watch): what a new configuration changes in
// a running agent. Pure: the agent applies the plan (app/agent_reload.cc).
//
// Sources keep their index for the life of the process, because lines, the
// batches that hold them and the agent's holds name a source by index: a
// source present in both configurations (by name) keeps its index, a removed
// one stays as a retired entry (never started again), a new one is appended.
// A source whose settings did not change keeps running untouched; one whose
// settings changed is stopped and started again from its read positions.
//
// Some settings need a restart (where the state lives, the spool, the
// dead-letter file, the admin address): the plan keeps their running values
// and names them, so that the agent can say so.
#pragma once

#include <string>
#include <vector>

#include "config/config.h"

namespace tailtrack {

struct ReloadPlan {
  Config config;                     // the new configuration, sources in stable order
  std::vector<size_t> kept;          // indices of sources left running as they are
  std::vector<size_t> restarted;     // settings changed: stopped, then started again where they were
  std::vector<size_t> added;         // new (or back after a removal): started as never seen before
  std::vector<size_t> retired;       // removed: stopped for good
  std::vector<std::string> restart_only;  // changed settings that take effect at the next start
  bool collector_changed = false;
  bool batch_changed = false;
};

// `running` is the configuration in use (its retired sources included),
// `next` the one just loaded and validated, with its rules not yet compiled.
ReloadPlan PlanReload(const Config& running, Config next);

// Whether two sources would read and frame the same way: equal in every
// setting, wherever in the file they were written.
bool SameSourceSettings(const SourceConfig& a, const SourceConfig& b);

}  // namespace tailtrack
