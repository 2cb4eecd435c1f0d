// SPDX-License-Identifier: MIT
#pragma once
// Model directories for the rlhf program: the one instantiation of the templates it uses
// (GPT-2 family, float32, the default backend), loading with vocabulary checks, saving with
// the tokenizer files carried along.
#include <filesystem>
#include <string>


#include <rlhf/backend.hpp>
#include <rlhf/io.hpp>
#include <rlhf/model.hpp>

namespace rlhf::cli {

using backend_t = rlhf::backend::default_backend;
template <class Head>
using gpt2 = rlhf::transformer<backend_t, Head>;
using policy_t = gpt2<rlhf::lm_head>;

/// Sets the CPU threads of the backend (0 = all cores).
inline void set_threads(long n) {
  if (n > 0) backend_t::set_num_threads(static_cast<int>(n));
}

/// The tokenizer of a model directory, checked against the model's vocabulary.
inline rlhf::io::any_tokenizer load_checked_tokenizer(const std::filesystem::path& dir, index_t vocab) {
  auto tok = rlhf::io::load_tokenizer(dir);
  if (tok.vocab_size() > vocab)
    RLHF_THROW(invalid_argument, dir.string(), ": the tokenizer has ", tok.vocab_size(),
               " ids but config.json says vocab_size = ", vocab,
               "; use a model initialised for this tokenizer (rlhf init --tokenizer ...)");
  return tok;
}

/// Loads a model directory whose head is `Head`; `want` names the head for the message.
template <class Head>
gpt2<Head> load_model(const std::filesystem::path& dir, rlhf::head_kind want) {
  if (!std::filesystem::is_directory(dir))
    RLHF_THROW(io_error, dir.string(), ": no such model directory (create one with rlhf init)");
  const auto info = rlhf::read_model_info(dir);
  if (info.head != want)
    RLHF_THROW(invalid_argument, dir.string(), " holds a model with a ", rlhf::to_string(info.head),
               " head where a ", rlhf::to_string(want), " head is required");
  gpt2<Head> model(rlhf::read_gpt2_config(dir), 0);
  rlhf::load_parameters(dir, model);
  return model;
}

/// Copies vocab.json and merges.txt (when present) from one model directory to another.
inline void copy_tokenizer_files(const std::filesystem::path& from, const std::filesystem::path& to) {
  if (std::filesystem::equivalent(from, to)) return;
  for (const char* f : {"vocab.json", "merges.txt"}) {
    if (!std::filesystem::exists(from / f)) continue;
    const std::string text = rlhf::io::read_file(from / f);
    rlhf::io::write_atomically(to / f, [&](std::ostream& os) { os << text; });
  }
}

}  // namespace rlhf::cli

// Instantiated once, in model.cpp.
extern template class rlhf::transformer<rlhf::cli::backend_t, rlhf::lm_head>;
extern template class rlhf::kv_session<rlhf::cli::backend_t, rlhf::lm_head, float>;
