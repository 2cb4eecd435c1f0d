// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Token-level reward-guided decoding (ALGORITHMS.md §5): `guided_decoder<LM, Guidance,
/// Sampler>` runs the decode loop (decoding/decode_loop.hpp) with a guidance policy between the
/// LM's logits and the sampler — guide::none (plain sampling), guide::args / pargs / cd,
/// guide::farma, guide::genarm — keeping the LM's and the reward model's caches in step, at any
/// batch size, rows finishing at different times.
///
///     rlhf::guided_decoder dec(lm, rlhf::guide::farma(token_rm, {.w = 1.0}), sampling::chain(top_k{10}, categorical{}));
///     auto out = dec.generate(prompts, {.max_new_tokens = 64});
#include <chrono>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include "rlhf/decoding/decode_loop.hpp"
#include "rlhf/model/tabular_model.hpp"
#include "rlhf/sampling/chain.hpp"
#include "rlhf/sampling/greedy.hpp"

namespace rlhf {

/// An LM guided token by token by `Guidance` (a token_guidance), sampling with `Sampler`.
/// The LM and the guidance's reward model must share a vocabulary: a compile error where both
/// sizes are static (has_static_vocab), rlhf::invalid_argument at construction otherwise.
template <language_model LM, token_guidance Guidance, sampler Sampler>
class guided_decoder {
  static_assert(std::is_void_v<typename Guidance::reward_model_type> ||
                    detail::same_static_vocab<LM, typename Guidance::reward_model_type>(),
                "guided_decoder: the language model and the reward model have different vocabularies");

 public:
  guided_decoder(LM& lm, Guidance guidance, Sampler sampler)
      : lm_(lm), guidance_(std::move(guidance)), sampler_(std::move(sampler)) {
    if (guidance_.vocab_size() != 0)
      detail::check_same_vocab(static_cast<index_t>(lm_.vocab_size()), guidance_.vocab_size(), "guided_decoder");
  }

  Guidance& guidance() noexcept { return guidance_; }

  /// A response for every prompt (batches of opt.batch_size rows; see decode_loop.hpp).
  /// @throws rlhf::invalid_argument on a bad prompt or option (generate_options::validate,
  ///         prompts that do not fit either model); rlhf::numerical_error when every token of a
  ///         row is banned or a model returns NaN.
  generate_result generate(std::span<const std::vector<token_id>> prompts, const generate_options& opt) {
    const auto start = std::chrono::steady_clock::now();
    detail::check_prompts(prompts, static_cast<index_t>(lm_.vocab_size()), static_cast<index_t>(lm_.max_positions()), opt);
    detail::check_reward_positions(prompts, guidance_.max_positions(), opt, "guided_decoder");
    generate_result result;
    result.sequences.resize(prompts.size());
    detail::for_each_batch(prompts, opt, [&](std::span<const std::vector<token_id>> chunk, std::size_t first) {
      const auto rows = static_cast<index_t>(chunk.size());
      const index_t capacity = detail::batch_capacity(chunk, opt);
      const auto t0 = std::chrono::steady_clock::now();
      auto session = lm_.start_session(rows, capacity);
      detail::decode_rows<decltype(session), Sampler> d(session, static_cast<index_t>(lm_.vocab_size()), sampler_, opt, t0);
      std::vector<std::uint64_t> streams(chunk.size());
      for (std::size_t b = 0; b < chunk.size(); ++b) streams[b] = detail::prompt_stream(opt, first + b);
      d.start(chunk, 1, streams);
      const index_t rm_before = guidance_.passes();
      guidance_.start(rows, capacity, chunk, d.stats());
      for (;;) {
        const auto active = d.active();
        guidance_.guide(d.guide_input(active));
        d.sample_rows(active);
        guidance_.advance(d.next(), d.stats());
        if (!d.advance()) break;
      }
      for (index_t b = 0; b < rows; ++b) {
        auto& g = result.sequences[first + static_cast<std::size_t>(b)];
        g = d.take(b);
        g.stats.kl_to_ref = sampled_kl(g);
        result.stats.new_tokens += g.stats.new_tokens;
      }
      result.stats.lm_passes += d.passes();
      result.stats.rm_passes += guidance_.passes() - rm_before;
    });
    result.stats.seconds = detail::seconds_since(start);
    return result;
  }

 private:
  LM& lm_;
  Guidance guidance_;
  Sampler sampler_;
};

static_assert(decoder<guided_decoder<tabular_lm<backend::archetype>, guide::none, sampling::chain<sampling::greedy>>>);

}  // namespace rlhf
