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
/// Forward over a right-padded token_batch keeps the activations; backward accumulates (+=)
/// into the gradients. Padding sits after every valid token and attention is causal, so padding
/// never influences valid positions; outputs at padded positions are 0 and get no gradient.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "rlhf/backend/backend.hpp"
#include "rlhf/core/error.hpp"
#include "rlhf/core/rng.hpp"
#include "rlhf/core/view.hpp"
#include "rlhf/data/token_batch.hpp"
#include "rlhf/model/concepts.hpp"
#include "rlhf/model/gpt2_config.hpp"
#include "rlhf/model/heads.hpp"
#include "rlhf/model/parameter.hpp"
#include "rlhf/model/transformer/block.hpp"
#include "rlhf/model/transformer/parameter_table.hpp"

namespace rlhf {

template <compute_backend Backend, class Head, class T>
class kv_session;

namespace detail {
/// Hands out consecutive views of one arena; `count_only` sizes the arena first.
template <class T, class Space>
struct carver {
  T* base = nullptr;
  index_t used = 0;
  view<T, Space> operator()(shape s) {
    // 16-element alignment keeps every tensor on a 64-byte line for the SIMD kernels.
    view<T, Space> v(base == nullptr ? nullptr : base + used, s);
    used += (s.size() + 15) / 16 * 16;
    return v;
  }
};

/// Validates a batch against a model and returns the host copies the kernels need: token ids
/// with padding replaced by 0 (so any pad id works), and lengths. Throws rlhf::invalid_argument.
inline void prepare_batch(const token_batch& batch, const gpt2_config& cfg, const char* who,
                          std::vector<token_id>& ids, std::vector<std::int32_t>& positions,
                          std::vector<std::int32_t>& lengths) {
  const index_t B = batch.rows(), Tn = batch.cols();
  RLHF_EXPECTS(B >= 1 && Tn >= 1, who, ": the token batch is empty (", B, " x ", Tn,
               "); pass at least one row with one token");
  RLHF_EXPECTS(Tn <= cfg.n_positions, who, ": the batch has ", Tn,
               " columns but the model has n_positions = ", cfg.n_positions,
               "; truncate the sequences to at most n_positions tokens");
  RLHF_EXPECTS(static_cast<index_t>(batch.lengths.size()) == B, who, ": batch.lengths has ",
               batch.lengths.size(), " entries for ", B, " rows; give one length per row");
  ids.assign(static_cast<std::size_t>(B * Tn), 0);
  positions.resize(static_cast<std::size_t>(B * Tn));
  lengths.resize(static_cast<std::size_t>(B));
  for (index_t b = 0; b < B; ++b) {
    const index_t len = batch.lengths(b);
    RLHF_EXPECTS(len >= 0 && len <= Tn, who, ": row ", b, " has length ", len,
                 " outside [0, ", Tn, "]; lengths count the valid (non-padding) tokens of a row");
    lengths[b] = static_cast<std::int32_t>(len);
    for (index_t t = 0; t < Tn; ++t) {
      positions[b * Tn + t] = static_cast<std::int32_t>(t);
      if (t >= len) continue;
      const token_id id = batch.tokens(b, t);
      RLHF_EXPECTS(id >= 0 && id < cfg.vocab_size, who, ": token id ", id, " at row ", b,
                   ", position ", t, " is outside the vocabulary [0, ", cfg.vocab_size,
                   "); the tokenizer and the model's vocab_size disagree");
      ids[b * Tn + t] = id;
    }
  }
}
}  // namespace detail

/// GPT-2-family transformer with a head policy.
/// @tparam Backend a rlhf::compute_backend (rlhf::backend::eigen, rlhf::backend::thrust<S>)
/// @tparam Head    lm_head (causal LM), scalar_head (reward model, critic, CD value),
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

  /// GPT-2 initialisation: weights N(0, 0.02), residual projections (attn.c_proj, mlp.c_proj)
  /// N(0, 0.02/sqrt(2 n_layer)), biases 0, LayerNorm weight 1 and bias 0. Tensor i draws from
  /// counter_rng(seed, i), so the trunk's values do not depend on the head.
  explicit transformer(const gpt2_config& config, std::uint64_t seed = 0)
      : config_((config.validate(), config)),
        table_(config_, Head::tensors(config_)),
        params_(shape{table_.total}),
        grads_(shape{table_.total}) {
    std::vector<T> host(static_cast<std::size_t>(table_.total), T(0));
    for (std::size_t i = 0; i < table_.entries.size(); ++i) {
      const auto& e = table_.entries[i];
      T* p = host.data() + e.offset;
      const index_t n = e.extents.size();
      if (e.init == init_kind::ones) std::fill(p, p + n, T(1));
      if (e.init != init_kind::normal) continue;
      const counter_rng rng(seed, i);
      for (index_t j = 0; j < n; ++j) p[j] = static_cast<T>(e.stddev * rng.normal(static_cast<std::uint64_t>(j)));
    }
    Backend::from_host(params_.view(), std::span<const T>(host));
  }

  transformer(const transformer&) = delete;
  transformer& operator=(const transformer&) = delete;
  transformer(transformer&&) noexcept = default;
  transformer& operator=(transformer&&) noexcept = default;

  // ---- parameters ----

  const gpt2_config& config() const noexcept { return config_; }
  index_t vocab_size() const noexcept { return config_.vocab_size; }
  index_t max_positions() const noexcept { return config_.n_positions; }
  index_t parameter_count() const noexcept { return table_.total; }
  /// All parameters, one flat backend view in table order (optimizers update it in place).
  view<T, space> parameters() noexcept { return params_.view(); }
  view<const T, space> parameters() const noexcept { return params_.view(); }
  /// All gradients, same layout as parameters().
  view<T, space> gradients() noexcept { return grads_.view(); }
  view<const T, space> gradients() const noexcept { return grads_.view(); }
  /// Clears the gradient arena (one fill); backward() accumulates into it.
  void zero_grad() { Backend::fill(grads_.view(), T(0)); }

  /// The parameter table with Hugging Face GPT-2 names ("wte.weight", "h.0.attn.c_attn.weight",
  /// ..., then the head's tensors such as "score.weight"), each viewing both arenas.
  std::vector<named_parameter<space, T>> named_parameters() {
    std::vector<named_parameter<space, T>> r;
    r.reserve(table_.entries.size());
    for (const auto& e : table_.entries)
      r.push_back({e.name, params_.view().slice(e.offset, e.extents),
                   grads_.view().slice(e.offset, e.extents)});
    return r;
  }

  // ---- forward / backward ----

  /// Runs the model over a right-padded batch and returns the head's output on the host:
  /// (B, T) for lm_head / scalar_head, (B, T, V) for token_reward_head. Keeps activations for
  /// backward(). @throws rlhf::invalid_argument on a malformed batch or an out-of-vocabulary id.
  output_type forward(const token_batch& batch) {
    detail::prepare_batch(batch, config_, "transformer::forward", ids_host_, pos_host_, len_host_);
    const index_t B = batch.rows(), Tn = batch.cols();
    layout(B, Tn);
    const index_t N = B * Tn;
    auto tokens = ids_.get({N});
    auto positions = pos_.get({N});
    Backend::from_host(tokens, std::span<const std::int32_t>(ids_host_));
    Backend::from_host(positions, std::span<const std::int32_t>(pos_host_));
    Backend::embedding_forward(encoded_, tensor(table_.wte), tensor(table_.wpe), cidx(tokens),
                               cidx(positions));
    const detail::cache_args<Backend, T> no_cache{};
    cview x = encoded_;
    for (index_t l = 0; l < config_.n_layer; ++l) {
      detail::block_forward<Backend, T>(acts_[l], x, weights(l), qkv_, proj_, no_cache,
                                        config_.n_head, static_cast<T>(config_.layer_norm_epsilon));
      x = acts_[l].res3;
    }
    Backend::layernorm_forward(lnf_, lnf_mean_, lnf_rstd_, x, tensor(table_.lnf_w),
                               tensor(table_.lnf_b), static_cast<T>(config_.layer_norm_epsilon));
    B_ = B;
    T_ = Tn;
    return head_.forward(context());
  }

  /// Accumulates (+=) the gradients of Σ d_output ⊙ forward(batch) into gradients(), for the
  /// batch of the last forward(). Entries of d_output at padded positions (and at t = 0 for the
  /// LM head) are ignored. @throws rlhf::invalid_argument without a forward or on a shape mismatch.
  void backward(const output_type& d_output) {
    RLHF_EXPECTS(B_ > 0, "transformer::backward: call forward(batch) first; backward uses its activations");
    const index_t N = B_ * T_;
    layout_grads();
    auto ctx = context();
    Backend::fill(d_lnf_, T(0));
    ctx.dx = d_lnf_;
    head_.backward(ctx, d_output);
    Backend::fill(dres_, T(0));
    const cview last = config_.n_layer > 0 ? cview(acts_.back().res3) : cview(encoded_);
    Backend::layernorm_backward(dres_, grad(table_.lnf_w), grad(table_.lnf_b), cview(d_lnf_), last,
                                tensor(table_.lnf_w), cview(lnf_mean_), cview(lnf_rstd_));
    for (index_t l = config_.n_layer - 1; l >= 0; --l) {
      const cview x = l == 0 ? cview(encoded_) : cview(acts_[l - 1].res3);
      detail::block_backward<Backend, T>(dres_, grads(l), scratch_, acts_[l], x, weights(l),
                                         config_.n_head);
    }
    Backend::embedding_backward(grad(table_.wte), grad(table_.wpe), cview(dres_),
                                cidx(ids_.get({N})), cidx(pos_.get({N})));
  }

  /// sequence_scorer: the (B, T) output of forward() as float (lm_head, scalar_head).
  xt::xtensor<float, 2> score(const token_batch& batch)
    requires(Head::output_rank == 2)
  {
    if constexpr (std::is_same_v<T, float>) return forward(batch);
    else return xt::xtensor<float, 2>(xt::cast<float>(forward(batch)));
  }
  /// token_scorer: the (B, T, V) output of forward() as float (token_reward_head).
  xt::xtensor<float, 3> score_tokens(const token_batch& batch)
    requires(Head::output_rank == 3)
  {
    if constexpr (std::is_same_v<T, float>) return forward(batch);
    else return xt::xtensor<float, 3>(xt::cast<float>(forward(batch)));
  }

  /// lm_head only: next-token logits of every position, (B, T, V) on the host, row (b, t)
  /// predicting token t + 1; padded rows are 0. Runs forward(batch).
  xt::xtensor<T, 3> next_token_logits(const token_batch& batch)
    requires std::is_same_v<Head, lm_head>
  {
    forward(batch);
    return head_.full(context(), false);
  }
  /// lm_head only: next-token log-probabilities (log-softmax of next_token_logits), (B, T, V).
  xt::xtensor<T, 3> next_token_log_probs(const token_batch& batch)
    requires std::is_same_v<Head, lm_head>
  {
    forward(batch);
    return head_.full(context(), true);
  }

  // ---- decoding ----

  /// Opens a KV-cache decode session for `rows` sequences of at most `capacity` tokens each
  /// (kv_session.hpp). The session reads this model's parameters: keep the model alive and do
  /// not update it while the session is in use (or re-prefill after an update).
  session_type start_session(index_t rows, index_t capacity) { return session_type(*this, rows, capacity); }

 private:
  friend class kv_session<Backend, Head, T>;
  using cview = view<const T, space>;
  using mview = view<T, space>;
  using cidx_view = view<const std::int32_t, space>;
  static cidx_view cidx(view<std::int32_t, space> v) { return v; }

  cview tensor(std::size_t i) const {
    const auto& e = table_.entries[i];
    return cview(params_.view().data() + e.offset, e.extents);
  }
  mview grad(std::size_t i) {
    const auto& e = table_.entries[i];
    return mview(grads_.view().data() + e.offset, e.extents);
  }
  detail::block_weights<Backend, T> weights(index_t l) const {
    const auto& s = table_.blocks[static_cast<std::size_t>(l)];
    return {tensor(s.ln1_w), tensor(s.ln1_b), tensor(s.attn_w), tensor(s.attn_b),
            tensor(s.attn_proj_w), tensor(s.attn_proj_b), tensor(s.ln2_w), tensor(s.ln2_b),
            tensor(s.fc_w), tensor(s.fc_b), tensor(s.fc_proj_w), tensor(s.fc_proj_b)};
  }
  detail::block_grads<Backend, T> grads(index_t l) {
    const auto& s = table_.blocks[static_cast<std::size_t>(l)];
    return {grad(s.ln1_w), grad(s.ln1_b), grad(s.attn_w), grad(s.attn_b), grad(s.attn_proj_w),
            grad(s.attn_proj_b), grad(s.ln2_w), grad(s.ln2_b), grad(s.fc_w), grad(s.fc_b),
            grad(s.fc_proj_w), grad(s.fc_proj_b)};
  }
  head_context<Backend, T> context() {
    head_context<Backend, T> c;
    c.config = &config_;
    c.batch = B_;
    c.tokens = T_;
    c.lengths = len_host_;
    c.ids = ids_host_;
    c.x = lnf_;
    c.wte = tensor(table_.wte);
    c.dwte = grad(table_.wte);
    c.params = cview(params_.view().data() + table_.head_offset(), {table_.head_size()});
    c.grads = mview(grads_.view().data() + table_.head_offset(), {table_.head_size()});
    return c;
  }

  /// Carves the activation arena for (B, T); grows it only when (B, T) needs more room, so
  /// smaller batches reuse the memory of the largest one seen.
  void layout(index_t B, index_t Tn) {
    auto carve = [&](detail::carver<T, space>& c) {
      const index_t N = B * Tn, C = config_.n_embd, NH = config_.n_head;
      encoded_ = c({N, C});
      acts_.resize(static_cast<std::size_t>(config_.n_layer));
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
    };
    detail::carver<T, space> count;
    carve(count);
    mview arena = acts_arena_.get({count.used});
    detail::carver<T, space> real{arena.data(), 0};
    carve(real);
    grads_laid_out_ = false;
  }

  void layout_grads() {
    if (grads_laid_out_) return;
    auto carve = [&](detail::carver<T, space>& c) {
      const index_t N = B_ * T_, C = config_.n_embd;
      dres_ = c({N, C});
      d_lnf_ = c({N, C});
      scratch_.d_ln = c({N, C});
      scratch_.d_qkv = c({B_, T_, 3 * C});
      scratch_.dq = c({B_, T_, C});
      scratch_.dk = c({B_, T_, C});
      scratch_.dv = c({B_, T_, C});
      scratch_.d_atty = c({B_, T_, C});
      scratch_.d_fch = c({N, 4 * C});
      scratch_.d_fch_gelu = c({N, 4 * C});
    };
    detail::carver<T, space> count;
    carve(count);
    mview arena = grad_arena_.get({count.used});
    detail::carver<T, space> real{arena.data(), 0};
    carve(real);
    grads_laid_out_ = true;
  }

  gpt2_config config_;
  detail::parameter_table table_;
  typename Backend::template buffer<T> params_;  // every parameter, table order
  typename Backend::template buffer<T> grads_;   // their gradients, same layout
  typename Head::template state<Backend, T> head_;

  // Activations of the last forward (B_, T_), carved from one arena.
  detail::growable<Backend, T> acts_arena_, grad_arena_;
  detail::growable<Backend, std::int32_t> ids_, pos_;
  mview encoded_, qkv_, proj_, lnf_, lnf_mean_, lnf_rstd_;  // (N,C), (N,3C), (N,C), (N,C), (N), (N)
  std::vector<detail::block_activations<Backend, T>> acts_;
  mview dres_, d_lnf_;                                      // (N, C)
  detail::block_scratch_grads<Backend, T> scratch_;
  bool grads_laid_out_ = false;
  std::vector<token_id> ids_host_;
  std::vector<std::int32_t> pos_host_, len_host_;
  index_t B_ = 0, T_ = 0;
};

}  // namespace rlhf

#include "rlhf/model/kv_session.hpp"

// The concept conformance checks (static_assert per head) sit at the end of kv_session.hpp,
// where the session type they need is complete.
