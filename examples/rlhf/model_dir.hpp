// SPDX-License-Identifier: MIT
#pragma once
// Model directories for the rlhf program: the one instantiation of the templates it uses
// (GPT-2 family, float32, the default backend), loading with vocabulary checks, saving with
// the tokenizer files carried along.
#include <algorithm>
#include <filesystem>
#include <string>
#include <utility>

#include <rlhf/backend.hpp>
#include <rlhf/io.hpp>
#include <rlhf/model.hpp>

namespace rlhf::cli {

using backend_t = rlhf::backend::default_backend;
template <class Head>
using gpt2 = rlhf::transformer<backend_t, Head>;
using policy_t = gpt2<rlhf::lm_head>;

}  // namespace rlhf::cli

// Instantiated once, in model.cpp.
extern template class rlhf::transformer<rlhf::cli::backend_t, rlhf::lm_head>;
extern template class rlhf::kv_session<rlhf::cli::backend_t, rlhf::lm_head, float>;

namespace rlhf::cli {

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

/// The padding id of a tokenizer's batches: its EOS, or 0 for a directory without a tokenizer
/// (no EOS there; padding is never scored, so any valid id serves).
inline token_id pad_id_of(const rlhf::io::any_tokenizer& tok) { return std::max<token_id>(tok.eos_id(), 0); }

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

/// A model directory opened for a command: the model and its tokenizer.
template <class Head>
struct model_and_tokenizer {
  gpt2<Head> model;
  rlhf::io::any_tokenizer tokenizer;
};

/// What every command reading a model does first: loads the model directory (its head checked
/// against `want`) and its tokenizer, checked against the model's vocabulary.
template <class Head>
model_and_tokenizer<Head> open_model(const std::filesystem::path& dir, rlhf::head_kind want) {
  auto model = load_model<Head>(dir, want);
  auto tokenizer = load_checked_tokenizer(dir, model.vocab_size());
  return {std::move(model), std::move(tokenizer)};
}

/// beta_r of the last GenARM run in a model's history (1 if none): its reward is
/// beta_r * sum_t log pi_r(a_t | s, a<t).
inline double genarm_beta_r(const rlhf::model_info& info) {
  double beta_r = 1.0;
  for (const auto& run : info.history)
    if (run.is_object() && run.value("kind", "") == "genarm" && run.contains("beta_r") && run["beta_r"].is_number())
      beta_r = run["beta_r"].get<double>();
  return beta_r;
}

/// open_model for a policy (an lm-head model).
inline model_and_tokenizer<rlhf::lm_head> open_policy(const std::filesystem::path& dir) {
  return open_model<rlhf::lm_head>(dir, rlhf::head_kind::lm);
}

}  // namespace rlhf::cli
