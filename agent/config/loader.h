// YAML → Config. The only place that sees yaml-cpp and catches its exceptions.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.h"

namespace tailtrack {

// Looks up an environment variable; the seam lets tests supply their own.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

// The process environment.
EnvLookup ProcessEnv();

struct LoadOptions {
  // `tailtrack test` needs no write key: it sends nothing.
  bool require_write_key = true;
};

// Loads, substitutes ${VAR}, parses and validates the whole schema.
// Throws ConfigError ("FILE:LINE:COLUMN: message") on anything a user got wrong.
// Does not compile rules (see rules/) and does not touch state_dir or spool.dir.
Config LoadConfig(const std::string& path, const EnvLookup& env = ProcessEnv(), const LoadOptions& options = {});

// The same, from text already in memory; `path` is used in error messages only.
Config LoadConfigFromString(const std::string& text, const std::string& path,
                            const EnvLookup& env = ProcessEnv(), const LoadOptions& options = {});

// The reference of every key, generated from the schema table (docs/configuration.md).
std::string ConfigReferenceMarkdown();

// Reads the write key from `path` (collector.write_key_file), without its
// trailing newline. False with a one-line *error (never the key) when the
// file cannot be read, is empty or holds a control character. Also used by
// SIGHUP to take a rotated key.
bool ReadWriteKeyFile(const std::string& path, std::string* key, std::string* error);

}  // namespace tailtrack
