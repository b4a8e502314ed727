// The dead-letter file: events that will never be sent, one JSON object a
// line: {"reason":"...","source":"...","event":{...}}.
//
// Bounded: when a line would take the file past `max_bytes`, the file is
// renamed to PATH.1 (replacing an older one) and a new one started, so at
// most about 2 x max_bytes are kept. The parent directory is created (0700)
// on first write, the file 0600. Writes are plain write(2) on the caller's
// thread: dead letters are rare, and a line is written whole or not at all.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "config/config.h"

namespace tailtrack {

class DeadLetter {
 public:
  DeadLetter(std::string path, uint64_t max_bytes);
  ~DeadLetter();
  DeadLetter(const DeadLetter&) = delete;
  DeadLetter& operator=(const DeadLetter&) = delete;

  // `event_json` must be one JSON value. False if it could not be written
  // (logged once per minute by the caller's choice; counted here).
  bool Write(std::string_view reason, std::string_view source, std::string_view event_json);

  uint64_t written() const { return written_; }
  uint64_t failed() const { return failed_; }
  const std::string& path() const { return path_; }

 private:
  bool Open();

  std::string path_;
  uint64_t max_bytes_;
  int fd_ = -1;
  uint64_t size_ = 0;
  uint64_t written_ = 0;
  uint64_t failed_ = 0;
  std::string line_;
};

// The dead-letter path the configuration asks for: dead_letter.path, or
// {state_dir}/dead-letter.jsonl.
std::string DeadLetterPath(const Config& config);

}  // namespace tailtrack
