// SPDX-License-Identifier: MIT
#pragma once
// IWYU pragma: private
/// @file
/// The inference path of the GPT-2 trunk: embedding, every block and the final LayerNorm with
/// ONE block's worth of scratch reused by every layer, so nothing a backward pass would need is
/// kept (no (B, NH, T, T) attention weights per layer, no per-layer activations). Used by
/// `transformer::score` / `score_tokens` (reference models, reward models at evaluation, critics
/// during rollouts) and by every KV-cache session call, with or without a cache.
#include <cstdint>
#include <utility>

#include "rlhf/backend/backend.hpp"
#include "rlhf/core/view.hpp"
#include "rlhf/model/transformer/block.hpp"
#include "rlhf/model/transformer/weights.hpp"

namespace rlhf::detail {

/// Scratch of the inference path; grows to the largest call and is reused (see the file comment).
template <class Backend, class T>
class trunk_runner {
 public:
  using space = typename Backend::space;
  using cview = view<const T, space>;
  using mview = view<T, space>;
  using cidx = view<const std::int32_t, space>;

  /// Runs the embedding and every block over n query rows of Tq tokens each (N = n·Tq, token ids
  /// and positions (N) in backend memory), attention keys spanning S positions (Tq without a
  /// cache). `cache_of(l)` gives layer l's cache_args (empty views: no cache); `after(l, k, v)`
  /// sees layer l's new keys and values (n, Tq, C) (a session writes them to its cache).
  /// Returns the last block's output (N, C), valid until the next call.
  template <class CacheOf, class After>
  cview trunk(const gpt2_weights<Backend, T>& w, cidx tokens, cidx positions, index_t n, index_t Tq,
              index_t S, CacheOf&& cache_of, After&& after) {
    const auto& c = w.config;
    const index_t N = n * Tq, C = c.n_embd, NH = c.n_head;
    mview x = x_[0].get({N, C}), y = x_[1].get({N, C});
    Backend::embedding_forward(x, w.tensor(w.table->wte), w.tensor(w.table->wpe), tokens, positions);
    block_activations<Backend, T> a;
    carve_arena(arena_, [&](auto& carve) {
      a.ln1 = carve({N, C});
      a.ln1_mean = carve({N});
      a.ln1_rstd = carve({N});
      a.q = carve({n, Tq, C});
      a.k = carve({n, Tq, C});
      a.v = carve({n, Tq, C});
      a.probs = carve({n, NH, Tq, S});
      a.atty = carve({n, Tq, C});
      a.res2 = carve({N, C});
      a.fch = carve({N, 4 * C});
      a.fch_gelu = carve({N, 4 * C});
      qkv_ = carve({N, 3 * C});
      proj_ = carve({N, C});
    });
    // Nothing is kept for a backward pass: the second LayerNorm shares the first one's scratch.
    a.ln2 = a.ln1;
    a.ln2_mean = a.ln1_mean;
    a.ln2_rstd = a.ln1_rstd;
    const T eps = static_cast<T>(c.layer_norm_epsilon);
    for (index_t l = 0; l < c.n_layer; ++l) {
      a.res3 = y;
      block_forward<Backend, T>(a, cview(x), w.block(l), qkv_, proj_, cache_of(l), NH, eps);
      after(l, cview(a.k), cview(a.v));
      std::swap(x, y);
    }
    return cview(x);
  }

  /// The final LayerNorm of rows (M, C) of x, valid until the next call.
  cview final_norm(const gpt2_weights<Backend, T>& w, cview x) {
    const index_t M = x.dim(0), C = w.config.n_embd;
    const mview out = lnf_.get({M, C});
    Backend::layernorm_forward(out, mean_.get({M}), rstd_.get({M}), x, w.tensor(w.table->lnf_w),
                               w.tensor(w.table->lnf_b), static_cast<T>(w.config.layer_norm_epsilon));
    return cview(out);
  }

  /// Bytes of backend memory this scratch holds now.
  index_t bytes() const noexcept {
    return static_cast<index_t>(sizeof(T)) *
           (x_[0].capacity() + x_[1].capacity() + arena_.capacity() + lnf_.capacity() + mean_.capacity() + rstd_.capacity());
  }

 private:
  growable<Backend, T> x_[2], arena_, lnf_, mean_, rstd_;
  mview qkv_, proj_;
};

}  // namespace rlhf::detail
