// SPDX-License-Identifier: MIT
#pragma once
// What every harness shares: the input as a file (the readers take paths), and the contract a
// harness asserts — a reader either returns or throws an rlhf::error; anything else (another
// exception, a crash, a sanitizer report, a hang) is a finding.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <unistd.h>

#include "rlhf/core/error.hpp"

namespace rlhf::fuzz {

/// The readers' resource limits (core/limits.hpp), lowered for every harness so that inputs of
/// at most -max_len (64 KiB) reach the branches that refuse oversized input; a limit already set
/// in the environment is kept.
inline const bool small_limits = [] {
  ::setenv("RLHF_MAX_JSONL_LINE", "4096", /*overwrite=*/0);
  ::setenv("RLHF_MAX_JSON_DEPTH", "24", 0);
  ::setenv("RLHF_MAX_VOCAB", "8192", 0);
  ::setenv("RLHF_MAX_TOKENIZER_FILE", "32768", 0);
  return true;
}();

/// A per-process scratch directory holding the current input under `name`.
inline std::filesystem::path input_file(std::string_view name, const std::uint8_t* data, std::size_t size) {
  static const std::filesystem::path dir = [] {
    auto d = std::filesystem::temp_directory_path() / ("rlhf-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  const auto p = dir / std::string(name);
  std::ofstream(p, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return p;
}

/// Runs `f`; an rlhf::error is an accepted answer, any other exception aborts (a finding).
template <class F>
void expect_rlhf_error_or_success(F&& f) {
  try {
    f();
  } catch (const rlhf::error&) {
  } catch (const std::exception& e) {
    std::fprintf(stderr, "finding: a %s escaped (not an rlhf::error): %s\n", typeid(e).name(), e.what());
    std::abort();
  } catch (...) {
    std::fprintf(stderr, "finding: a non-standard exception escaped\n");
    std::abort();
  }
}

/// An invariant that must hold for every input (a finding when it does not).
inline void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "finding: %s\n", what);
    std::abort();
  }
}

/// The tokenizer contract on `text`: encode gives ids in [0, vocab_size) and never EOS, and
/// decode(encode(text)) == text.
template <class Tokenizer>
void require_round_trip(const Tokenizer& tok, std::string_view text) {
  const auto ids = tok.encode(text);
  for (const auto id : ids) {
    require(id >= 0 && id < tok.vocab_size(), "encode gave an id outside [0, vocab_size)");
    require(id != tok.eos_id(), "encode emitted EOS for ordinary text");
  }
  require(tok.decode(ids) == text, "decode(encode(x)) != x");
}

}  // namespace rlhf::fuzz
