// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Block-wise controlled decoding (Mudgal et al. 2023; ALGORITHMS.md §5): from the current
/// prefix sample K continuations of M tokens from π_ref, score each with a prefix value model
/// V(s, a^{≤i}), keep the best, repeat. M = the whole response is best-of-K; M = 1 is token-wise
/// control. The K branches of a prompt are K session rows made by copy_row from one pass over the
/// prompt; after each block the best row is copied over the others in both the LM's and the
/// value model's sessions, so neither model ever recomputes a prefix. K value calls per block.
#include <chrono>
#include <span>
#include <utility>
#include <vector>

#include "rlhf/core/error.hpp"
#include "rlhf/decoding/best_of_n.hpp"
#include "rlhf/decoding/decode_loop.hpp"
#include "rlhf/model/tabular_model.hpp"
#include "rlhf/sampling/chain.hpp"
#include "rlhf/sampling/greedy.hpp"
#include "rlhf/model/concepts.hpp"

namespace rlhf {

/// Options of block_cd_decoder.
struct block_cd_options {
  index_t blocks = 4;     ///< K: continuations sampled per block, >= 1
  index_t block_len = 8;  ///< M: tokens per block, >= 1
  void validate() const {
    RLHF_EXPECTS(blocks >= 1, "block_cd: blocks (K) = ", blocks, " is outside the allowed range [1, inf)");
    RLHF_EXPECTS(block_len >= 1, "block_cd: block_len (M) = ", block_len, " is outside the allowed range [1, inf)");
  }
};

/// Block-wise CD: LM `LM` sampled with `Sampler`, blocks chosen by value model `VM`.
/// opt.batch_size counts prompts (a session holds batch_size · K rows).
template <language_model LM, class VM, sampler Sampler>
  requires value_model<VM> && search_model<LM, logit_rows> && search_model<VM, value_rows>
class block_cd_decoder {
  static_assert(detail::same_static_vocab<LM, VM>(),
                "block_cd_decoder: the language model and the value model have different vocabularies");

 public:
  block_cd_decoder(LM& lm, VM& vm, Sampler sampler, block_cd_options opt = {})
      : lm_(lm), vm_(vm), sampler_(std::move(sampler)), opt_(opt) {
    opt_.validate();
    detail::check_same_vocab(static_cast<index_t>(lm_.vocab_size()), static_cast<index_t>(vm_.vocab_size()), "block_cd");
  }

  /// Stats per prompt: lm_calls = tokens sampled over all K branches, rm_calls = K per block,
  /// kl_to_ref = blocks · (log K − (K−1)/K) (each block is a best-of-K of its conditional).
  generate_result generate(std::span<const std::vector<token_id>> prompts, const generate_options& opt) {
    const auto start = std::chrono::steady_clock::now();
    detail::check_prompts(prompts, static_cast<index_t>(lm_.vocab_size()), static_cast<index_t>(lm_.max_positions()), opt);
    detail::check_reward_positions(prompts, static_cast<index_t>(vm_.max_positions()), opt, "block_cd");
    const index_t K = opt_.blocks, M = opt_.block_len;
    generate_result result;
    result.sequences.resize(prompts.size());
    detail::for_each_batch(prompts, opt, [&](std::span<const std::vector<token_id>> chunk, std::size_t first) {
      const auto P = static_cast<index_t>(chunk.size());
      const index_t rows = P * K;
      const index_t capacity = detail::batch_capacity(chunk, opt);
      const auto t0 = std::chrono::steady_clock::now();
      auto session = lm_.start_session(rows, capacity);
      detail::decode_rows<decltype(session), Sampler> d(session, static_cast<index_t>(lm_.vocab_size()), sampler_, opt, t0);
      std::vector<std::uint64_t> streams(static_cast<std::size_t>(rows));
      for (index_t r = 0; r < rows; ++r)
        streams[r] = detail::copy_stream(opt, first + static_cast<std::size_t>(r / K), static_cast<std::uint64_t>(r % K));
      d.start(chunk, K, streams);
      auto values = vm_.start_session(rows, capacity);
      detail::prefill_copies(values, chunk, K);
      index_t vm_passes = 1;
      std::vector<index_t> n_blocks(static_cast<std::size_t>(P), 0), rm_passes(static_cast<std::size_t>(P), 1);
      std::vector<double> seconds(static_cast<std::size_t>(P), 0.0);
      std::vector<unsigned char> finished(static_cast<std::size_t>(P), 0);
      while (!d.all_done()) {
        std::vector<index_t> block_start(static_cast<std::size_t>(rows));
        for (index_t r = 0; r < rows; ++r) block_start[r] = static_cast<index_t>(d.response(r).tokens.size());
        for (index_t m = 0; m < M && d.plain_step(); ++m) {
        }
        // Score every branch of every unfinished prompt: its block appended to its value row.
        std::vector<std::vector<token_id>> lists(static_cast<std::size_t>(rows));
        for (index_t r = 0; r < rows; ++r)
          if (!finished[r / K]) {
            const auto& t = d.response(r).tokens;
            lists[r].assign(t.begin() + block_start[r], t.end());
          }
        const auto v = values.extend(std::span<const std::vector<token_id>>(lists));
        ++vm_passes;
        for (index_t p = 0; p < P; ++p) {
          if (finished[p]) continue;
          index_t best = p * K;
          for (index_t j = 1; j < K; ++j)
            if (v[p * K + j] > v[best]) best = p * K + j;
          for (index_t j = 0; j < K; ++j)
            if (p * K + j != best) {
              d.copy_row(best, p * K + j);
              values.copy_row(best, p * K + j);
            }
          ++n_blocks[p];
          ++rm_passes[p];
          if (d.done(best)) {
            finished[p] = 1;
            seconds[p] = detail::seconds_since(t0);
          }
        }
      }
      result.stats.lm_passes += d.passes();
      result.stats.rm_passes += vm_passes;
      for (index_t p = 0; p < P; ++p) {
        index_t lm_calls = 0, lm_passes = 0;
        for (index_t j = 0; j < K; ++j) {
          lm_calls += d.stats(p * K + j).lm_calls;
          lm_passes = std::max(lm_passes, d.stats(p * K + j).lm_passes);
        }
        auto& g = result.sequences[first + static_cast<std::size_t>(p)];
        g = d.take(p * K);
        g.stats.lm_calls = lm_calls;
        g.stats.lm_passes = lm_passes;
        g.stats.rm_calls = K * n_blocks[p];
        g.stats.rm_passes = rm_passes[p];
        g.stats.seconds = seconds[p];
        g.stats.kl_to_ref = static_cast<double>(n_blocks[p]) * best_of_n_kl(K);
        result.stats.new_tokens += g.stats.new_tokens;
      }
    });
    result.stats.seconds = detail::seconds_since(start);
    return result;
  }

 private:
  LM& lm_;
  VM& vm_;
  Sampler sampler_;
  block_cd_options opt_;
};

static_assert(decoder<block_cd_decoder<tabular_lm<backend::archetype>, tabular_value_model<backend::archetype>, sampling::chain<sampling::greedy>>>);

}  // namespace rlhf
