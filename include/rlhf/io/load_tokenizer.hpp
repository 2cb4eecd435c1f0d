// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The tokenizer of a Hugging Face-layout model directory (CLI.md, "Model directories").
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include <nlohmann/json.hpp>

#include "rlhf/core/error.hpp"
#include "rlhf/io/any_tokenizer.hpp"
#include "rlhf/io/byte_tokenizer.hpp"
#include "rlhf/io/atomic_file.hpp"
#include "rlhf/io/gpt2_tokenizer.hpp"
#include "rlhf/io/no_tokenizer.hpp"

namespace rlhf::io {

/// The file a directory without a tokenizer holds: {"tokenizer_class": "none", "vocab_size": V}
/// (the name of Hugging Face's tokenizer settings file).
inline constexpr const char* tokenizer_config_file = "tokenizer_config.json";

/// Writes the "no tokenizer" declaration of a model directory of `vocab_size` tokens.
inline void write_no_tokenizer(const std::filesystem::path& model_dir, index_t vocab_size) {
  const nlohmann::json j{{"tokenizer_class", "none"}, {"vocab_size", vocab_size}};
  write_atomically(model_dir / tokenizer_config_file, [&](std::ostream& os) { os << j.dump(2) << '\n'; });
}

/// The tokenizer files of `model_dir` that exist (vocab.json, merges.txt, tokenizer_config.json):
/// what travels with the weights when a command writes a new model directory.
inline std::vector<std::filesystem::path> tokenizer_files(const std::filesystem::path& model_dir) {
  std::vector<std::filesystem::path> out;
  std::error_code ec;
  for (const char* name : {"vocab.json", "merges.txt", tokenizer_config_file})
    if (std::filesystem::is_regular_file(model_dir / name, ec)) out.push_back(model_dir / name);
  return out;
}

/// GPT-2 BPE when `model_dir` holds both vocab.json and merges.txt; no tokenizer when its
/// tokenizer_config.json declares "tokenizer_class": "none" (token ids only); the byte tokenizer
/// when it holds none of these. rlhf::io_error when the directory does not exist;
/// rlhf::format_error when only one of vocab.json / merges.txt is there (a half-copied tokenizer
/// would silently change every token id) or when a file is malformed.
inline any_tokenizer load_tokenizer(const std::filesystem::path& model_dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(model_dir, ec))
    RLHF_THROW(io_error, "model directory ", model_dir.string(), " does not exist or is not a directory");
  const auto vocab = model_dir / "vocab.json";
  const auto merges = model_dir / "merges.txt";
  const auto declared = model_dir / tokenizer_config_file;
  const bool has_vocab = std::filesystem::exists(vocab, ec);
  const bool has_merges = std::filesystem::exists(merges, ec);
  if (!has_vocab && !has_merges && std::filesystem::exists(declared, ec)) {
    const auto j = nlohmann::json::parse(read_file(declared), nullptr, false);
    if (j.is_object() && j.value("tokenizer_class", "") == "none") {
      const auto v = j.find("vocab_size");
      if (v == j.end() || !v->is_number_integer() || v->get<index_t>() < 1)
        RLHF_THROW(format_error, declared.string(), ": \"vocab_size\" must be a positive integer");
      return any_tokenizer(no_tokenizer(v->get<index_t>(), model_dir.string()));
    }
  }
  if (has_vocab && has_merges) return any_tokenizer(gpt2_tokenizer(vocab, merges));
  if (has_vocab || has_merges)
    RLHF_THROW(format_error, model_dir.string(), ": has ", has_vocab ? "vocab.json" : "merges.txt", " but no ",
               has_vocab ? "merges.txt" : "vocab.json",
               "; a GPT-2 tokenizer needs both (remove the other to use the byte tokenizer)");
  return any_tokenizer(byte_tokenizer{});
}

}  // namespace rlhf::io
