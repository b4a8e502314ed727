// Where sources hand their lines: FileSource and UnixSource call it, the
// agent (rules, then batches) implements it.
#pragma once

#include "rules/rule_set.h"

namespace tailtrack {

// Receives lines. The LineContext and its views are valid during the call only.
class LineSink {
 public:
  virtual ~LineSink() = default;
  virtual void OnLine(const LineContext& line) = 0;
};

}  // namespace tailtrack
