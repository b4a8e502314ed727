#include "spool/dead_letter.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "event/json_writer.h"

namespace tailtrack {

std::string DeadLetterPath(const Config& config) {
  if (!config.dead_letter.path.empty()) return config.dead_letter.path;
  return (std::filesystem::path(config.state_dir) / "dead-letter.jsonl").string();
}

DeadLetter::DeadLetter(std::string path, uint64_t max_bytes) : path_(std::move(path)), max_bytes_(max_bytes) {}

DeadLetter::~DeadLetter() {
  if (fd_ >= 0) ::close(fd_);
}

bool DeadLetter::Open() {
  std::error_code ec;
  const auto parent = std::filesystem::path(path_).parent_path();
  if (!parent.empty() && !std::filesystem::exists(parent, ec)) {
    std::filesystem::create_directories(parent, ec);
    if (!ec) ::chmod(parent.c_str(), 0700);
  }
  fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) return false;
  struct stat st;
  size_ = fstat(fd_, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  return true;
}

bool DeadLetter::Write(std::string_view reason, std::string_view source, std::string_view event_json) {
  line_.clear();
  line_.append("{\"reason\":");
  json::AppendString(line_, reason);
  line_.append(",\"source\":");
  json::AppendString(line_, source);
  line_.append(",\"event\":");
  line_.append(event_json);
  line_.append("}\n");

  if (fd_ < 0 && !Open()) {
    ++failed_;
    return false;
  }
  if (size_ > 0 && size_ + line_.size() > max_bytes_) {
    ::close(fd_);
    fd_ = -1;
    const std::string old = path_ + ".1";
    if (::rename(path_.c_str(), old.c_str()) != 0 || !Open()) {
      ++failed_;
      return false;
    }
  }
  const ssize_t n = ::write(fd_, line_.data(), line_.size());
  if (n != static_cast<ssize_t>(line_.size())) {
    ++failed_;
    return false;
  }
  size_ += line_.size();
  ++written_;
  return true;
}

}  // namespace tailtrack
