#include "spool/dead_letter.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/log.h"

namespace tailtrack {

std::string DeadLetterPath(const Config& config) {
  if (!config.dead_letter.path.empty()) return config.dead_letter.path;
  return (std::filesystem::path(config.state_dir) / "dead-letter.jsonl").string();
}

void AppendJsonString(std::string_view s, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if (c == '"' || c == '\\') {
        out->push_back('\\');
        out->push_back(static_cast<char>(c));
      } else if (c == '\n') {
        out->append("\\n");
      } else if (c == '\t') {
        out->append("\\t");
      } else if (c == '\r') {
        out->append("\\r");
      } else if (c < 0x20 || c == 0x7f) {
        out->append("\\u00");
        out->push_back(kHex[c >> 4]);
        out->push_back(kHex[c & 15]);
      } else {
        out->push_back(static_cast<char>(c));
      }
      ++i;
      continue;
    }
    // A multi-byte sequence: copy it if it is well formed, else U+FFFD.
    size_t len = 0;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
    }
    bool ok = len != 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
    if (ok && len == 3) {
      const unsigned char c1 = static_cast<unsigned char>(s[i + 1]);
      ok = !(c == 0xE0 && c1 < 0xA0) && !(c == 0xED && c1 >= 0xA0);  // overlong, surrogates
    } else if (ok && len == 4) {
      const unsigned char c1 = static_cast<unsigned char>(s[i + 1]);
      ok = !(c == 0xF0 && c1 < 0x90) && !(c == 0xF4 && c1 >= 0x90);
    }
    if (ok) {
      out->append(s.substr(i, len));
      i += len;
    } else {
      out->append("\xEF\xBF\xBD");
      ++i;
    }
  }
  out->push_back('"');
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
  AppendJsonString(reason, &line_);
  line_.append(",\"source\":");
  AppendJsonString(source, &line_);
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
