// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// rlhf::transformer: a GPT-2-family decoder (Radford et al. 2019, "Language Models are
/// Unsupervised Multitask Learners"): token + learned position embeddings, pre-LN blocks of
/// causal multi-head attention and a GELU(tanh) MLP of width 4C, a final LayerNorm, and a head
/// policy (heads.hpp). Written only against the compute_backend kernels, so it runs on every
/// backend; float32 storage (double for gradient checks), long sums accumulated in double by the
/// backend. Parameters live in ONE backend allocation and gradients in another, addressed through
/// a table of Hugging Face GPT-2 names (CLI.md), so checkpoints load as they are.
///
/// Two paths over a right-padded token_batch:
///  - `forward` keeps the activations and `backward` accumulates (+=) into the gradients; it is
///    the only call that touches what a pending backward needs;
///  - `score` / `score_tokens` / `next_token_*` run the inference path (transformer/inference.hpp):
///    one block's scratch for all layers, no activation arena, so a reference model, a reward
///    model at evaluation or a critic during rollouts costs no training memory, and a score
///    between forward and backward leaves the gradients exactly as they would have been.
/// Padding sits after every valid token and attention is causal, so padding never influences
/// valid positions; outputs at padded positions are 0 and get no gradient.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "rlhf/backend/archetype.hpp"
#include "rlhf/backend/backend.hpp"
#include "rlhf/core/error.hpp"
#include "rlhf/core/rng.hpp"
#include "rlhf/core/view.hpp"
#include "rlhf/data/token_batch.hpp"
#include "rlhf/data/validate_batch.hpp"
#include "rlhf/model/concepts.hpp"
#include "rlhf/model/gpt2_config.hpp"
#include "rlhf/model/heads.hpp"
#include "rlhf/model/kv_session.hpp"
#include "rlhf/model/parameter.hpp"
#include "rlhf/model/transformer/block.hpp"
#include "rlhf/model/transformer/inference.hpp"
#include "rlhf/model/transformer/parameter_table.hpp"
#include "rlhf/model/transformer/weights.hpp"

namespace rlhf {

namespace detail {
/// A validated batch in the form the kernels take: token ids with padding replaced by 0 (so any
/// pad id works), positions and lengths on the host, ids and positions in backend memory.
template <class Backend>
struct uploaded_batch {
  std::vector<token_id> ids;
  std::vector<std::int32_t> positions, lengths;
  growable<Backend, std::int32_t> device_ids, device_positions;
  index_t rows = 0, cols = 0;

  /// @throws rlhf::invalid_argument on a malformed batch or an out-of-vocabulary id
  void upload(const token_batch& batch, const gpt2_config& cfg, const char* who) {
    data::validate_batch(batch, cfg.vocab_size, cfg.n_positions, who);
    rows = batch.rows();
    cols = batch.cols();
    ids.assign(static_cast<std::size_t>(rows * cols), 0);
    positions.resize(static_cast<std::size_t>(rows * cols));
    lengths.resize(static_cast<std::size_t>(rows));
    for (index_t b = 0; b < rows; ++b) {
      lengths[b] = static_cast<std::int32_t>(batch.lengths(b));
      for (index_t t = 0; t < cols; ++t) {
        positions[b * cols + t] = static_cast<std::int32_t>(t);
        if (t < lengths[b]) ids[b * cols + t] = batch.tokens(b, t);
      }
    }
    Backend::from_host(device_ids.get({rows * cols}), std::span<const std::int32_t>(ids));
    Backend::from_host(device_positions.get({rows * cols}), std::span<const std::int32_t>(positions));
  }
  view<const std::int32_t, typename Backend::space> tokens() { return device_ids.get({rows * cols}); }
  view<const std::int32_t, typename Backend::space> position_ids() { return device_positions.get({rows * cols}); }
};
}  // namespace detail

/// GPT-2-family transformer with a head policy.
/// @tparam Backend a rlhf::compute_backend (rlhf::backend::eigen, rlhf::backend::thrust<S>)
/// @tparam Head    lm_head (language model), scalar_head (reward model, critic, CD value),
///                 token_reward_head (FaRMA / GenARM token reward model); see heads.hpp
/// @tparam T       storage type: float; double for finite-difference gradient checks
template <compute_backend Backend, class Head, class T = float>
class transformer {
 public:
  using backend_type = Backend;
  using head_type = Head;
  using value_type = T;
  using space = typename Backend::space;
  using output_type = xt::xtensor<T, Head::output_rank>;
  using session_type = kv_session<Backend, Head, T>;
  /// The role tag (model/concepts.hpp): what the head's numbers mean.
  static constexpr model_role role = Head::role;

  /// GPT-2 initialisation: weights N(0, 0.02), residual projections (attn.c_proj, mlp.c_proj)
  /// N(0, 0.02/sqrt(2 n_layer)), biases 0, LayerNorm weight 1 and bias 0. Tensor i draws from
  /// the weight-init stream i of `seed` (core/rng.hpp), so the trunk's values do not depend on
  /// the head and no other use of the seed draws the same numbers.
  explicit transformer(const gpt2_config& config, std::uint64_t seed = 0)
      : w_{(config.validate(), config),
           std::make_shared<const detail::parameter_table>(config, Head::tensors(config)), nullptr},
        grads_(shape{w_.table->total}) {
    const auto& table = *w_.table;
    w_.params = std::make_shared<buffer>(shape{table.total});
    std::vector<T> host(static_cast<std::size_t>(table.total), T(0));
    for (std::size_t i = 0; i < table.entries.size(); ++i) {
      const auto& e = table.entries[i];
      T* p = host.data() + e.offset;
      const index_t n = e.extents.size();
      if (e.init == init_kind::ones) std::fill(p, p + n, T(1));
      if (e.init != init_kind::normal) continue;
      const counter_rng rng(seed, rng_stream(rng_purpose::weight_init, i));
      for (index_t j = 0; j < n; ++j) p[j] = static_cast<T>(e.stddev * rng.normal(static_cast<std::uint64_t>(j)));
    }
    Backend::from_host(w_.params->view(), std::span<const T>(host));
  }

  transformer(const transformer&) = delete;
  transformer& operator=(const transformer&) = delete;
  transformer(transformer&&) noexcept = default;
  transformer& operator=(transformer&&) noexcept = default;

  // ---- parameters ----

  const gpt2_config& config() const noexcept { return w_.config; }
  index_t vocab_size() const noexcept { return w_.config.vocab_size; }
  index_t max_positions() const noexcept { return w_.config.n_positions; }
  index_t parameter_count() const noexcept { return w_.table->total; }
  /// All parameters, one flat backend view in table order (optimizers update it in place).
  view<T, space> parameters() noexcept { return w_.params->view(); }
  view<const T, space> parameters() const noexcept { return w_.params->view(); }
  /// All gradients, same layout as parameters().
  view<T, space> gradients() noexcept { return grads_.view(); }
  view<const T, space> gradients() const noexcept { return grads_.view(); }
  /// Clears the gradient arena (one fill); backward() accumulates into it.
  void zero_grad() { Backend::fill(grads_.view(), T(0)); }

  /// The parameter table with Hugging Face GPT-2 names ("wte.weight", "h.0.attn.c_attn.weight",
  /// ..., then the head's tensors such as "score.weight"), each viewing both arenas.
  std::vector<named_parameter<space, T>> named_parameters() {
    std::vector<named_parameter<space, T>> r;
    r.reserve(w_.table->entries.size());
    for (const auto& e : w_.table->entries)
      r.push_back({e.name, w_.params->view().slice(e.offset, e.extents), grads_.view().slice(e.offset, e.extents)});
    return r;
  }

  // ---- training path ----

  /// Runs the model over a right-padded batch and returns the head's output on the host:
  /// (B, T) for lm_head / scalar_head, (B, T, V) for token_reward_head. Keeps activations for
  /// backward(). @throws rlhf::invalid_argument on a malformed batch or an out-of-vocabulary id.
  output_type forward(const token_batch& batch) { return head_.forward(run_trunk(batch, "transformer::forward")); }

  /// token_reward_head only: the gathered read-out of the token rewards (model/concepts.hpp,
  /// picked_rewards: picked, max and argmax, (B, T) each), computed on the backend so the
  /// (B, T, V) rewards never reach the host. Keeps activations for backward_picked().
  /// @throws rlhf::invalid_argument on a malformed batch or an out-of-vocabulary id.
  picked_rewards<T> forward_picked(const token_batch& batch)
    requires(Head::role == model_role::token_rewards)
  {
    return head_.forward_picked(run_trunk(batch, "transformer::forward_picked"));
  }
  /// Accumulates (+=) the gradients of Σ d_picked ⊙ picked + Σ d_max ⊙ max of the last
  /// forward_picked() (the max's gradient goes to its argmax). Entries at positions without a
  /// value are ignored. @throws rlhf::invalid_argument without a forward_picked or on a shape mismatch.
  void backward_picked(const xt::xtensor<T, 2>& d_picked, const xt::xtensor<T, 2>& d_max)
    requires(Head::role == model_role::token_rewards)
  {
    backward_through([&](const head_context<Backend, T>& ctx) { head_.backward_picked(ctx, d_picked, d_max); });
  }
  /// The gathered read-out through the inference path (no activations kept).
  picked_rewards<T> score_picked(const token_batch& batch)
    requires(Head::role == model_role::token_rewards)
  {
    return infer_head_.forward_picked(infer(batch, "transformer::score_picked"));
  }

 private:
  /// The training path up to the head: trunk and final LayerNorm, activations kept.
  head_context<Backend, T> run_trunk(const token_batch& batch, const char* who) {
    train_in_.upload(batch, w_.config, who);
    const index_t B = train_in_.rows, Tn = train_in_.cols;
    layout(B, Tn);
    Backend::embedding_forward(encoded_, tensor(w_.table->wte), tensor(w_.table->wpe), train_in_.tokens(),
                               train_in_.position_ids());
    const detail::cache_args<Backend, T> no_cache{};
    cview x = encoded_;
    for (index_t l = 0; l < w_.config.n_layer; ++l) {
      detail::block_forward<Backend, T>(acts_[l], x, w_.block(l), qkv_, proj_, no_cache, w_.config.n_head, eps());
      x = acts_[l].res3;
    }
    Backend::layernorm_forward(lnf_, lnf_mean_, lnf_rstd_, x, tensor(w_.table->lnf_w), tensor(w_.table->lnf_b), eps());
    has_forward_ = true;
    return train_context();
  }
  /// The backward pass below the head; `head_backward(ctx)` accumulates into ctx.dx first.
  template <class HeadBackward>
  void backward_through(HeadBackward&& head_backward) {
    RLHF_EXPECTS(has_forward_, "transformer::backward: call forward(batch) first; backward uses its activations");
    const index_t B = train_in_.rows, Tn = train_in_.cols;
    layout_grads(B, Tn);
    auto ctx = train_context();
    Backend::fill(d_lnf_, T(0));
    ctx.dx = d_lnf_;
    head_backward(std::as_const(ctx));
    Backend::fill(dres_, T(0));
    const cview last = w_.config.n_layer > 0 ? cview(acts_.back().res3) : cview(encoded_);
    Backend::layernorm_backward(dres_, grad(w_.table->lnf_w), grad(w_.table->lnf_b), cview(d_lnf_), last,
                                tensor(w_.table->lnf_w), cview(lnf_mean_), cview(lnf_rstd_));
    for (index_t l = w_.config.n_layer - 1; l >= 0; --l) {
      const cview x = l == 0 ? cview(encoded_) : cview(acts_[l - 1].res3);
      detail::block_backward<Backend, T>(dres_, block_grads(l), scratch_, acts_[l], x, w_.block(l), w_.config.n_head);
    }
    Backend::embedding_backward(grad(w_.table->wte), grad(w_.table->wpe), cview(dres_), train_in_.tokens(),
                                train_in_.position_ids());
  }

 public:
  /// Accumulates (+=) the gradients of Σ d_output ⊙ forward(batch) into gradients(), for the
  /// batch of the last forward(). Entries of d_output at padded positions (and at t = 0 for the
  /// LM head) are ignored. @throws rlhf::invalid_argument without a forward or on a shape mismatch.
  void backward(const output_type& d_output) {
    backward_through([&](const head_context<Backend, T>& ctx) { head_.backward(ctx, d_output); });
  }

  // ---- inference path (keeps no activations; see the file comment) ----

  /// Per-token log-probs (lm_head) or values (scalar_head), (B, T), through the
  /// inference path. @throws rlhf::invalid_argument on a malformed batch
  output_type score(const token_batch& batch)
    requires(Head::output_rank == 2)
  {
    return infer_head_.forward(infer(batch, "transformer::score"));
  }
  /// Token rewards (B, T, V) (token_reward_head), through the inference path.
  output_type score_tokens(const token_batch& batch)
    requires(Head::output_rank == 3)
  {
    return infer_head_.forward(infer(batch, "transformer::score_tokens"));
  }

  /// lm_head only: next-token logits of every position, (B, T, V) on the host, row (b, t)
  /// predicting token t + 1; padded rows are 0. Inference path.
  xt::xtensor<T, 3> next_token_logits(const token_batch& batch)
    requires std::is_same_v<Head, lm_head>
  {
    const auto ctx = infer(batch, "transformer::next_token_logits");
    infer_head_.forward(ctx);
    return infer_head_.full(ctx, false);
  }
  /// lm_head only: next-token log-probabilities (log-softmax of next_token_logits), (B, T, V).
  xt::xtensor<T, 3> next_token_log_probs(const token_batch& batch)
    requires std::is_same_v<Head, lm_head>
  {
    const auto ctx = infer(batch, "transformer::next_token_log_probs");
    infer_head_.forward(ctx);
    return infer_head_.full(ctx, true);
  }

  /// Backend memory held for the training path's activations and their gradients (0 until the
  /// first forward / backward), and by the inference path's scratch, in bytes.
  index_t activation_bytes() const noexcept {
    return static_cast<index_t>(sizeof(T)) * (acts_arena_.capacity() + grad_arena_.capacity());
  }
  index_t inference_bytes() const noexcept { return runner_.bytes(); }

  // ---- decoding ----

  /// Opens a KV-cache session for `rows` sequences of at most `capacity` tokens each
  /// (kv_session.hpp). The session shares this model's weights (it holds them, not the model):
  /// updates to the weights show in later calls; re-prefill after an update to use them fully.
  session_type start_session(index_t rows, index_t capacity) { return session_type(w_, rows, capacity); }

 private:
  using cview = view<const T, space>;
  using mview = view<T, space>;
  using buffer = typename Backend::template buffer<T>;

  T eps() const noexcept { return static_cast<T>(w_.config.layer_norm_epsilon); }
  cview tensor(std::size_t i) const { return w_.tensor(i); }
  mview grad(std::size_t i) {
    const auto& e = w_.table->entries[i];
    return mview(grads_.view().data() + e.offset, e.extents);
  }
  detail::block_grads<Backend, T> block_grads(index_t l) {
    const auto& s = w_.table->blocks[static_cast<std::size_t>(l)];
    return {grad(s.ln1_w), grad(s.ln1_b), grad(s.attn_w), grad(s.attn_b), grad(s.attn_proj_w),
            grad(s.attn_proj_b), grad(s.ln2_w), grad(s.ln2_b), grad(s.fc_w), grad(s.fc_b),
            grad(s.fc_proj_w), grad(s.fc_proj_b)};
  }
  head_context<Backend, T> context(detail::uploaded_batch<Backend>& in, cview x) {
    head_context<Backend, T> c;
    c.config = &w_.config;
    c.batch = in.rows;
    c.tokens = in.cols;
    c.lengths = in.lengths;
    c.ids = in.ids;
    c.x = x;
    c.wte = tensor(w_.table->wte);
    c.dwte = grad(w_.table->wte);
    c.params = w_.head_params();
    c.grads = mview(grads_.view().data() + w_.table->head_offset(), {w_.table->head_size()});
    return c;
  }
  head_context<Backend, T> train_context() { return context(train_in_, lnf_); }

  /// The inference path up to the head: trunk and final LayerNorm over every position.
  head_context<Backend, T> infer(const token_batch& batch, const char* who) {
    infer_in_.upload(batch, w_.config, who);
    const index_t B = infer_in_.rows, Tn = infer_in_.cols;
    const cview x = runner_.trunk(
        w_, infer_in_.tokens(), infer_in_.position_ids(), B, Tn, Tn,
        [](index_t) { return detail::cache_args<Backend, T>{}; }, [](index_t, cview, cview) {});
    return context(infer_in_, runner_.final_norm(w_, x));
  }

  /// Carves the activation arena for (B, T); grows it only when (B, T) needs more room, so
  /// smaller batches reuse the memory of the largest one seen.
  void layout(index_t B, index_t Tn) {
    detail::carve_arena(acts_arena_, [&](auto& c) {
      const index_t N = B * Tn, C = w_.config.n_embd, NH = w_.config.n_head;
      encoded_ = c({N, C});
      acts_.resize(static_cast<std::size_t>(w_.config.n_layer));
      for (auto& a : acts_) {
        a.ln1 = c({N, C});
        a.ln1_mean = c({N});
        a.ln1_rstd = c({N});
        a.q = c({B, Tn, C});
        a.k = c({B, Tn, C});
        a.v = c({B, Tn, C});
        a.probs = c({B, NH, Tn, Tn});
        a.atty = c({B, Tn, C});
        a.res2 = c({N, C});
        a.ln2 = c({N, C});
        a.ln2_mean = c({N});
        a.ln2_rstd = c({N});
        a.fch = c({N, 4 * C});
        a.fch_gelu = c({N, 4 * C});
        a.res3 = c({N, C});
      }
      qkv_ = c({N, 3 * C});
      proj_ = c({N, C});
      lnf_ = c({N, C});
      lnf_mean_ = c({N});
      lnf_rstd_ = c({N});
    });
    grads_laid_out_ = false;
  }

  void layout_grads(index_t B, index_t Tn) {
    if (grads_laid_out_) return;
    detail::carve_arena(grad_arena_, [&](auto& c) {
      const index_t N = B * Tn, C = w_.config.n_embd;
      dres_ = c({N, C});
      d_lnf_ = c({N, C});
      scratch_.d_ln = c({N, C});
      scratch_.d_qkv = c({B, Tn, 3 * C});
      scratch_.dq = c({B, Tn, C});
      scratch_.dk = c({B, Tn, C});
      scratch_.dv = c({B, Tn, C});
      scratch_.d_atty = c({B, Tn, C});
      scratch_.d_fch = c({N, 4 * C});
      scratch_.d_fch_gelu = c({N, 4 * C});
    });
    grads_laid_out_ = true;
  }

  detail::gpt2_weights<Backend, T> w_;  // config, table, parameters (shared with sessions)
  buffer grads_;                         // gradients, same layout as the parameters

  // Training path: the activations of the last forward, carved from one arena.
  typename Head::template state<Backend, T> head_;
  detail::uploaded_batch<Backend> train_in_;
  detail::growable<Backend, T> acts_arena_, grad_arena_;
  mview encoded_, qkv_, proj_, lnf_, lnf_mean_, lnf_rstd_;  // (N,C), (N,3C), (N,C), (N,C), (N), (N)
  std::vector<detail::block_activations<Backend, T>> acts_;
  mview dres_, d_lnf_;                                      // (N, C)
  detail::block_scratch_grads<Backend, T> scratch_;
  bool grads_laid_out_ = false, has_forward_ = false;

  // Inference path: its own batch, head state and one block's scratch.
  typename Head::template state<Backend, T> infer_head_;
  detail::uploaded_batch<Backend> infer_in_;
  detail::trunk_runner<Backend, T> runner_;
};

// ---- role conformance (house style: beside the class), on the archetype backend ----
namespace detail {
using conformance_backend = backend::archetype;
template <class Head>
using conformance_transformer = transformer<conformance_backend, Head>;
// A language model: log-probs, sessions of next-token logits, differentiable.
static_assert(language_model<conformance_transformer<lm_head>>);
static_assert(differentiable_model<conformance_transformer<lm_head>>);
static_assert(!value_model<conformance_transformer<lm_head>> && !token_reward_model<conformance_transformer<lm_head>>);
// A reward model / critic / CD value: values per position, sessions of value_rows; never a
// language model, so it cannot be passed where a policy or a reference is expected.
static_assert(value_model<conformance_transformer<scalar_head>>);
static_assert(differentiable_model<conformance_transformer<scalar_head>>);
static_assert(!language_model<conformance_transformer<scalar_head>>);
static_assert(!token_reward_model<conformance_transformer<scalar_head>>);
// A token reward model (FaRMA / GenARM): V rewards per position in one call, incrementally too;
// its logit-shaped rewards are not logits, so it is neither a language model nor a value model.
static_assert(token_reward_model<conformance_transformer<token_reward_head>>);
static_assert(token_reward_readout<conformance_transformer<token_reward_head>>);
static_assert(!token_reward_readout<conformance_transformer<lm_head>>);
static_assert(differentiable_model<conformance_transformer<token_reward_head>>);
static_assert(!language_model<conformance_transformer<token_reward_head>>);
static_assert(!value_model<conformance_transformer<token_reward_head>>);
static_assert(model_session<kv_session<conformance_backend, lm_head, float>, logit_rows>);
static_assert(model_session<kv_session<conformance_backend, scalar_head, float>, value_rows>);
static_assert(model_session<kv_session<conformance_backend, token_reward_head, float>, token_reward_rows>);
static_assert(search_session<kv_session<conformance_backend, lm_head, float>, logit_rows>);
static_assert(search_session<kv_session<conformance_backend, scalar_head, float>, value_rows>);
static_assert(search_session<kv_session<conformance_backend, token_reward_head, float>, token_reward_rows>);
}  // namespace detail

}  // namespace rlhf
