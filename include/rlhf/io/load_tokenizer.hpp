// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The tokenizer of a Hugging Face-layout model directory (CLI.md, "Model directories").
#include <filesystem>
#include <system_error>

#include "rlhf/core/error.hpp"
#include "rlhf/io/any_tokenizer.hpp"
#include "rlhf/io/byte_tokenizer.hpp"
#include "rlhf/io/gpt2_tokenizer.hpp"

namespace rlhf::io {

/// GPT-2 BPE when `model_dir` holds both vocab.json and merges.txt, the byte tokenizer when
/// it holds neither. rlhf::io_error when the directory does not exist; rlhf::format_error
/// when only one of the two files is there (a half-copied tokenizer would silently change
/// every token id) or when they are malformed.
inline any_tokenizer load_tokenizer(const std::filesystem::path& model_dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(model_dir, ec))
    RLHF_THROW(io_error, "model directory ", model_dir.string(), " does not exist or is not a directory");
  const auto vocab = model_dir / "vocab.json";
  const auto merges = model_dir / "merges.txt";
  const bool has_vocab = std::filesystem::exists(vocab, ec);
  const bool has_merges = std::filesystem::exists(merges, ec);
  if (has_vocab && has_merges) return any_tokenizer(gpt2_tokenizer(vocab, merges));
  if (has_vocab || has_merges)
    RLHF_THROW(format_error, model_dir.string(), ": has ", has_vocab ? "vocab.json" : "merges.txt", " but no ",
               has_vocab ? "merges.txt" : "vocab.json",
               "; a GPT-2 tokenizer needs both (remove the other to use the byte tokenizer)");
  return any_tokenizer(byte_tokenizer{});
}

}  // namespace rlhf::io
