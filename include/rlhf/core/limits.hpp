// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Resource limits of the readers. Each reader refuses input beyond its limit with an
/// rlhf::format_error naming the input, the limit and the environment variable that raises it,
/// before it allocates anything of that size, so a corrupt or hostile file cannot exhaust memory
/// or the stack. The defaults are far above what real files need (GPT-2's vocab.json is 1 MB,
/// the longest JSONL record of a real dataset a few MB, the deepest real JSON a few levels):
///
/// | limit | default | environment variable |
/// |---|---|---|
/// | bytes of one JSONL line | 64 MiB | RLHF_MAX_JSONL_LINE |
/// | nesting depth of a JSON value (JSONL records, config.json) | 256 | RLHF_MAX_JSON_DEPTH |
/// | bytes of a tokenizer file (vocab.json, merges.txt) | 256 MiB | RLHF_MAX_TOKENIZER_FILE |
/// | a token id in vocab.json (ids may leave holes; memory grows with the largest) | 2^21 | RLHF_MAX_VOCAB |
///
/// A safetensors header is capped at 100 MB as in the reference implementation, and every
/// tensor's size must match its data offsets inside the file (io/safetensors.hpp), so a header
/// claiming 10^15 elements is refused before any tensor is allocated.
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "rlhf/core/error.hpp"

namespace rlhf::limits {

/// `var` from the environment as a positive integer, else `fallback`.
/// @throws rlhf::invalid_argument naming the variable when it is set but not a positive integer
inline std::uint64_t from_env(const char* var, std::uint64_t fallback) {
  const char* v = std::getenv(var);
  if (v == nullptr || *v == '\0') return fallback;
  errno = 0;
  char* end = nullptr;
  const unsigned long long n = std::strtoull(v, &end, 10);
  if (errno != 0 || end == v || *end != '\0' || n == 0 || std::string_view(v).front() == '-')
    RLHF_THROW(invalid_argument, "environment variable ", var, "=\"", v,
               "\" is not a positive integer; set it to the limit you want or unset it for the default ", fallback);
  return n;
}

inline std::uint64_t max_jsonl_line() { return from_env("RLHF_MAX_JSONL_LINE", std::uint64_t{64} << 20); }
inline std::uint64_t max_json_depth() { return from_env("RLHF_MAX_JSON_DEPTH", 256); }
inline std::uint64_t max_vocab() { return from_env("RLHF_MAX_VOCAB", std::uint64_t{1} << 21); }
inline std::uint64_t max_tokenizer_file() { return from_env("RLHF_MAX_TOKENIZER_FILE", std::uint64_t{256} << 20); }

/// The deepest nesting of arrays and objects in JSON text (strings skipped, escapes honoured);
/// stops counting once past `stop`, so a hostile line costs one pass and no allocation.
inline std::uint64_t json_depth(std::string_view text, std::uint64_t stop) noexcept {
  std::uint64_t depth = 0, deepest = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > deepest && (deepest = depth) > stop) return deepest;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

}  // namespace rlhf::limits
