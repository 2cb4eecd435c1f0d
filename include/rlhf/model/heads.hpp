// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Output heads of rlhf::transformer, as policies: the same backbone class becomes a language
/// model, a reward model / critic, or a token reward model by changing one template argument.
///
/// A head is a type with
///  - `static constexpr model_role role`: what its numbers mean (model/concepts.hpp), which
///    decides the roles the transformer models;
///  - `using session_result`: the result type of its sessions' calls (logit_rows, value_rows,
///    token_reward_rows);
///  - `static constexpr std::size_t output_rank`: 2 for (B, T) outputs, 3 for (B, T, V);
///  - `static std::vector<head_tensor> tensors(const gpt2_config&)`: its own parameters
///    (appended to the transformer's parameter table, Hugging Face names);
///  - `static index_t decode_width(const gpt2_config&)`: numbers per row a decode session returns;
///  - `template <compute_backend Backend, class T> class state` with
///      `forward(ctx) -> xt::xtensor<T, output_rank>`  (outputs at padded positions are 0),
///      `backward(ctx, d_output)`  (accumulates into ctx.dx, ctx.dwte, ctx.grads),
///      `decode(ctx, x (n, C), out (n, decode_width))`  (sessions: last-position rows only).
/// docs/transformer.md ("Adding a head") walks through writing one.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "rlhf/backend/backend.hpp"
#include "rlhf/core/error.hpp"
#include "rlhf/core/view.hpp"
#include "rlhf/data/token_batch.hpp"
#include "rlhf/model/concepts.hpp"
#include "rlhf/model/gpt2_config.hpp"
#include "rlhf/model/transformer/parameter_table.hpp"
#include "rlhf/model/transformer/weights.hpp"

namespace rlhf {

/// What the transformer hands its head: the final LayerNorm output and the tied embedding, with
/// their gradients, plus the head's own tensors. Shapes in B/T/C/V letters; N = B·T.
template <class Backend, class T>
struct head_context {
  using space = typename Backend::space;
  const gpt2_config* config = nullptr;
  index_t batch = 0;                       // B
  index_t tokens = 0;                      // T
  std::span<const std::int32_t> lengths;   // (B) valid tokens of each row
  std::span<const token_id> ids;           // (B·T) token ids, padding replaced by 0
  view<const T, space> x;                  // (N, C) final LayerNorm output
  view<T, space> dx;                       // (N, C) its gradient: heads accumulate (+=)
  view<const T, space> wte;                // (V, C) token embedding (tied LM head)
  view<T, space> dwte;                     // (V, C)
  view<const T, space> params;             // the head's own tensors, flat, in table order
  view<T, space> grads;                    // their gradients
};

namespace detail {
template <class T>
void check_output_shape(std::span<const std::size_t> got, std::initializer_list<index_t> want,
                        const char* what) {
  bool ok = got.size() == want.size();
  std::size_t i = 0;
  for (index_t w : want) ok = ok && i < got.size() && static_cast<index_t>(got[i++]) == w;
  if (ok) return;
  std::string g = "(", w = "(";
  for (std::size_t j = 0; j < got.size(); ++j) g += (j ? ", " : "") + std::to_string(got[j]);
  i = 0;
  for (index_t x : want) w += (i++ ? ", " : "") + std::to_string(x);
  RLHF_THROW(invalid_argument, what, ": d_output has shape ", g, ") but the last forward produced ",
             w, "); pass the gradient of the tensor forward() returned");
}
}  // namespace detail

// ---- the tied projection (lm_head, token_reward_head) -------------------------------------

namespace detail {
/// logits = x · wteᵀ with its backward and its host read-outs: the one projection both heads
/// tied to the token embedding compute (the LM head before its softmax, the token reward head
/// as it is).
template <class Backend, class T>
class tied_projection {
 public:
  using space = typename Backend::space;
  using cview = view<const T, space>;

  /// (n, V) logits of rows x (n, C), kept until the next call.
  view<T, space> forward(cview x, cview wte) {
    const auto logits = logits_.get({x.dim(0), wte.dim(0)});
    Backend::matmul_forward(logits, x, wte, cview{}, true);
    return logits;
  }
  /// The logits of the last forward, (n, V).
  view<T, space> logits(index_t n, index_t V) { return logits_.get({n, V}); }
  /// Accumulates d x and d wte from d logits (n, V).
  void backward(const head_context<Backend, T>& ctx, cview dlogits) {
    Backend::matmul_backward(ctx.dx, ctx.dwte, view<T, space>{}, dlogits, ctx.x, ctx.wte, true);
  }
  /// Rows (B·T, V) of src as a (B, T, V) host tensor, zero past each row's length.
  xt::xtensor<T, 3> valid_rows(const head_context<Backend, T>& ctx, cview src) {
    const index_t B = ctx.batch, Tn = ctx.tokens, V = ctx.config->vocab_size;
    host_.resize(static_cast<std::size_t>(B * Tn * V));
    Backend::to_host(std::span<T>(host_), src);
    xt::xtensor<T, 3> out = xt::zeros<T>({static_cast<std::size_t>(B), static_cast<std::size_t>(Tn),
                                          static_cast<std::size_t>(V)});
    for (index_t b = 0; b < B; ++b)
      std::copy(host_.begin() + b * Tn * V, host_.begin() + (b * Tn + ctx.lengths[b]) * V,
                out.data() + b * Tn * V);
    return out;
  }
  /// Session read-out: the logits of rows x (n, C) into out (n·V) on the host.
  void decode(cview x, cview wte, std::span<T> out) {
    const auto logits = forward(x, wte);
    Backend::to_host(out.first(static_cast<std::size_t>(logits.size())), cview(logits));
  }

 private:
  growable<Backend, T> logits_;
  std::vector<T> host_;
};

/// Copies out(b, t) = host[b·T + t + shift] for the valid positions t of each row with
/// t + shift in [0, length): the per-position read-out of (B·T) head numbers.
template <class T>
xt::xtensor<T, 2> per_position(std::span<const T> host, std::span<const std::int32_t> lengths, index_t Tn,
                               index_t first, index_t shift) {
  const auto B = static_cast<index_t>(lengths.size());
  xt::xtensor<T, 2> out = xt::zeros<T>({static_cast<std::size_t>(B), static_cast<std::size_t>(Tn)});
  for (index_t b = 0; b < B; ++b)
    for (index_t t = first; t < lengths[b]; ++t) out(b, t) = host[b * Tn + t + shift];
  return out;
}
/// The adjoint of per_position: host[b·T + t + shift] = d(b, t) for the same positions, 0 elsewhere.
template <class T>
void from_positions(std::vector<T>& host, const xt::xtensor<T, 2>& d, std::span<const std::int32_t> lengths,
                    index_t Tn, index_t first, index_t shift) {
  const auto B = static_cast<index_t>(lengths.size());
  host.assign(static_cast<std::size_t>(B * Tn), T(0));
  for (index_t b = 0; b < B; ++b)
    for (index_t t = first; t < lengths[b]; ++t) host[b * Tn + t + shift] = d(b, t);
}
}  // namespace detail

// ---- lm_head ------------------------------------------------------------------------------

/// Language-model head tied to `wte` (GPT-2, Radford et al. 2019): out(b, t) =
/// log p(tokens(b, t) | tokens(b, < t)) for 1 <= t < length(b), 0 at t = 0 and at padding —
/// the per-token log-likelihoods every RLHF loss sums over response tokens (ALGORITHMS.md §1, §3,
/// §4). Computed by the backend's cross_entropy kernel (log-sum-exp, double accumulation).
struct lm_head {
  static constexpr model_role role = model_role::log_probs;
  using session_result = logit_rows;
  static constexpr std::size_t output_rank = 2;
  static std::vector<head_tensor> tensors(const gpt2_config&) { return {}; }
  static index_t decode_width(const gpt2_config& c) { return c.vocab_size; }

  template <class Backend, class T>
  class state {
   public:
    using space = typename Backend::space;
    using cview = view<const T, space>;

    xt::xtensor<T, 2> forward(const head_context<Backend, T>& ctx) {
      const index_t B = ctx.batch, Tn = ctx.tokens, N = B * Tn;
      // Position t predicts token t + 1: the target of row (b, t) is tokens(b, t + 1).
      targets_host_.assign(static_cast<std::size_t>(N), -1);
      for (index_t b = 0; b < B; ++b)
        for (index_t t = 0; t + 1 < ctx.lengths[b]; ++t) targets_host_[b * Tn + t] = ctx.ids[b * Tn + t + 1];
      auto targets = targets_.get({N});
      Backend::from_host(targets, std::span<const std::int32_t>(targets_host_));
      const auto logits = proj_.forward(ctx.x, ctx.wte);
      auto lse = lse_.get({N});
      auto logp = logp_.get({N});
      Backend::cross_entropy_forward(logp, lse, cview(logits), view<const std::int32_t, space>(targets));
      host_.resize(static_cast<std::size_t>(N));
      Backend::to_host(std::span<T>(host_), cview(logp));
      return detail::per_position<T>(host_, ctx.lengths, Tn, 1, -1);
    }

    void backward(const head_context<Backend, T>& ctx, const xt::xtensor<T, 2>& d_out) {
      const index_t B = ctx.batch, Tn = ctx.tokens, N = B * Tn, V = ctx.config->vocab_size;
      detail::check_output_shape<T>(d_out.shape(), {B, Tn}, "lm_head backward");
      detail::from_positions<T>(host_, d_out, ctx.lengths, Tn, 1, -1);
      auto dlogp = dlogp_.get({N});
      Backend::from_host(dlogp, std::span<const T>(host_));
      auto dlogits = dlogits_.get({N, V});
      Backend::fill(dlogits, T(0));
      Backend::cross_entropy_backward(dlogits, cview(dlogp), cview(proj_.logits(N, V)), cview(lse_.get({N})),
                                      view<const std::int32_t, space>(targets_.get({N})));
      proj_.backward(ctx, cview(dlogits));
    }

    /// Next-token logits (or log-probabilities) of every position of the last forward,
    /// (B, T, V) on the host; rows at padding are 0.
    xt::xtensor<T, 3> full(const head_context<Backend, T>& ctx, bool log_probs) {
      const index_t N = ctx.batch * ctx.tokens, V = ctx.config->vocab_size;
      auto src = cview(proj_.logits(N, V));
      if (log_probs) {
        auto lp = dlogits_.get({N, V});
        Backend::log_softmax_forward(lp, src);
        src = cview(lp);
      }
      return proj_.valid_rows(ctx, src);
    }

    void decode(const head_context<Backend, T>& ctx, cview x, std::span<T> out) { proj_.decode(x, ctx.wte, out); }

   private:
    detail::tied_projection<Backend, T> proj_;
    detail::growable<Backend, T> lse_, logp_, dlogp_, dlogits_;
    detail::growable<Backend, std::int32_t> targets_;
    std::vector<std::int32_t> targets_host_;
    std::vector<T> host_;
  };
};

// ---- scalar_head --------------------------------------------------------------------------

/// Scalar head `score.weight` [1, C], no bias, as Hugging Face's GPT2ForSequenceClassification:
/// out(b, t) = ⟨score, x(b, t)⟩ at every valid position. Read at the last non-padding token it
/// is a Bradley–Terry sequence reward r(s, a) (Stiennon et al. 2020, ALGORITHMS.md §2); read at
/// every position it is a PPO critic V_t (§3) or a CD prefix scorer V(s, a^{≤i}) (§5).
struct scalar_head {
  static constexpr model_role role = model_role::values;
  using session_result = value_rows;
  static constexpr std::size_t output_rank = 2;
  static std::vector<head_tensor> tensors(const gpt2_config& c) {
    return {head_tensor{"score.weight", {1, c.n_embd}, init_kind::normal, 0.02}};
  }
  static index_t decode_width(const gpt2_config&) { return 1; }

  template <class Backend, class T>
  class state {
   public:
    using space = typename Backend::space;
    using cview = view<const T, space>;

    xt::xtensor<T, 2> forward(const head_context<Backend, T>& ctx) {
      const auto values = project(ctx, ctx.x);
      host_.resize(static_cast<std::size_t>(values.size()));
      Backend::to_host(std::span<T>(host_), cview(values));
      return detail::per_position<T>(host_, ctx.lengths, ctx.tokens, 0, 0);
    }

    void backward(const head_context<Backend, T>& ctx, const xt::xtensor<T, 2>& d_out) {
      const index_t B = ctx.batch, Tn = ctx.tokens, N = B * Tn;
      detail::check_output_shape<T>(d_out.shape(), {B, Tn}, "scalar_head backward");
      detail::from_positions<T>(host_, d_out, ctx.lengths, Tn, 0, 0);
      auto dvalues = dvalues_.get({N, 1});
      Backend::from_host(dvalues, std::span<const T>(host_));
      Backend::matmul_backward(ctx.dx, view<T, space>(ctx.grads.data(), {1, ctx.config->n_embd}),
                               view<T, space>{}, cview(dvalues), ctx.x, weight(ctx), true);
    }

    void decode(const head_context<Backend, T>& ctx, cview x, std::span<T> out) {
      const auto values = project(ctx, x);
      Backend::to_host(out.first(static_cast<std::size_t>(values.size())), cview(values));
    }

   private:
    static cview weight(const head_context<Backend, T>& ctx) {
      return cview(ctx.params.data(), {1, ctx.config->n_embd});
    }
    view<T, space> project(const head_context<Backend, T>& ctx, cview x) {
      const auto values = values_.get({x.dim(0), 1});
      Backend::matmul_forward(values, x, weight(ctx), cview{}, true);
      return values;
    }
    detail::growable<Backend, T> values_, dvalues_;
    std::vector<T> host_;
  };
};

// ---- token_reward_head --------------------------------------------------------------------

/// Token reward head: the tied LM head read without softmax, out(b, t, v) = R(s, a^{<t+1})[v] =
/// ⟨wte[v], x(b, t)⟩, all V candidate rewards of the next token in one call (FaRMA, Rashid et
/// al. 2025; GenARM, Xu et al. 2024 read it through log-softmax; ALGORITHMS.md §5). Started from
/// an SFT model it holds no new tensor: its token rewards start as the SFT logits.
struct token_reward_head {
  static constexpr model_role role = model_role::token_rewards;
  using session_result = token_reward_rows;
  static constexpr std::size_t output_rank = 3;
  static std::vector<head_tensor> tensors(const gpt2_config&) { return {}; }
  static index_t decode_width(const gpt2_config& c) { return c.vocab_size; }

  template <class Backend, class T>
  class state {
   public:
    using space = typename Backend::space;
    using cview = view<const T, space>;

    xt::xtensor<T, 3> forward(const head_context<Backend, T>& ctx) {
      picked_ready_ = false;
      return proj_.valid_rows(ctx, cview(proj_.forward(ctx.x, ctx.wte)));
    }

    void backward(const head_context<Backend, T>& ctx, const xt::xtensor<T, 3>& d_out) {
      const index_t B = ctx.batch, Tn = ctx.tokens, N = B * Tn, V = ctx.config->vocab_size;
      detail::check_output_shape<T>(d_out.shape(), {B, Tn, V}, "token_reward_head backward");
      host_.assign(static_cast<std::size_t>(N * V), T(0));
      for (index_t b = 0; b < B; ++b)
        std::copy(d_out.data() + b * Tn * V, d_out.data() + (b * Tn + ctx.lengths[b]) * V,
                  host_.begin() + b * Tn * V);
      auto dlogits = dlogits_.get({N, V});
      Backend::from_host(dlogits, std::span<const T>(host_));
      proj_.backward(ctx, cview(dlogits));
    }

    /// The gathered read-out (model/concepts.hpp, picked_rewards): row n = b·T + t of the (N, V)
    /// rewards gives picked(b, t + 1) at column tokens(b, t + 1) and max(b, t) over all columns,
    /// both by backend kernels (pick, row_max); only 3 numbers per position reach the host.
    picked_rewards<T> forward_picked(const head_context<Backend, T>& ctx) {
      const index_t B = ctx.batch, Tn = ctx.tokens, N = B * Tn;
      next_host_.assign(static_cast<std::size_t>(N), -1);
      for (index_t b = 0; b < B; ++b)
        for (index_t t = 0; t + 1 < ctx.lengths[b]; ++t) next_host_[b * Tn + t] = ctx.ids[b * Tn + t + 1];
      auto next = next_.get({N});
      Backend::from_host(next, std::span<const std::int32_t>(next_host_));
      const auto rewards = cview(proj_.forward(ctx.x, ctx.wte));
      auto picked = picked_.get({N});
      auto best = max_.get({N});
      auto arg = argmax_.get({N});
      Backend::pick_forward(picked, rewards, view<const std::int32_t, space>(next));
      Backend::row_max_forward(best, arg, rewards);
      picked_rewards<T> out;
      host_.resize(static_cast<std::size_t>(N));
      Backend::to_host(std::span<T>(host_), cview(picked));
      out.picked = detail::per_position<T>(host_, ctx.lengths, Tn, 1, -1);
      Backend::to_host(std::span<T>(host_), cview(best));
      out.max = detail::per_position<T>(host_, ctx.lengths, Tn, 0, 0);
      arg_host_.resize(static_cast<std::size_t>(N));
      Backend::to_host(std::span<std::int32_t>(arg_host_), view<const std::int32_t, space>(arg));
      out.argmax = xt::xtensor<std::int32_t, 2>::from_shape({static_cast<std::size_t>(B), static_cast<std::size_t>(Tn)});
      out.argmax.fill(-1);
      for (index_t b = 0; b < B; ++b)
        for (index_t t = 0; t < ctx.lengths[b]; ++t) out.argmax(b, t) = arg_host_[b * Tn + t];
      picked_ready_ = true;
      return out;
    }

    /// Backward of forward_picked: d rewards = pick_backward(d picked, next tokens) +
    /// pick_backward(d max, argmax), formed on the backend, then the projection's backward.
    void backward_picked(const head_context<Backend, T>& ctx, const xt::xtensor<T, 2>& d_picked,
                         const xt::xtensor<T, 2>& d_max) {
      RLHF_EXPECTS(picked_ready_, "token_reward_head backward_picked: call forward_picked(batch) first");
      const index_t B = ctx.batch, Tn = ctx.tokens, N = B * Tn, V = ctx.config->vocab_size;
      detail::check_output_shape<T>(d_picked.shape(), {B, Tn}, "token_reward_head backward_picked (d_picked)");
      detail::check_output_shape<T>(d_max.shape(), {B, Tn}, "token_reward_head backward_picked (d_max)");
      auto dlogits = dlogits_.get({N, V});
      Backend::fill(dlogits, T(0));
      auto d = dpick_.get({N});
      detail::from_positions<T>(host_, d_picked, ctx.lengths, Tn, 1, -1);
      Backend::from_host(d, std::span<const T>(host_));
      Backend::pick_backward(dlogits, cview(d), view<const std::int32_t, space>(next_.get({N})));
      detail::from_positions<T>(host_, d_max, ctx.lengths, Tn, 0, 0);
      Backend::from_host(d, std::span<const T>(host_));
      Backend::pick_backward(dlogits, cview(d), view<const std::int32_t, space>(argmax_.get({N})));
      proj_.backward(ctx, cview(dlogits));
    }

    void decode(const head_context<Backend, T>& ctx, cview x, std::span<T> out) { proj_.decode(x, ctx.wte, out); }

   private:
    detail::tied_projection<Backend, T> proj_;
    detail::growable<Backend, T> dlogits_, picked_, max_, dpick_;
    detail::growable<Backend, std::int32_t> next_, argmax_;
    std::vector<T> host_;
    std::vector<std::int32_t> next_host_, arg_host_;
    bool picked_ready_ = false;
  };
};

// ---- helpers ------------------------------------------------------------------------------

/// The sequence reward of a scalar head: out(b, length(b) - 1), the value at the last
/// non-padding token (Stiennon et al. 2020; GPT2ForSequenceClassification). (B) on the host.
template <class T>
xt::xtensor<T, 1> last_token_values(const token_batch& batch, const xt::xtensor<T, 2>& out) {
  const index_t B = batch.rows();
  RLHF_EXPECTS(static_cast<index_t>(out.shape(0)) == B && out.shape(1) == batch.tokens.shape(1),
               "last_token_values: out has shape (", out.shape(0), ", ", out.shape(1),
               ") but the batch is (", B, ", ", batch.cols(), "); pass the forward() output of this batch");
  RLHF_EXPECTS(static_cast<index_t>(batch.lengths.size()) == B,
               "last_token_values: batch.lengths has ", batch.lengths.size(), " entries for ", B, " rows");
  xt::xtensor<T, 1> r = xt::zeros<T>({static_cast<std::size_t>(B)});
  for (index_t b = 0; b < B; ++b) {
    const index_t len = batch.lengths(b);
    RLHF_EXPECTS(len >= 1 && len <= batch.cols(), "last_token_values: row ", b, " has length ",
                 len, "; a reward needs at least one token and at most ", batch.cols());
    r(b) = out(b, len - 1);
  }
  return r;
}

/// Scatters d r(b) (B) into a (B, T) gradient for scalar_head backward: d_out(b, length(b)-1).
template <class T>
xt::xtensor<T, 2> last_token_gradient(const token_batch& batch, const xt::xtensor<T, 1>& d_reward) {
  const index_t B = batch.rows();
  RLHF_EXPECTS(static_cast<index_t>(d_reward.size()) == B, "last_token_gradient: d_reward has ",
               d_reward.size(), " entries for a batch of ", B, " rows");
  xt::xtensor<T, 2> d = xt::zeros<T>({static_cast<std::size_t>(B), batch.tokens.shape(1)});
  for (index_t b = 0; b < B; ++b) {
    const index_t len = batch.lengths(b);
    RLHF_EXPECTS(len >= 1 && len <= batch.cols(), "last_token_gradient: row ", b,
                 " has length ", len, "; a reward needs at least one token");
    d(b, len - 1) = d_reward(b);
  }
  return d;
}

}  // namespace rlhf
