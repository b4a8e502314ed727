// One agent per state directory. Two agents on one state_dir would read the
// same checkpoints, both send every line, and overwrite each other's offsets.
#pragma once

#include <memory>
#include <string>

namespace tailtrack {

// {state_dir}/lock, held with flock(LOCK_EX | LOCK_NB) for the agent's life,
// with the holder's pid written in it for the message the next one prints.
// The lock belongs to the open file, so it is released at destruction and by
// the kernel when the process dies, kill -9 included; a stale lock file left
// behind is harmless. The file is never removed: unlinking it would let a
// third agent lock a new file while a second still holds the old one.
class StateLock {
 public:
  // The directory must exist. Null with a one-line *error when another
  // process (or another StateLock in this one) holds it: "state_dir DIR is in
  // use by another tailtrack (pid N); two agents on one state would both
  // send", or "DIR/lock: cannot open: errno text" and the like.
  static std::unique_ptr<StateLock> Acquire(const std::string& state_dir, std::string* error);
  ~StateLock();
  StateLock(const StateLock&) = delete;
  StateLock& operator=(const StateLock&) = delete;

  const std::string& path() const { return path_; }

 private:
  StateLock(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}

  std::string path_;
  int fd_;
};

}  // namespace tailtrack
