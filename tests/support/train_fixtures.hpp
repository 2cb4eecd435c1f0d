// SPDX-License-Identifier: MIT
#pragma once
/// Helpers the trainer tests share: a model's parameters and gradients as doubles on the host,
/// and seeded random preference pairs and rankings.
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "rlhf/core/rng.hpp"
#include "rlhf/data/datasets.hpp"
#include "rlhf/model/parameter.hpp"

namespace rlhf::test {

template <class Model>
std::vector<double> params_of(const Model& m) {
  std::vector<typename Model::value_type> w(static_cast<std::size_t>(m.parameter_count()));
  model_backend_t<Model>::to_host(std::span(w), m.parameters());
  return {w.begin(), w.end()};
}
template <class Model>
std::vector<double> grads_of(const Model& m) {
  std::vector<typename Model::value_type> g(static_cast<std::size_t>(m.parameter_count()));
  model_backend_t<Model>::to_host(std::span(g), m.gradients());
  return {g.begin(), g.end()};
}
template <class Model>
void set_params(Model& m, const std::vector<double>& x) {
  const std::vector<typename Model::value_type> w(x.begin(), x.end());
  model_backend_t<Model>::from_host(m.parameters(), std::span<const typename Model::value_type>(w));
}

/// n uniform token ids below v, drawing from counter c of rng.
inline std::vector<token_id> random_tokens(const counter_rng& rng, std::uint64_t& c, std::size_t n, index_t v) {
  std::vector<token_id> out;
  for (std::size_t i = 0; i < n; ++i) out.push_back(static_cast<token_id>(rng.uniform(c++) * static_cast<double>(v)));
  return out;
}

/// n demonstrations of uniform tokens below v from counter_rng(key, stream); record i has the
/// prompt and completion lengths `lengths(i)` returns (a std::pair).
template <class Lengths>
std::vector<data::sft_example> random_demonstrations(std::size_t n, index_t v, std::uint64_t key, std::uint64_t stream,
                                                     Lengths lengths) {
  const counter_rng rng(key, stream);
  std::uint64_t c = 0;
  std::vector<data::sft_example> out;
  for (std::size_t i = 0; i < n; ++i) {
    const auto [prompt, completion] = lengths(i);
    auto p = random_tokens(rng, c, static_cast<std::size_t>(prompt), v);
    out.push_back({std::move(p), random_tokens(rng, c, static_cast<std::size_t>(completion), v)});
  }
  return out;
}

/// What random_pairs draws: the counter stream of its rng, prompts of 1..max_prompt tokens,
/// responses of 1..max_response tokens and, with random_margin (for a Pair with a `margin`, TRL's
/// margin column), a uniform margin in [-0.5, 0.5) drawn after the responses.
struct pair_shape {
  std::uint64_t stream = 7;
  std::size_t max_prompt = 3, max_response = 4;
  bool random_margin = false;
};

/// n pairs with distinct responses, shaped by `shape` (by default prompts of 1-3 tokens and
/// responses of 1-4 tokens).
template <class Pair = data::preference_example>
std::vector<Pair> random_pairs(std::size_t n, index_t v, std::uint64_t seed, const pair_shape& shape = {}) {
  const counter_rng rng(seed, shape.stream);
  std::uint64_t c = 0;
  const auto prompt = static_cast<double>(shape.max_prompt), response = static_cast<double>(shape.max_response);
  std::vector<Pair> out;
  while (out.size() < n) {
    Pair p;
    p.prompt_ids = random_tokens(rng, c, 1 + static_cast<std::size_t>(rng.uniform(c++) * prompt), v);
    p.chosen_ids = random_tokens(rng, c, 1 + static_cast<std::size_t>(rng.uniform(c++) * response), v);
    p.rejected_ids = random_tokens(rng, c, 1 + static_cast<std::size_t>(rng.uniform(c++) * response), v);
    if constexpr (requires { p.margin = 0.0; }) {
      if (shape.random_margin) p.margin = rng.uniform(c++) - 0.5;
    }
    if (p.chosen_ids != p.rejected_ids) out.push_back(std::move(p));
  }
  return out;
}

/// Rankings of 2..4 distinct responses; every other one with k >= 3 ties responses 1 and 2.
inline std::vector<data::ranking_example> random_rankings(std::size_t n, index_t v, std::uint64_t seed) {
  const counter_rng rng(seed, 8);
  std::uint64_t c = 0;
  std::vector<data::ranking_example> out;
  for (std::size_t i = 0; i < n; ++i) {
    data::ranking_example r;
    r.prompt_ids = random_tokens(rng, c, 1 + static_cast<std::size_t>(rng.uniform(c++) * 3), v);
    const auto k = 2 + static_cast<std::size_t>(rng.uniform(c++) * 3);
    for (std::size_t j = 0; j < k; ++j) {
      auto resp = random_tokens(rng, c, 1 + static_cast<std::size_t>(rng.uniform(c++) * 3), v);
      resp.push_back(static_cast<token_id>(j));  // distinct last tokens: no two responses are equal
      r.responses_ids.push_back(std::move(resp));
    }
    if (k >= 3 && i % 2 == 0) r.ties.emplace_back(1, 2);
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace rlhf::test
