// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Checks that two models can be composed (a policy and its reference, an LM and the reward
/// model guiding it): the same vocabulary, and — for model directories — the same tokenizer.
/// Token ids mean nothing across tokenizers, so a mismatch is an error at construction, never a
/// silent truncation of logits (the FaRMA reference code truncates them).
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "rlhf/core/error.hpp"
#include "rlhf/io/atomic_file.hpp"
#include "rlhf/io/load_tokenizer.hpp"

namespace rlhf {

/// @throws rlhf::invalid_argument naming both models when their vocab_size() differ
template <class A, class B>
void expect_same_vocabulary(const A& a, std::string_view a_name, const B& b, std::string_view b_name) {
  RLHF_EXPECTS(static_cast<index_t>(a.vocab_size()) == static_cast<index_t>(b.vocab_size()), "the ", a_name,
               " has vocab_size ", a.vocab_size(), " but the ", b_name, " has ", b.vocab_size(),
               "; they must share one vocabulary (build both from the same tokenizer)");
}

/// @throws rlhf::invalid_argument naming both directories when their tokenizers differ (kind,
///         or the bytes of vocab.json / merges.txt / tokenizer_config.json)
inline void expect_same_tokenizer(const std::filesystem::path& a, const std::filesystem::path& b) {
  const auto fa = io::tokenizer_files(a), fb = io::tokenizer_files(b);
  auto names = [](const std::vector<std::filesystem::path>& f) {
    std::string s;
    for (const auto& p : f) s += (s.empty() ? "" : ", ") + p.filename().string();
    return s.empty() ? std::string("none: the byte tokenizer") : s;
  };
  bool same = fa.size() == fb.size();
  for (std::size_t i = 0; same && i < fa.size(); ++i)
    same = fa[i].filename() == fb[i].filename() && io::read_file(fa[i]) == io::read_file(fb[i]);
  RLHF_EXPECTS(same, "the models in ", a.string(), " (tokenizer files: ", names(fa), ") and ", b.string(),
               " (tokenizer files: ", names(fb),
               ") use different tokenizers, so their token ids do not mean the same text; start both from "
               "the same model directory or copy one's tokenizer files to the other");
}

}  // namespace rlhf
