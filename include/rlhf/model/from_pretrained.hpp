// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Models built from other models: a transformer with any head started from a model directory
/// written for another head, as TRL does with AutoModelForSequenceClassification.from_pretrained
/// (an SFT model's trunk under a new scalar head):
///  - a reward model, critic or CD value model from an SFT model: the trunk is loaded and the
///    new `score.weight` [1, C] keeps its GPT-2 initialisation N(0, 0.02) from `seed`; it is
///    reported in `created`;
///  - a token reward model (FaRMA, GenARM) from an SFT model: the whole SFT model, its tied LM
///    head read without softmax; no tensor is created, so its token rewards start as the SFT
///    logits, as in the FaRMA reference implementation;
///  - an LM from a reward model's directory: the trunk, with `score.weight` reported in `ignored`.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "rlhf/backend/backend.hpp"
#include "rlhf/model/checkpoint.hpp"
#include "rlhf/model/transformer.hpp"

namespace rlhf {

/// A model started from another model's directory, with what was created and what was left out.
template <class Model>
struct pretrained {
  Model model;
  std::vector<std::string> created;  ///< head tensors the directory lacked (freshly initialised)
  std::vector<std::string> ignored;  ///< tensors of the directory this model has no use for
};

/// See the file comment. The architecture comes from `dir`/config.json.
/// @throws rlhf::format_error when a trunk tensor is missing or of another shape, rlhf::io_error
///         when the directory or its files cannot be read
template <compute_backend Backend, class Head, class T = float>
pretrained<transformer<Backend, Head, T>> from_pretrained(const std::filesystem::path& dir, std::uint64_t seed = 0) {
  const gpt2_config config = read_gpt2_config(dir);
  transformer<Backend, Head, T> model(config, seed);
  load_options options;
  for (const auto& t : Head::tensors(config)) options.allow_missing.push_back(t.name);
  const load_report report = load_parameters(dir, model, options);
  return {std::move(model), report.missing, report.unexpected};
}

}  // namespace rlhf
