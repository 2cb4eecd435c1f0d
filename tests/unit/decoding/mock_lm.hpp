// SPDX-License-Identifier: MIT
#pragma once
/// A deterministic mock `language_model` for the generate tests: the next-token logits are a fixed
/// pseudo-random function of the whole prefix (so they never depend on the batch a row is in),
/// plus per-token biases. Logit rows of finished rows are NaN: reading one makes sampling throw.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <span>
#include <vector>

#include "rlhf/core/error.hpp"
#include "rlhf/core/rng.hpp"
#include "rlhf/core/view.hpp"
#include "rlhf/model/concepts.hpp"
#include "rlhf/data/token_batch.hpp"

namespace rlhf::test {

struct mock_lm {
  index_t vocab = 16;
  index_t max_pos = 40;
  std::map<token_id, float> bias;  // added to every row's logits
  index_t prefills = 0, steps = 0, skipped_rows = 0;

  static constexpr model_role role = model_role::log_probs;
  index_t vocab_size() const { return vocab; }
  index_t max_positions() const { return max_pos; }

  /// The logits after `prefix` (V).
  std::vector<float> logits_after(std::span<const token_id> prefix) const {
    std::uint64_t h = 1469598103934665603ull;
    for (token_id t : prefix) h = (h ^ static_cast<std::uint64_t>(t + 1)) * 1099511628211ull;
    const counter_rng rng(h, 11);
    std::vector<float> l(static_cast<std::size_t>(vocab));
    for (index_t v = 0; v < vocab; ++v) l[static_cast<std::size_t>(v)] = static_cast<float>(1.5 * rng.normal(static_cast<std::uint64_t>(v)));
    for (const auto& [t, b] : bias) l[static_cast<std::size_t>(t)] += b;
    return l;
  }

  /// Per-token log-probs of the batch under logits_after (the language_model contract).
  xt::xtensor<float, 2> score(const token_batch& batch) const {
    xt::xtensor<float, 2> out = xt::zeros<float>(batch.tokens.shape());
    for (index_t b = 0; b < batch.rows(); ++b) {
      std::vector<token_id> prefix;
      for (index_t t = 0; t < batch.lengths(b); ++t) {
        const token_id tok = batch.tokens(b, t);
        if (t > 0) {
          const auto l = logits_after(prefix);
          double m = l[0], z = 0;
          for (float x : l) m = std::max<double>(m, x);
          for (float x : l) z += std::exp(x - m);
          out(b, t) = static_cast<float>(l[static_cast<std::size_t>(tok)] - m - std::log(z));
        }
        prefix.push_back(tok);
      }
    }
    return out;
  }

  class session {
   public:
    session(mock_lm& m, index_t rows, index_t capacity)
        : m_(&m), capacity_(capacity), rows_(static_cast<std::size_t>(rows)),
          out_(static_cast<std::size_t>(rows * m.vocab)) {}
    view<const float, host_space> prefill(std::span<const std::vector<token_id>> prompts) {
      RLHF_ASSERT(prompts.size() == rows_.size());
      ++m_->prefills;
      for (std::size_t b = 0; b < rows_.size(); ++b) {
        RLHF_ASSERT(!prompts[b].empty() && static_cast<index_t>(prompts[b].size()) <= capacity_);
        rows_[b] = prompts[b];
      }
      for (std::size_t b = 0; b < rows_.size(); ++b) fill(b, true);
      return result();
    }
    view<const float, host_space> step(std::span<const token_id> tokens) {
      RLHF_ASSERT(tokens.size() == rows_.size());
      ++m_->steps;
      for (std::size_t b = 0; b < rows_.size(); ++b) {
        if (tokens[b] < 0) {
          ++m_->skipped_rows;
          fill(b, false);
          continue;
        }
        rows_[b].push_back(tokens[b]);
        RLHF_ASSERT(static_cast<index_t>(rows_[b].size()) <= capacity_, "session capacity exceeded");
        fill(b, true);
      }
      return result();
    }
    view<const float, host_space> score_candidates(index_t, std::span<const token_id>) { return result(); }
    index_t length(index_t row) const { return static_cast<index_t>(rows_[static_cast<std::size_t>(row)].size()); }
    void truncate(index_t row, index_t n) { rows_[static_cast<std::size_t>(row)].resize(static_cast<std::size_t>(n)); }
    index_t rows() const { return static_cast<index_t>(rows_.size()); }

   private:
    void fill(std::size_t b, bool live) {
      const auto v = static_cast<std::size_t>(m_->vocab);
      if (!live) {
        for (std::size_t i = 0; i < v; ++i) out_[b * v + i] = std::numeric_limits<float>::quiet_NaN();
        return;
      }
      const auto l = m_->logits_after(rows_[b]);
      std::copy(l.begin(), l.end(), out_.begin() + static_cast<std::ptrdiff_t>(b * v));
    }
    view<const float, host_space> result() const {
      return {out_.data(), shape{static_cast<index_t>(rows_.size()), m_->vocab}};
    }
    mock_lm* m_;
    index_t capacity_;
    std::vector<std::vector<token_id>> rows_;
    std::vector<float> out_;  // (B, V)
  };

  session start_session(index_t rows, index_t capacity) {
    RLHF_ASSERT(rows >= 1 && capacity <= max_pos, "session larger than the model allows");
    return session(*this, rows, capacity);
  }
};
static_assert(language_model<mock_lm>);

}  // namespace rlhf::test
