// libFuzzer: arbitrary bytes into the checkpoint file parser. It must never
// crash nor allocate for entries the bytes cannot hold; what it accepts must
// encode back to exactly the same bytes (the format has one encoding), and a
// refusal must come with a one-line reason. The same bytes as an ahead file
// (checkpoints.ahead, records of a length and a checkpoint file): what its
// whole records span reads back alone to the same entries, and a record
// appended to them is read after them.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "checkpoint/checkpoint_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tailtrack;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<CheckpointEntry> entries;
  const size_t whole = ParseCheckpointRecords(input, &entries);
  if (whole > size || (whole == 0 && !entries.empty())) std::abort();
  std::vector<CheckpointEntry> again;
  std::string records(input.substr(0, whole));
  if (ParseCheckpointRecords(records, &again) != whole || again != entries) std::abort();
  CheckpointEntry appended;
  appended.source = "fuzz";
  appended.ino = size;
  records += EncodeCheckpointRecord({appended});
  entries.push_back(appended);
  if (ParseCheckpointRecords(records, &again) != records.size() || again != entries) std::abort();
  entries.clear();
  std::string error;
  if (!ParseCheckpoints(input, &entries, &error)) {
    if (error.empty() || error.find('\n') != std::string::npos || !entries.empty()) std::abort();
    return 0;
  }
  if (EncodeCheckpoints(entries) != input) std::abort();
  return 0;
}
