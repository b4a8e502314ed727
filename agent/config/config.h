// The validated, typed configuration. Produced by LoadConfig (config/loader.h),
// read by everything else. Plain data: no YAML types leak past config/.
//
// Every value a later stage may still reject (a regex, a template, a source
// name) keeps the Mark of where it was written, so that its error can still be
// "FILE:LINE:COLUMN: message".
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/secret.h"

namespace tailtrack {

using Duration = std::chrono::milliseconds;

enum class Compression { kNone, kGzip };
enum class WhenFull { kDropOldest, kBlock };
enum class SourceType { kFile, kUnix };
// How the bytes of one line (or datagram) are read.
enum class Format { kText, kJson, kEvent, kCri, kDocker };
// The payload inside a cri/docker envelope.
enum class InnerFormat { kText, kJson };
enum class StartAt { kBeginning, kEnd };
// The encoding of a file source's bytes (transcoded to UTF-8 line by line;
// UTF-16 is framed in its own code units first). kUtf16: by the byte order
// mark, little-endian without one.
enum class Encoding { kUtf8, kLatin1, kWindows1252, kUtf16Le, kUtf16Be, kUtf16 };
enum class LongLine { kTruncate, kSkip };
enum class SocketProtocol { kStream, kDatagram };

struct RetryConfig {
  Duration initial_backoff{500};
  Duration max_backoff{60'000};
  bool operator==(const RetryConfig&) const = default;
};

struct TlsConfig {
  std::string ca_file;  // empty: the system's CA bundle
  bool insecure_skip_verify = false;
  bool operator==(const TlsConfig&) const = default;
};

struct CollectorConfig {
  std::string url;             // POSTs go to {url}/v1/capture
  SecretString write_key;      // resolved: from write_key, or read from write_key_file; zeroed when given up
  std::string write_key_file;  // kept so that a reload re-reads it
  Duration timeout{10'000};
  Compression compression = Compression::kNone;
  int max_in_flight = 4;
  RetryConfig retry;
  TlsConfig tls;
  Duration drain_timeout{10'000};
  Mark mark;
  bool operator==(const CollectorConfig&) const = default;
};

struct BatchConfig {
  uint64_t max_events = 500;
  uint64_t max_bytes = 500 * 1024;
  Duration flush_interval{1'000};
  bool operator==(const BatchConfig&) const = default;
};

struct SpoolConfig {
  std::string dir;
  uint64_t max_bytes = 1ull << 30;
  WhenFull when_full = WhenFull::kDropOldest;
  bool fsync = true;
  bool operator==(const SpoolConfig&) const = default;
};

struct DeadLetterConfig {
  std::string path;  // default {state_dir}/dead-letter.jsonl
  uint64_t max_bytes = 64ull << 20;
  bool operator==(const DeadLetterConfig&) const = default;
};

struct ReloadConfig {
  bool watch = false;  // also reload when the configuration or write_key_file changes
  bool operator==(const ReloadConfig&) const = default;
};

struct AdminConfig {
  std::string listen;  // empty: no admin server
  Mark listen_mark;    // where it is written: a bind error points here
  bool operator==(const AdminConfig&) const = default;
};

struct SourceConfig {
  std::string name;
  SourceType type = SourceType::kFile;
  Format format = Format::kText;
  InnerFormat inner = InnerFormat::kText;  // for cri / docker
  uint64_t max_line_bytes = 1 << 20;
  LongLine on_long_line = LongLine::kTruncate;
  std::string timezone = "UTC";  // IANA name; for times written without an offset
  Mark timezone_mark;

  // type: file
  std::vector<std::string> paths;    // globs
  std::vector<std::string> exclude;  // globs matched against the full path and the file name
  StartAt start_at = StartAt::kBeginning;
  Encoding encoding = Encoding::kUtf8;
  uint64_t fingerprint_bytes = 1024;
  Duration rotate_wait{5'000};
  Duration idle_flush{5'000};         // a partial last line is sent after this long without growth
  Duration close_idle_after{300'000};
  uint64_t max_open_files = 512;      // the source's descriptor budget
  Duration poll_interval{1'000};      // the stat pass that backs up inotify

  // type: unix
  std::string path;
  Mark path_mark;   // where `path` was written: errors binding the socket point here
  SocketProtocol protocol = SocketProtocol::kStream;
  uint32_t mode = 0660;
  std::string group;
  Mark group_mark;
  uint64_t max_clients = 256;              // stream: connections at once
  uint64_t clients_buffer = 16 << 20;      // stream: all clients' incomplete lines together
  Duration client_idle_timeout{300'000};   // stream: a client silent this long is closed

  Mark mark;
  // Not a setting: a source a reload removed keeps its index (holds and
  // dead letters still name it by index) but is never started again.
  bool retired = false;

  bool operator==(const SourceConfig&) const = default;
};

// The `event:` block of a rule as written: a tree of templates.
struct TemplateNode {
  enum class Kind { kScalar, kMap, kList };
  Kind kind = Kind::kScalar;
  std::string text;   // kScalar: the template text, after ${VAR} substitution
  bool plain = false; // kScalar written unquoted (so `5` or `true` may be typed literals)
  std::vector<std::pair<std::string, TemplateNode>> entries;  // kMap, in file order
  std::vector<TemplateNode> items;                            // kList
  Mark mark;

  // Defined out of line (config.cc), where TemplateNode is complete: clang with
  // libstdc++ refuses the implicit ones for a vector of pairs holding the
  // type being defined.
  TemplateNode();
  TemplateNode(const TemplateNode&);
  TemplateNode(TemplateNode&&) noexcept;
  TemplateNode& operator=(const TemplateNode&);
  TemplateNode& operator=(TemplateNode&&) noexcept;
  ~TemplateNode();
};

struct Condition {
  enum class Kind { kEquals, kRegex, kIn, kExists };
  std::string var;
  Kind kind = Kind::kEquals;
  std::string value;                // kEquals: the literal; kRegex: the pattern
  std::vector<std::string> values;  // kIn
  bool exists = true;               // kExists
  Mark mark;
};

struct RuleConfig {
  std::string name;
  std::vector<std::string> sources;  // empty: every source
  std::vector<Mark> source_marks;    // one per entry of `sources`
  std::string regex;                 // may be empty for JSON sources
  Mark regex_mark;
  std::string field;                 // JSON sources: the field `regex` applies to
  Mark field_mark;
  std::vector<Condition> when;
  TemplateNode event;                // a kMap
  bool continue_matching = false;    // `continue: true`
  Mark mark;
};

// A rule test written in the configuration, run by `tailtrack test -c FILE`.
struct RuleTestConfig {
  std::string name;
  std::string source;
  Mark source_mark;
  std::vector<std::string> input;   // lines
  std::vector<std::string> expect;  // events, each as JSON text
  Mark mark;
};

struct Config {
  std::string path;  // the file it was loaded from, for error messages
  CollectorConfig collector;
  BatchConfig batch;
  std::string state_dir;
  Mark state_dir_mark;  // where state_dir is written (1:1 when it is the default)
  SpoolConfig spool;
  DeadLetterConfig dead_letter;
  AdminConfig admin;
  ReloadConfig reload;
  std::vector<SourceConfig> sources;
  std::vector<RuleConfig> rules;
  std::vector<RuleTestConfig> tests;

  // The index of the source called `name`, if any.
  std::optional<size_t> FindSource(std::string_view name) const;
};

}  // namespace tailtrack
