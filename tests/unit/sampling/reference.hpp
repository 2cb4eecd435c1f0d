// SPDX-License-Identifier: MIT
#pragma once
/// Brute-force references for the sampling tests: every truncation computed from one full sort
/// (the textbook definitions of ALGORITHMS.md §6), plus adversarial logit generators.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

#include "rlhf/core/rng.hpp"
#include "rlhf/core/view.hpp"

namespace rlhf::test {

inline constexpr float neg_inf = -std::numeric_limits<float>::infinity();

/// Entry positions of `logits` in the canonical order: logit descending, equal logits by
/// ascending id (a stable sort of ids already ascending).
inline std::vector<std::size_t> full_sort_order(const std::vector<float>& logits, const std::vector<token_id>& ids) {
  std::vector<std::size_t> o(logits.size());
  std::iota(o.begin(), o.end(), std::size_t{0});
  std::sort(o.begin(), o.end(), [&](std::size_t a, std::size_t b) {
    if (logits[a] != logits[b]) return logits[a] > logits[b];
    return ids[a] < ids[b];
  });
  return o;
}
inline std::vector<token_id> iota_ids(std::size_t n) {
  std::vector<token_id> ids(n);
  std::iota(ids.begin(), ids.end(), token_id{0});
  return ids;
}

/// Ids kept by top-k, in canonical order (k = 0 or k >= n is a no-op: input order kept).
inline std::vector<token_id> ref_top_k(const std::vector<float>& l, const std::vector<token_id>& ids, std::size_t k) {
  if (k == 0 || k >= l.size()) return ids;
  const auto o = full_sort_order(l, ids);
  const std::size_t keep = k;
  std::vector<token_id> out;
  for (std::size_t i = 0; i < keep; ++i) out.push_back(ids[o[i]]);
  return out;
}

/// Ids kept by top-p (smallest canonical prefix with mass >= p; Z summed in input order).
inline std::vector<token_id> ref_top_p(const std::vector<float>& l, const std::vector<token_id>& ids, double p,
                                       std::size_t min_keep = 1) {
  const auto o = full_sort_order(l, ids);
  std::vector<token_id> out;
  double m = -std::numeric_limits<double>::infinity();
  for (float x : l) m = std::max(m, static_cast<double>(x));
  double z = 0;
  for (float x : l) z += std::exp(static_cast<double>(x) - m);
  double cum = 0;
  for (std::size_t i = 0; i < o.size(); ++i) {
    out.push_back(ids[o[i]]);
    cum += std::exp(static_cast<double>(l[o[i]]) - m);
    if (p < 1.0 && cum >= p * z && out.size() >= min_keep) break;
  }
  return out;
}

/// Ids kept by min-p, in input order.
inline std::vector<token_id> ref_min_p(const std::vector<float>& l, const std::vector<token_id>& ids, double pmin) {
  double m = -std::numeric_limits<double>::infinity();
  for (float x : l) m = std::max(m, static_cast<double>(x));
  if (!std::isfinite(m)) return ids;  // all -inf: nothing to rank, a no-op (the selector reports it)
  std::vector<token_id> out;
  for (std::size_t i = 0; i < l.size(); ++i)
    if (pmin == 0.0 || std::exp(static_cast<double>(l[i]) - m) >= pmin) out.push_back(ids[i]);
  return out;
}

/// Kinds of adversarial logits.
enum class logit_kind { gaussian, ties, with_neg_inf, all_equal, one_hot, wide };

/// n logits of the given kind, deterministic in seed.
inline std::vector<float> make_logits(logit_kind kind, std::size_t n, std::uint64_t seed) {
  const counter_rng rng(seed, 0x5a);
  std::vector<float> l(n);
  for (std::size_t i = 0; i < n; ++i) {
    const double g = rng.normal(i);
    switch (kind) {
      case logit_kind::gaussian: l[i] = static_cast<float>(2.0 * g); break;
      case logit_kind::ties: l[i] = static_cast<float>(std::round(g * 2.0) / 2.0); break;  // few distinct values
      case logit_kind::with_neg_inf:
        l[i] = rng.uniform(i + (std::uint64_t{1} << 40)) < 0.3 ? neg_inf : static_cast<float>(g);
        break;
      case logit_kind::all_equal: l[i] = 0.25f; break;
      case logit_kind::one_hot: l[i] = i == n / 2 ? 5.0f : neg_inf; break;
      case logit_kind::wide: l[i] = static_cast<float>(8.0 * g); break;
    }
  }
  return l;
}

inline constexpr logit_kind all_kinds[] = {logit_kind::gaussian, logit_kind::ties, logit_kind::with_neg_inf,
                                           logit_kind::all_equal, logit_kind::one_hot, logit_kind::wide};

/// Upper 1e-4 quantile of χ²(df): exact for df 1, 2; Wilson–Hilferty otherwise (errs a few
/// percent high for df < 10, i.e. slightly conservative; within 1% for df >= 10).
inline double chi2_critical_1e4(std::size_t df) {
  if (df == 1) return 15.137;
  if (df == 2) return 18.421;
  const double z = 3.7190;  // standard normal upper 1e-4 quantile
  const double d = static_cast<double>(df);
  const double a = 2.0 / (9.0 * d);
  return d * std::pow(1.0 - a + z * std::sqrt(a), 3);
}

}  // namespace rlhf::test
