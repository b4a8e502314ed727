// Where sources hand their lines: FileSource and UnixSource call it, the
// agent (rules, then batches) implements it.
#pragma once

#include <vector>

#include "checkpoint/checkpoint_file.h"
#include "rules/rule_set.h"

namespace tailtrack {

// Receives lines. The LineContext and its views are valid during the call only.
class LineSink {
 public:
  virtual ~LineSink() = default;
  virtual void OnLine(const LineContext& line) = 0;
  // File `file.file_id` (its source and path in `file`) gives nothing more
  // for now: idle for idle_flush, closed while the source runs, or rewritten
  // (a new generation follows under a new id). What a later stage holds of
  // it (a container line still in pieces) may be passed on.
  virtual void OnFileQuiet(const LineContext& file) { (void)file; }
  // Writes `unsaved` where a restart finds them (checkpoints.ahead): a file
  // source calls it before it hands on the first lines of file generations
  // the checkpoint does not name yet (FileSource::ReadChunk says why).
  virtual void SavePositions(const std::vector<CheckpointEntry>& unsaved) { (void)unsaved; }
};

}  // namespace tailtrack
