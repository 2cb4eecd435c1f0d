// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Locally typical sampling (Meister, Pimentel, Wiher & Cotterell 2022, "Locally Typical
/// Sampling", TACL, Eq. 7; ALGORITHMS.md §6): with H = -Σ p log p the entropy of the current
/// distribution, rank tokens by |(-log p_v) - H| ascending (ties: canonical order) and keep the
/// smallest such prefix whose mass reaches τ, never fewer than min_keep. No-op: τ = 1.
/// Kept entries keep their relative order. Needs a full sort by typicality: O(n log n).
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "rlhf/sampling/concepts.hpp"

namespace rlhf::sampling {

/// Keeps the tokens whose information content is closest to the entropy, up to mass τ.
/// @throws rlhf::invalid_argument when τ is outside (0, 1] or min_keep < 1.
class typical {
 public:
  using rlhf_concept = logit_processor_tag;

  explicit typical(double tau = 1.0, index_t min_keep = 1) : tau_(tau), min_keep_(min_keep) {
    RLHF_EXPECTS(tau > 0.0 && tau <= 1.0, "typical: tau = ", tau,
                 " is outside the allowed range (0, 1]; use 1 to disable");
    RLHF_EXPECTS(min_keep >= 1, "typical: min_keep = ", min_keep, " is outside the allowed range [1, inf)");
  }
  double value() const noexcept { return tau_; }

  void apply(candidates& c) const {
    const std::size_t n = static_cast<std::size_t>(c.size());
    if (tau_ >= 1.0 || n <= static_cast<std::size_t>(min_keep_)) return;
    const double lz = c.log_normalizer();
    if (!std::isfinite(lz)) return;
    const auto l = c.logits();
    const auto ids = c.ids();
    std::vector<double> p(n), score(n);
    double h = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
      const double lp = static_cast<double>(l[i]) - lz;
      p[i] = std::exp(lp);
      if (p[i] > 0.0) h -= p[i] * lp;
    }
    for (std::size_t i = 0; i < n; ++i)
      score[i] = p[i] > 0.0 ? std::abs(-(static_cast<double>(l[i]) - lz) - h)
                            : std::numeric_limits<double>::infinity();
    std::vector<std::size_t> order(n);
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      if (score[a] != score[b]) return score[a] < score[b];
      return detail::comes_before(l[a], ids[a], l[b], ids[b]);
    });
    std::vector<unsigned char> keep(n, 0);
    double cum = 0.0;
    for (std::size_t j = 0; j < n; ++j) {
      keep[order[j]] = 1;
      cum += p[order[j]];
      if (cum >= tau_ && j + 1 >= static_cast<std::size_t>(min_keep_)) break;
    }
    c.keep_if([&](index_t i) { return keep[static_cast<std::size_t>(i)] != 0; });
  }

 private:
  double tau_;
  index_t min_keep_;
};
static_assert(rlhf::logit_processor<typical>);

}  // namespace rlhf::sampling
