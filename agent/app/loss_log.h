// What the sources could not pass on whole — lines cut or skipped for
// max_line_bytes, records that were not container envelopes, socket lines
// dropped while the pipeline was full, stream clients' incomplete lines cut
// for clients_buffer — logged while the agent runs: the first time a source
// loses anything at once, then at most once a minute with the running totals
// (only when they moved). The stop summary says the final totals.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/log.h"

namespace tailtrack {

struct SourceLosses {
  uint64_t truncated = 0;    // longer than max_line_bytes, cut
  uint64_t skipped = 0;      // longer than max_line_bytes, dropped
  uint64_t dropped = 0;      // socket lines dropped while the pipeline was full
  uint64_t cut_clients = 0;  // stream: incomplete lines cut for clients_buffer
  uint64_t undecodable = 0;  // not a record of the source's container format
  uint64_t cut_records = 0;  // container records over max_line_bytes

  bool operator==(const SourceLosses&) const = default;
  // "12 lines truncated for max_line_bytes, 3 dropped ..." (the non-zero ones); empty when none.
  std::string Describe(std::string_view format_name) const;
};

class LossLog {
 public:
  // Called about once a second with each source's totals so far (now_ms on
  // the monotonic clock). True when it logged them.
  bool Note(std::string_view source, std::string_view format_name, const SourceLosses& totals, int64_t now_ms);

 private:
  std::unordered_map<std::string, SourceLosses> logged_;  // source -> the totals last logged
  LogThrottle throttle_;
};

}  // namespace tailtrack
