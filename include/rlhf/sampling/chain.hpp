// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// A compile-time sampler chain (llama.cpp's sampler chain, with its "the last stage must
/// select" convention enforced by the type system): logit processors applied in the written
/// order, then one selector. The chain is itself a `rlhf::sampler`; `accept`, `reset` and
/// `observe_prompt` are broadcast to every stage that has them.
///
/// @par Example
/// @code
/// rlhf::sampling::chain s{rlhf::sampling::top_k{40}, rlhf::sampling::temperature{0.7},
///                         rlhf::sampling::categorical{}};
/// rlhf::sampling::candidates c{logits_row};
/// auto [token, sampling_logprob] = s.sample(c, rlhf::counter_rng{seed, row}, step);
/// @endcode
#include <cstddef>
#include <span>
#include <tuple>
#include <utility>

#include "rlhf/sampling/concepts.hpp"
#include "rlhf/sampling/greedy.hpp"

namespace rlhf::sampling {

namespace detail {
template <class... Stages>
struct chain_traits {
  static constexpr std::size_t n = sizeof...(Stages);
  template <std::size_t... I>
  static constexpr bool processors_before_last(std::index_sequence<I...>) {
    return (logit_processor<std::tuple_element_t<I, std::tuple<Stages...>>> && ...);
  }
  static constexpr bool last_is_selector = [] {
    if constexpr (n == 0)
      return false;
    else
      return selector<std::tuple_element_t<n - 1, std::tuple<Stages...>>>;
  }();
  static constexpr bool rest_are_processors = [] {
    if constexpr (n == 0)
      return true;
    else
      return processors_before_last(std::make_index_sequence<n - 1>{});
  }();
};
}  // namespace detail

/// Processors `Stages[0..n-2]` in order, then the selector `Stages[n-1]`.
/// @tparam Stages every type but the last models `rlhf::logit_processor`; the last models
///         `rlhf::selector`.
template <class... Stages>
class chain {
  using traits = detail::chain_traits<Stages...>;
  static_assert(traits::last_is_selector,
                "rlhf::sampling::chain: the last stage must be a selector (rlhf::sampling::greedy or "
                "rlhf::sampling::categorical); put logit processors (temperature, top_k, top_p, ...) before it.");
  static_assert(traits::rest_are_processors,
                "rlhf::sampling::chain: every stage before the last must be a logit processor "
                "(opting in with rlhf::logit_processor_tag); a selector may only be the last stage.");

 public:
  chain() = default;
  explicit chain(Stages... stages) : stages_(std::move(stages)...) {}

  /// Runs the processors on `c` (which keeps their result), then selects.
  sampled sample(candidates& c, const counter_rng& rng, std::uint64_t counter) {
    return sample_impl(c, rng, counter, std::make_index_sequence<traits::n - 1>{});
  }
  /// Runs only the processors (what the selector will see).
  void process(candidates& c) { process_impl(c, std::make_index_sequence<traits::n - 1>{}); }

  void accept(token_id t) {
    std::apply([t](auto&... s) { (notify_accept(s, t), ...); }, stages_);
  }
  void reset() {
    std::apply([](auto&... s) { (notify_reset(s), ...); }, stages_);
  }
  void observe_prompt(std::span<const token_id> prompt) {
    std::apply([prompt](auto&... s) { (notify_prompt(s, prompt), ...); }, stages_);
  }

  /// Stage I (to read or adjust its parameters).
  template <std::size_t I>
  auto& stage() noexcept {
    return std::get<I>(stages_);
  }

 private:
  template <std::size_t... I>
  void process_impl(candidates& c, std::index_sequence<I...>) {
    (std::get<I>(stages_).apply(c), ...);
  }
  template <std::size_t... I>
  sampled sample_impl(candidates& c, const counter_rng& rng, std::uint64_t counter, std::index_sequence<I...> seq) {
    process_impl(c, seq);
    auto& sel = std::get<traits::n - 1>(stages_);
    const token_id t = sel.select(c, rng, counter);
    return {t, sel.log_prob(c, t)};
  }

  std::tuple<Stages...> stages_;
};

template <class... Stages>
chain(Stages...) -> chain<Stages...>;

static_assert(rlhf::sampler<chain<greedy>>);

}  // namespace rlhf::sampling
