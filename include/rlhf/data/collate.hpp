// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Collation: (prompt, response) pairs -> one right-padded rlhf::token_batch whose
/// response_mask marks the response tokens (the only tokens any loss counts).
///
/// Truncation to `max_length` L (0 = none), per row, when |prompt| + |response| > L:
///  1. the prompt is left-truncated (its oldest tokens go first), down to one token, so
///     the first response token keeps a context to be predicted from;
///  2. if still too long, the response is right-truncated to L - |prompt|.
/// Keeping the response whole where possible keeps the learning signal; the tokens dropped
/// from the prompt are the ones furthest from it.
#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <ranges>
#include <span>
#include <utility>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "rlhf/core/error.hpp"
#include "rlhf/data/datasets.hpp"
#include "rlhf/data/token_batch.hpp"

namespace rlhf::data {

/// Options of every collate function.
struct collate_options {
  token_id pad_id = 0;     // written at padding positions (any valid id; see token_batch)
  index_t max_length = 0;  // L: longest row kept, 0 = no limit; else >= 2
  void validate() const {
    RLHF_EXPECTS(pad_id >= 0, "collate_options.pad_id = ", pad_id, " is negative; use a valid token id (e.g. EOS)");
    RLHF_EXPECTS(max_length == 0 || max_length >= 2, "collate_options.max_length = ", max_length,
                 " must be 0 (no limit) or >= 2 (one prompt token and one response token)");
  }
};

/// One row to collate: a non-empty prompt and a response (possibly empty: a prompt-only row).
struct sequence_pair {
  std::span<const token_id> prompt;
  std::span<const token_id> response;
};

/// Rows in the given order, truncated as documented above, right-padded with `pad_id` to
/// the longest row. rlhf::invalid_argument for no rows or an empty prompt.
inline token_batch collate(std::span<const sequence_pair> rows, const collate_options& opt = {}) {
  opt.validate();
  RLHF_EXPECTS(!rows.empty(), "collate: no rows; a batch needs at least one (prompt, response) pair");
  const index_t L = opt.max_length;
  std::vector<std::pair<std::span<const token_id>, std::span<const token_id>>> kept(rows.size());
  index_t T = 0;
  for (std::size_t b = 0; b < rows.size(); ++b) {
    auto p = rows[b].prompt;
    auto r = rows[b].response;
    RLHF_EXPECTS(!p.empty(), "collate: row ", b, " has an empty prompt; every row needs at least one prompt token");
    if (L > 0 && static_cast<index_t>(p.size() + r.size()) > L) {
      const auto room_for_prompt = std::max<index_t>(1, L - static_cast<index_t>(r.size()));
      if (static_cast<index_t>(p.size()) > room_for_prompt) p = p.last(static_cast<std::size_t>(room_for_prompt));
      const index_t room_for_response = L - static_cast<index_t>(p.size());
      if (static_cast<index_t>(r.size()) > room_for_response) r = r.first(static_cast<std::size_t>(room_for_response));
    }
    kept[b] = {p, r};
    T = std::max(T, static_cast<index_t>(p.size() + r.size()));
  }
  const auto B = rows.size();
  token_batch out;
  out.tokens = xt::xtensor<token_id, 2>::from_shape({B, static_cast<std::size_t>(T)});
  out.tokens.fill(opt.pad_id);
  out.lengths = xt::xtensor<std::int32_t, 1>::from_shape({B});
  out.response_mask = xt::zeros<std::uint8_t>({B, static_cast<std::size_t>(T)});
  for (std::size_t b = 0; b < B; ++b) {
    const auto& [p, r] = kept[b];
    std::size_t t = 0;
    for (token_id id : p) out.tokens(b, t++) = id;
    for (token_id id : r) {
      out.tokens(b, t) = id;
      out.response_mask(b, t++) = 1;
    }
    out.lengths(b) = static_cast<std::int32_t>(t);
  }
  return out;
}

/// A record with a prompt and a completion as contiguous token_id ranges: sft_example and
/// scored_example are ones, and so is any user type with those two members.
template <class R>
concept prompt_completion_record = requires(const R& r) {
  { r.prompt_ids } -> std::ranges::contiguous_range;
  { r.completion_ids } -> std::ranges::contiguous_range;
  requires std::same_as<std::ranges::range_value_t<decltype(r.prompt_ids)>, token_id>;
  requires std::same_as<std::ranges::range_value_t<decltype(r.completion_ids)>, token_id>;
};

namespace detail {
template <class R>
std::span<const token_id> ids_of(const R& ids) {
  return {std::ranges::data(ids), static_cast<std::size_t>(std::ranges::size(ids))};
}
}  // namespace detail

/// Completion batch (SFT, scored responses): row i is prompt ⊕ completion of
/// records[order[i]], truncated and padded as documented above (rewards or other members stay
/// in the records). `order` selects and orders the records of one batch, e.g. a span of
/// rlhf::data::epoch_batches or of a shuffled permutation; an index may repeat.
/// @tparam Records a random-access range of prompt_completion_record (std::vector<sft_example>,
///                 std::span<const scored_example>, ...)
/// @tparam Order   a sized range of integer indices (std::span<const index_t>, std::vector<std::size_t>, ...)
/// @throws rlhf::invalid_argument for an index outside [0, records.size()), an empty order,
///         an empty prompt or bad options.
template <std::ranges::random_access_range Records, std::ranges::sized_range Order>
  requires prompt_completion_record<std::ranges::range_value_t<Records>> &&
           std::integral<std::ranges::range_value_t<Order>>
token_batch collate(const Records& records, const Order& order, const collate_options& opt = {}) {
  const auto n = static_cast<index_t>(std::ranges::size(records));
  std::vector<sequence_pair> rows;
  rows.reserve(static_cast<std::size_t>(std::ranges::size(order)));
  index_t pos = 0;
  for (const auto i : order) {
    // Compared before any conversion, so an index of any signedness cannot wrap into range.
    RLHF_EXPECTS(std::cmp_greater_equal(i, 0) && std::cmp_less(i, n), "collate: order[", pos, "] = ", i,
                 " is outside the records [0, ", n, "); the order must index the records it is used with");
    const auto& r = std::ranges::begin(records)[static_cast<std::ranges::range_difference_t<const Records>>(i)];
    rows.push_back({detail::ids_of(r.prompt_ids), detail::ids_of(r.completion_ids)});
    ++pos;
  }
  return collate(rows, opt);
}

/// Completion batch of all records, in their order: row i is prompt_i ⊕ completion_i.
template <std::ranges::random_access_range Records>
  requires prompt_completion_record<std::ranges::range_value_t<Records>>
token_batch collate(const Records& records, const collate_options& opt = {}) {
  std::vector<sequence_pair> rows;
  rows.reserve(static_cast<std::size_t>(std::ranges::size(records)));
  for (const auto& r : records) rows.push_back({detail::ids_of(r.prompt_ids), detail::ids_of(r.completion_ids)});
  return collate(rows, opt);
}

/// Prompt-only batch (empty responses, mask all zero): row i is prompt_i.
inline token_batch collate(std::span<const prompt_example> examples, const collate_options& opt = {}) {
  std::vector<sequence_pair> rows;
  rows.reserve(examples.size());
  for (const auto& e : examples) rows.push_back({e.prompt_ids, {}});
  return collate(rows, opt);
}

/// Preference batch of 2P rows: rows [0, P) are prompt_i ⊕ chosen_i, rows [P, 2P) are
/// prompt_i ⊕ rejected_i, so one forward pass scores both sides and row i pairs with i + P.
inline token_batch collate_pairs(std::span<const preference_example> examples, const collate_options& opt = {}) {
  std::vector<sequence_pair> rows;
  rows.reserve(2 * examples.size());
  for (const auto& e : examples) rows.push_back({e.prompt_ids, e.chosen_ids});
  for (const auto& e : examples) rows.push_back({e.prompt_ids, e.rejected_ids});
  return collate(rows, opt);
}

/// Ranking batch: the k_i responses of example i, best first, as consecutive rows starting
/// at row sum_{j<i} k_j (i * k when every example has k responses).
inline token_batch collate_rankings(std::span<const ranking_example> examples, const collate_options& opt = {}) {
  std::vector<sequence_pair> rows;
  for (const auto& e : examples)
    for (const auto& r : e.responses_ids) rows.push_back({e.prompt_ids, r});
  return collate(rows, opt);
}
/// Same as collate_rankings (a ranking is the k-wise generalisation of a pair).
inline token_batch collate_pairs(std::span<const ranking_example> examples, const collate_options& opt = {}) {
  return collate_rankings(examples, opt);
}

}  // namespace rlhf::data
