// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Tabular models: every output is one row of a table (n_contexts, width), chosen by a context
/// id computed from the prefix. Exact and tiny, they are the models of the oracle tests, one per
/// role of model/concepts.hpp, with the same conventions as the transformer's heads:
///  - `tabular_lm` (width V, the next-token logits): with a bigram context SFT must reproduce the
///    empirical bigram distribution of its corpus, and with a bandit context (context = the first
///    token, i.e. the prompt; the response is one token) DPO and PPO must reach the closed-form
///    optimum π*(a|s) ∝ π_ref(a|s) exp(r(s,a)/β) (ALGORITHMS.md §4, Rafailov et al. 2023 eq. 4);
///  - `tabular_value_model` (width 1): V(s, a^{≤t}) at every position — a reward model read at the
///    last token, a critic, a CD value; `tabular_critic` names the same type in PPO code;
///  - `tabular_token_reward_model` (width V): R(s, a^{≤t})[v], the FaRMA / GenARM token rewards.
///
/// Position t's state is the context of tokens [0, t]: a value or token-reward output at t reads
/// the row of that state, and the LM's log-prob of token t reads the row of state t - 1 (the
/// transformer's heads line up the same way). The table is the model's only parameter
/// ("logits.weight", one backend buffer); every computation goes through the backend's kernels
/// (gather_rows, cross_entropy, scatter_add_rows), so the models run on every backend.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
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
#include "rlhf/model/parameter.hpp"

namespace rlhf {

/// How a tabular model maps a prefix to the row of its table.
enum class tabular_context {
  bigram,  ///< context = the last token of the prefix; n_contexts = V
  bandit,  ///< context = the first token (the prompt id); one-step problems of ALGORITHMS.md §4
  custom,  ///< context = a user-supplied function of the prefix
};

inline std::string_view to_string(tabular_context c) noexcept {
  switch (c) {
    case tabular_context::bigram: return "bigram";
    case tabular_context::bandit: return "bandit";
    case tabular_context::custom: return "custom";
  }
  return "unknown";
}

/// Shape of a tabular model (written to config.json by rlhf::save_model).
struct tabular_config {
  index_t vocab_size = 0;                              ///< V
  tabular_context context = tabular_context::bigram;   ///< how the prefix picks a table row
  index_t n_contexts = 0;      ///< table rows; 0 means V (bigram must be V; custom needs > 0)
  index_t max_positions = 1024;  ///< longest sequence a batch or a decode session may hold
  double init_std = 0.0;       ///< table entries ~ N(0, init_std²); 0 = uniform distributions

  /// Table rows after resolving the "0 means V" default.
  index_t contexts() const noexcept { return n_contexts == 0 ? vocab_size : n_contexts; }

  /// Throws rlhf::invalid_argument naming the first field outside its range.
  void validate() const {
    RLHF_EXPECTS(vocab_size > 0, "tabular_config: vocab_size must be > 0 (got ", vocab_size, ")");
    RLHF_EXPECTS(n_contexts >= 0, "tabular_config: n_contexts must be >= 0 (got ", n_contexts,
                 "; 0 means vocab_size)");
    RLHF_EXPECTS(context != tabular_context::bigram || contexts() == vocab_size,
                 "tabular_config: a bigram table has one row per token: n_contexts must be 0 or ",
                 "vocab_size (", vocab_size, "), got ", n_contexts);
    RLHF_EXPECTS(context != tabular_context::custom || n_contexts > 0,
                 "tabular_config: the custom context needs n_contexts > 0 (the range of the ",
                 "context function)");
    RLHF_EXPECTS(max_positions >= 2, "tabular_config: max_positions must be >= 2 (got ",
                 max_positions, ")");
    RLHF_EXPECTS(std::isfinite(init_std) && init_std >= 0,
                 "tabular_config: init_std must be finite and >= 0 (got ", init_std, ")");
  }
};

/// The output policies of tabular_model (see the file comment): what a table row means.
namespace tabular_head {
/// Next-token logits: out(b, t) = log softmax(table[state t-1])[tokens(b, t)] for 1 <= t < length.
struct lm {
  static constexpr model_role role = model_role::log_probs;
  using session_result = logit_rows;
  static constexpr std::size_t output_rank = 2;
  static constexpr index_t first_position = 1;  // t = 0 has no log-prob
  static constexpr index_t state_shift = -1;    // reads the state before the token
  static index_t width(index_t vocab) noexcept { return vocab; }
};
/// One value per position: out(b, t) = table[state t][0] for 0 <= t < length.
struct value {
  static constexpr model_role role = model_role::values;
  using session_result = value_rows;
  static constexpr std::size_t output_rank = 2;
  static constexpr index_t first_position = 0;
  static constexpr index_t state_shift = 0;
  static index_t width(index_t) noexcept { return 1; }
};
/// V rewards per position: out(b, t, v) = table[state t][v] for 0 <= t < length.
struct token_reward {
  static constexpr model_role role = model_role::token_rewards;
  using session_result = token_reward_rows;
  static constexpr std::size_t output_rank = 3;
  static constexpr index_t first_position = 0;
  static constexpr index_t state_shift = 0;
  static index_t width(index_t vocab) noexcept { return vocab; }
};
}  // namespace tabular_head

/// A table indexed by a context id of the prefix, read by the output policy `Head`
/// (tabular_head::lm, ::value, ::token_reward; see the file comment).
///
/// Every one models its role's concept (language_model, value_model, token_reward_model) and
/// differentiable_model: forward keeps activations, score() does not touch them, backward
/// accumulates d table += ∂L/∂table from the gradient of forward's output.
/// @tparam Backend a `compute_backend`
/// @tparam Head    a tabular_head policy
/// @tparam T       float, or double for finite-difference gradient checks
template <compute_backend Backend, class Head, class T = float>
class tabular_model {
 public:
  using backend_type = Backend;
  using head_type = Head;
  using space = typename Backend::space;
  using value_type = T;
  using output_type = xt::xtensor<T, Head::output_rank>;
  /// Context of a non-empty prefix, in [0, n_contexts) (custom mode).
  using context_fn = std::function<index_t(std::span<const token_id> prefix)>;
  class session;
  using session_type = session;
  static constexpr model_role role = Head::role;

  /// Bigram or bandit table. @throws rlhf::invalid_argument on a bad config.
  explicit tabular_model(const tabular_config& cfg, std::uint64_t seed = 0) : tabular_model(cfg, context_fn{}, seed) {}

  /// Any mode; `fn` is required exactly when cfg.context is custom. Entries ~ N(0, init_std²)
  /// from the weight-init stream 0 of `seed`.
  tabular_model(const tabular_config& cfg, context_fn fn, std::uint64_t seed = 0) {
    cfg.validate();
    RLHF_EXPECTS((cfg.context == tabular_context::custom) == static_cast<bool>(fn),
                 "tabular model: a context function is required for the custom context and only ",
                 "for it (context = ", to_string(cfg.context), ")");
    auto config = cfg;
    config.n_contexts = config.contexts();
    const shape s{config.n_contexts, Head::width(config.vocab_size)};
    state_ = std::make_shared<shared_state>(shared_state{config, std::move(fn), buffer<T>(s)});
    grad_ = buffer<T>(s);
    if (config.init_std > 0) {
      const counter_rng rng(seed, rng_stream(rng_purpose::weight_init, 0));
      std::vector<T> init(static_cast<std::size_t>(s.size()));
      for (std::size_t i = 0; i < init.size(); ++i) init[i] = static_cast<T>(config.init_std * rng.normal(i));
      Backend::from_host(state_->table.view(), std::span<const T>(init));
    }
  }

  tabular_model(tabular_model&&) noexcept = default;
  tabular_model& operator=(tabular_model&&) noexcept = default;
  tabular_model(const tabular_model&) = delete;
  tabular_model& operator=(const tabular_model&) = delete;

  // ---- shape ----
  const tabular_config& config() const noexcept { return state_->config; }
  index_t vocab_size() const noexcept { return state_->config.vocab_size; }
  index_t max_positions() const noexcept { return state_->config.max_positions; }
  index_t n_contexts() const noexcept { return state_->config.n_contexts; }
  /// Numbers per table row: V for the LM and token-reward tables, 1 for the value table.
  index_t width() const noexcept { return Head::width(vocab_size()); }

  /// The table row used after `prefix` (non-empty, ids < V).
  /// @throws rlhf::invalid_argument for an empty prefix, a bad id, or a custom context out of range
  index_t context_of(std::span<const token_id> prefix) const { return state_->context_of(prefix); }

  // ---- parameters ----
  view<T, space> parameters() noexcept { return state_->table.view(); }
  view<const T, space> parameters() const noexcept { return state_->table.view(); }
  view<T, space> gradients() noexcept { return grad_.view(); }
  view<const T, space> gradients() const noexcept { return grad_.view(); }
  index_t parameter_count() const noexcept { return state_->table.size(); }
  void zero_grad() { Backend::fill(grad_.view(), T(0)); }
  /// One tensor, "logits.weight" [n_contexts, width].
  std::vector<named_parameter<space, T>> named_parameters() {
    return {named_parameter<space, T>{"logits.weight", state_->table.view(), grad_.view()}};
  }

  /// Host copy of the table (n_contexts, width).
  xt::xtensor<T, 2> logits_table() const {
    xt::xtensor<T, 2> out({static_cast<std::size_t>(n_contexts()), static_cast<std::size_t>(width())});
    Backend::to_host(std::span<T>(out.data(), out.size()), view<const T, space>(state_->table.view()));
    return out;
  }
  /// Replaces the table. @throws rlhf::invalid_argument when the shape is not (n_contexts, width)
  void set_logits_table(const xt::xtensor<T, 2>& table) {
    expect_shape(shape{static_cast<index_t>(table.shape(0)), static_cast<index_t>(table.shape(1))},
                 state_->table.extents(), "tabular model: set_logits_table: table");
    Backend::from_host(state_->table.view(), std::span<const T>(table.data(), table.size()));
  }

  // ---- scoring and training ----
  /// The role's outputs (see tabular_head), keeping activations for backward().
  output_type forward(const token_batch& batch) {
    auto out = run_forward(batch, train_);
    train_.picked_ready = false;
    has_forward_ = true;
    return out;
  }
  /// Log-probs or values (B, T); leaves the activations of forward() intact.
  output_type score(const token_batch& batch)
    requires(Head::output_rank == 2)
  {
    return run_forward(batch, scratch_);
  }
  /// Token rewards (B, T, V); leaves the activations of forward() intact.
  output_type score_tokens(const token_batch& batch)
    requires(Head::output_rank == 3)
  {
    return run_forward(batch, scratch_);
  }

  /// Token rewards only: the gathered read-out (model/concepts.hpp, picked_rewards) computed by
  /// backend kernels (pick, row_max) on the gathered table rows; keeps activations for
  /// backward_picked().
  picked_rewards<T> forward_picked(const token_batch& batch)
    requires std::is_same_v<Head, tabular_head::token_reward>
  {
    auto out = run_picked(batch, train_);
    has_forward_ = true;
    return out;
  }
  /// The gathered read-out; leaves the activations of forward() / forward_picked() intact.
  picked_rewards<T> score_picked(const token_batch& batch)
    requires std::is_same_v<Head, tabular_head::token_reward>
  {
    return run_picked(batch, scratch_);
  }
  /// Accumulates (+=) the table gradient of Σ d_picked ⊙ picked + Σ d_max ⊙ max of the last
  /// forward_picked() (the max's gradient goes to its argmax), scattered on the backend.
  /// @throws rlhf::invalid_argument without a forward_picked or on a shape mismatch
  void backward_picked(const xt::xtensor<T, 2>& d_picked, const xt::xtensor<T, 2>& d_max)
    requires std::is_same_v<Head, tabular_head::token_reward>
  {
    RLHF_EXPECTS(has_forward_ && train_.picked_ready, "tabular model: backward_picked: call forward_picked(batch) first");
    const shape want{train_.batch_rows, train_.batch_cols};
    expect_shape(shape{static_cast<index_t>(d_picked.shape(0)), static_cast<index_t>(d_picked.shape(1))}, want,
                 "tabular model: backward_picked: d_picked");
    expect_shape(shape{static_cast<index_t>(d_max.shape(0)), static_cast<index_t>(d_max.shape(1))}, want,
                 "tabular model: backward_picked: d_max");
    const index_t k = train_.count, w = width();
    if (k == 0) return;
    train_.reserve_backward(k, w);
    auto dlogits = train_.dlogits.view().slice(0, shape{k, w});
    Backend::fill(dlogits, T(0));
    std::vector<T> dp(static_cast<std::size_t>(k)), dm(static_cast<std::size_t>(k));
    for (std::size_t i = 0; i < static_cast<std::size_t>(k); ++i) {
      const std::size_t at = train_.where[i];
      dm[i] = d_max.data()[at];
      dp[i] = train_.host_targets[i] >= 0 ? d_picked.data()[at + 1] : T(0);
    }
    auto d = train_.dlogp.view().slice(0, shape{k});
    Backend::from_host(d, std::span<const T>(dp));
    Backend::pick_backward(dlogits, cview(d), cview(train_.targets.view().slice(0, shape{k})));
    Backend::from_host(d, std::span<const T>(dm));
    Backend::pick_backward(dlogits, cview(d), cview(train_.argmax.view().slice(0, shape{k})));
    Backend::scatter_add_rows(grad_.view(), cview(dlogits), cview(train_.contexts.view().slice(0, shape{k})));
  }

  /// Accumulates (+=) the table gradient from the gradient of the last forward()'s output.
  /// Entries at positions without an output (padding; t = 0 for the LM) are ignored.
  void backward(const output_type& d_out) {
    RLHF_EXPECTS(has_forward_, "tabular model: backward: call forward(batch) first");
    shape got{static_cast<index_t>(d_out.shape(0)), static_cast<index_t>(d_out.shape(1))};
    shape want{train_.batch_rows, train_.batch_cols};
    if constexpr (Head::output_rank == 3) {
      got = shape{got[0], got[1], static_cast<index_t>(d_out.shape(2))};
      want = shape{want[0], want[1], width()};
    }
    expect_shape(got, want, "tabular model: backward: d_out");
    const index_t k = train_.count, w = width();
    if (k == 0) return;
    train_.reserve_backward(k, w);
    auto dlogits = train_.dlogits.view().slice(0, shape{k, w});
    const auto contexts = cview(train_.contexts.view().slice(0, shape{k}));
    if constexpr (std::is_same_v<Head, tabular_head::lm>) {
      std::vector<T> d(static_cast<std::size_t>(k));
      for (index_t i = 0; i < k; ++i) d[static_cast<std::size_t>(i)] = d_out.data()[train_.where[static_cast<std::size_t>(i)]];
      auto dlogp = train_.dlogp.view().slice(0, shape{k});
      Backend::from_host(dlogp, std::span<const T>(d));
      Backend::fill(dlogits, T(0));
      Backend::cross_entropy_backward(dlogits, cview(dlogp), cview(train_.logits_view(k, w)),
                                      cview(train_.lse.view().slice(0, shape{k})),
                                      cview(train_.targets.view().slice(0, shape{k})));
    } else {
      std::vector<T> d(static_cast<std::size_t>(k * w));
      for (index_t i = 0; i < k; ++i)
        std::copy_n(d_out.data() + train_.where[static_cast<std::size_t>(i)] * static_cast<std::size_t>(w), w,
                    d.data() + i * w);
      Backend::from_host(dlogits, std::span<const T>(d));
    }
    Backend::scatter_add_rows(grad_.view(), cview(dlogits), contexts);
  }

  /// LM only: full next-token logits (B, T, V) on the host: row (b, t) is the distribution of
  /// token t + 1 after tokens(b, 0..t]; zero at padding (t >= length).
  xt::xtensor<T, 3> next_token_logits(const token_batch& batch) const
    requires std::is_same_v<Head, tabular_head::lm>
  {
    validate(batch);
    const auto b_n = static_cast<std::size_t>(batch.rows()), t_n = static_cast<std::size_t>(batch.cols());
    const auto v = static_cast<std::size_t>(vocab_size());
    xt::xtensor<T, 3> out = xt::zeros<T>({b_n, t_n, v});
    const auto table = logits_table();
    for (std::size_t b = 0; b < b_n; ++b) {
      const token_id* row = &batch.tokens(b, 0);
      for (std::size_t t = 0; t < static_cast<std::size_t>(batch.lengths(b)); ++t) {
        const auto c = static_cast<std::size_t>(context_of({row, t + 1}));
        std::copy_n(&table(c, 0), v, &out(b, t, 0));
      }
    }
    return out;
  }

  /// Opens a session of `rows` sequences of at most `capacity` tokens each. The session shares
  /// the table (it holds it, not the model), so it sees training between calls.
  session start_session(index_t rows, index_t capacity) { return session(state_, rows, capacity); }

 private:
  template <class U>
  using buffer = typename Backend::template buffer<U>;
  template <class U>
  static view<const U, space> cview(view<U, space> v) noexcept { return v; }
  // What the model and its sessions share.
  struct shared_state {
    tabular_config config;
    context_fn fn;
    buffer<T> table;  // (n_contexts, width)

    index_t context_of(std::span<const token_id> prefix) const {
      RLHF_EXPECTS(!prefix.empty(), "tabular model: the next-token distribution needs a non-empty ",
                   "prefix (give the prompt at least one token)");
      index_t c = 0;
      switch (config.context) {
        case tabular_context::bigram: c = prefix.back(); break;
        case tabular_context::bandit: c = prefix.front(); break;
        case tabular_context::custom: c = fn(prefix); break;
      }
      RLHF_EXPECTS(c >= 0 && c < config.n_contexts, "tabular model: context id ", c,
                   " is outside [0, n_contexts = ", config.n_contexts, ") (",
                   config.context == tabular_context::bandit
                       ? "the first token is the prompt id: keep prompt ids below n_contexts"
                       : "the context function must return ids below n_contexts",
                   ")");
      return c;
    }
  };

  // Activations of one forward: the K positions with an output, in row-major order.
  struct workspace {
    buffer<T> logits{shape{1, 1}};                    // (K, width) gathered table rows
    buffer<T> logp{shape{1}}, lse{shape{1}};          // (K) (LM)
    buffer<T> dlogp{shape{1}}, dlogits{shape{1, 1}};  // (K), (K, width) for backward
    buffer<std::int32_t> contexts{shape{1}}, targets{shape{1}};  // (K)
    buffer<std::int32_t> argmax{shape{1}};                       // (K) token rewards: row maxima
    std::vector<std::int32_t> host_targets;  // (K) targets (LM: the token; token rewards: the next token or -1)
    std::vector<std::size_t> where;  // flat index b * T + t of each output position
    index_t count = 0, batch_rows = 0, batch_cols = 0;
    bool picked_ready = false;  // the last forward was forward_picked

    view<T, space> logits_view(index_t k, index_t w) { return logits.view().slice(0, shape{k, w}); }
    void reserve(index_t k, index_t w) {
      if (logits.extents()[0] < k || logits.extents()[1] != w) logits = buffer<T>(shape{k, w});
      if (logp.size() < k) {
        logp = buffer<T>(shape{k});
        lse = buffer<T>(shape{k});
        contexts = buffer<std::int32_t>(shape{k});
        targets = buffer<std::int32_t>(shape{k});
        argmax = buffer<std::int32_t>(shape{k});
      }
    }
    void reserve_backward(index_t k, index_t w) {
      if (dlogits.extents()[0] < k || dlogits.extents()[1] != w) dlogits = buffer<T>(shape{k, w});
      if (dlogp.size() < k) dlogp = buffer<T>(shape{k});
    }
  };

  void validate(const token_batch& batch) const {
    data::validate_batch(batch, vocab_size(), max_positions(), "tabular model");
  }

  /// Gathers the table rows of every output position of `batch` into ws (contexts, rows, where,
  /// and the targets: the token at the position for the LM, the next token or -1 otherwise).
  /// Returns the number of positions K.
  index_t gather_positions(const token_batch& batch, workspace& ws) {
    validate(batch);
    const index_t b_n = batch.rows(), t_n = batch.cols(), w = width();
    std::vector<std::int32_t> ctx, tgt;
    ws.where.clear();
    for (index_t b = 0; b < b_n; ++b) {
      const token_id* row = &batch.tokens(static_cast<std::size_t>(b), 0);
      const index_t len = batch.lengths(static_cast<std::size_t>(b));
      for (index_t t = Head::first_position; t < len; ++t) {
        const auto prefix = static_cast<std::size_t>(t + 1 + Head::state_shift);
        ctx.push_back(static_cast<std::int32_t>(context_of({row, prefix})));
        if constexpr (std::is_same_v<Head, tabular_head::lm>) tgt.push_back(row[t]);
        else tgt.push_back(t + 1 < len ? row[t + 1] : -1);
        ws.where.push_back(static_cast<std::size_t>(b * t_n + t));
      }
    }
    const auto k = static_cast<index_t>(ctx.size());
    ws.count = k;
    ws.batch_rows = b_n;
    ws.batch_cols = t_n;
    if (k == 0) return k;
    ws.reserve(k, w);
    auto c = ws.contexts.view().slice(0, shape{k});
    Backend::from_host(c, std::span<const std::int32_t>(ctx));
    Backend::from_host(ws.targets.view().slice(0, shape{k}), std::span<const std::int32_t>(tgt));
    ws.host_targets = std::move(tgt);
    Backend::gather_rows(ws.logits_view(k, w), cview(state_->table.view()), cview(c));
    return k;
  }

  /// The gathered read-out of the positions gather_positions found (picked_rewards).
  picked_rewards<T> run_picked(const token_batch& batch, workspace& ws)
    requires std::is_same_v<Head, tabular_head::token_reward>
  {
    const index_t k = gather_positions(batch, ws), w = width();
    const auto b_n = static_cast<std::size_t>(batch.rows()), t_n = static_cast<std::size_t>(batch.cols());
    picked_rewards<T> out{xt::zeros<T>({b_n, t_n}), xt::zeros<T>({b_n, t_n}),
                          xt::xtensor<std::int32_t, 2>::from_shape({b_n, t_n})};
    out.argmax.fill(-1);
    if (k == 0) return out;
    const auto rows = cview(ws.logits_view(k, w));
    auto picked = ws.logp.view().slice(0, shape{k});
    auto best = ws.lse.view().slice(0, shape{k});
    auto arg = ws.argmax.view().slice(0, shape{k});
    Backend::pick_forward(picked, rows, cview(ws.targets.view().slice(0, shape{k})));
    Backend::row_max_forward(best, arg, rows);
    std::vector<T> p(static_cast<std::size_t>(k)), m(static_cast<std::size_t>(k));
    std::vector<std::int32_t> a(static_cast<std::size_t>(k));
    Backend::to_host(std::span<T>(p), cview(picked));
    Backend::to_host(std::span<T>(m), cview(best));
    Backend::to_host(std::span<std::int32_t>(a), cview(arg));
    for (std::size_t i = 0; i < static_cast<std::size_t>(k); ++i) {
      const std::size_t at = ws.where[i];
      out.max.data()[at] = m[i];
      out.argmax.data()[at] = a[i];
      if (ws.host_targets[i] >= 0) out.picked.data()[at + 1] = p[i];  // the reward of the prefix ending at t + 1
    }
    ws.picked_ready = true;
    return out;
  }

  output_type run_forward(const token_batch& batch, workspace& ws) {
    const index_t k = gather_positions(batch, ws), w = width();
    const index_t b_n = batch.rows(), t_n = batch.cols();
    output_type out;
    if constexpr (Head::output_rank == 2)
      out = xt::zeros<T>({static_cast<std::size_t>(b_n), static_cast<std::size_t>(t_n)});
    else
      out = xt::zeros<T>({static_cast<std::size_t>(b_n), static_cast<std::size_t>(t_n), static_cast<std::size_t>(w)});
    if (k == 0) return out;
    auto rows = ws.logits_view(k, w);
    view<const T, space> result = cview(rows);
    if constexpr (std::is_same_v<Head, tabular_head::lm>) {
      auto y = ws.targets.view().slice(0, shape{k});
      auto logp = ws.logp.view().slice(0, shape{k});
      Backend::cross_entropy_forward(logp, ws.lse.view().slice(0, shape{k}), cview(rows), cview(y));
      result = cview(logp);
    }
    const index_t per = Head::output_rank == 2 ? 1 : w;
    std::vector<T> host(static_cast<std::size_t>(result.size()));
    Backend::to_host(std::span<T>(host), result);
    for (index_t i = 0; i < k; ++i)
      std::copy_n(host.data() + i * per, per, out.data() + ws.where[static_cast<std::size_t>(i)] * static_cast<std::size_t>(per));
    return out;
  }

  std::shared_ptr<shared_state> state_;
  buffer<T> grad_{shape{1, 1}};  // (n_contexts, width)
  workspace train_, scratch_;
  bool has_forward_ = false;
};

/// Session of a tabular model (rlhf::model_session with the head's result type): the "cache"
/// of a row is its tokens, since every output is the table row of the prefix's context.
/// Returned views stay valid until the next call on the session.
template <compute_backend Backend, class Head, class T>
class tabular_model<Backend, Head, T>::session {
 public:
  using result_type = typename Head::session_result;

  session(std::shared_ptr<const shared_state> state, index_t rows, index_t capacity)
      : state_(std::move(state)), rows_(rows), capacity_(capacity),
        seqs_(static_cast<std::size_t>(std::max<index_t>(rows, 0))) {
    RLHF_EXPECTS(rows > 0, "tabular model: start_session: rows must be > 0 (got ", rows, ")");
    RLHF_EXPECTS(capacity > 0 && capacity <= state_->config.max_positions,
                 "tabular model: start_session: capacity must be in [1, max_positions = ",
                 state_->config.max_positions, "] (got ", capacity, ")");
    out_.assign(static_cast<std::size_t>(rows * width()), 0.0f);
  }

  index_t rows() const noexcept { return rows_; }
  index_t capacity() const noexcept { return capacity_; }
  index_t length(index_t row) const {
    check_row(row, "length");
    return static_cast<index_t>(seqs_[static_cast<std::size_t>(row)].size());
  }
  /// The tokens of `row` so far.
  std::span<const token_id> tokens(index_t row) const {
    check_row(row, "tokens");
    return seqs_[static_cast<std::size_t>(row)];
  }

  /// Starts every row with its prompt (1 <= size <= capacity); returns each row's output (B, width).
  result_type prefill(std::span<const std::vector<token_id>> prompts) {
    RLHF_EXPECTS(static_cast<index_t>(prompts.size()) == rows_, "tabular model: session: prefill: ",
                 prompts.size(), " prompts for a session of ", rows_, " rows");
    for (std::size_t b = 0; b < prompts.size(); ++b) {
      RLHF_EXPECTS(!prompts[b].empty() && static_cast<index_t>(prompts[b].size()) <= capacity_,
                   "tabular model: session: prefill: prompt ", b, " has ", prompts[b].size(),
                   " tokens; it needs 1 to capacity = ", capacity_);
      for (token_id t : prompts[b]) check_token(t, "prefill");
    }
    std::vector<index_t> ctx(prompts.size());
    for (std::size_t b = 0; b < prompts.size(); ++b) ctx[b] = state_->context_of(prompts[b]);
    for (std::size_t b = 0; b < prompts.size(); ++b) seqs_[b] = prompts[b];
    pending_.clear();
    write_rows(ctx, std::span<float>(out_));
    return wrap(out_.data(), rows_);
  }

  /// Appends tokens[b] to row b (negative: row b is finished and left as it is, its output row
  /// keeps its previous value); returns the outputs (B, width).
  result_type step(std::span<const token_id> tokens) {
    RLHF_EXPECTS(static_cast<index_t>(tokens.size()) == rows_, "tabular model: session: step: ",
                 tokens.size(), " tokens for a session of ", rows_, " rows");
    std::vector<index_t> active;
    for (std::size_t b = 0; b < tokens.size(); ++b) {
      if (tokens[b] < 0) continue;
      check_token(tokens[b], "step");
      RLHF_EXPECTS(static_cast<index_t>(seqs_[b].size()) < capacity_, "tabular model: session: step: row ",
                   b, " is full (capacity ", capacity_, "); open the session with a larger capacity");
      active.push_back(static_cast<index_t>(b));
    }
    pending_.clear();
    std::vector<index_t> ctx;
    for (index_t b : active) {
      auto& s = seqs_[static_cast<std::size_t>(b)];
      s.push_back(tokens[static_cast<std::size_t>(b)]);
      ctx.push_back(state_->context_of(s));
    }
    scatter_rows(active, ctx);
    return wrap(out_.data(), rows_);
  }

  /// The output (k, width) after appending each candidate to `row`; the session is unchanged.
  result_type score_candidates(index_t row, std::span<const token_id> candidates) {
    check_row(row, "score_candidates");
    RLHF_EXPECTS(!candidates.empty(), "tabular model: session: score_candidates: no candidates given");
    std::vector<index_t> rows(candidates.size(), row);
    return score_candidates(std::span<const index_t>(rows), candidates);
  }

  /// The output (n, width) after appending tokens[i] to rows[i], for every i; the rows are not
  /// changed, and the candidates are kept for commit_candidates (see kv_session).
  result_type score_candidates(std::span<const index_t> rows, std::span<const token_id> tokens) {
    RLHF_EXPECTS(rows.size() == tokens.size(), "tabular model: session: score_candidates: ", rows.size(),
                 " rows for ", tokens.size(), " candidate tokens");
    RLHF_EXPECTS(!tokens.empty(), "tabular model: session: score_candidates: no candidates given");
    std::vector<index_t> ctx;
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      check_row(rows[i], "score_candidates");
      check_token(tokens[i], "score_candidates");
      auto& prefix = seqs_[static_cast<std::size_t>(rows[i])];
      prefix.push_back(tokens[i]);
      ctx.push_back(state_->context_of(prefix));
      prefix.pop_back();
      pending_.emplace_back(rows[i], tokens[i]);
    }
    candidates_.assign(ctx.size() * static_cast<std::size_t>(width()), 0.0f);
    write_rows(ctx, std::span<float>(candidates_));
    return wrap(candidates_.data(), static_cast<index_t>(ctx.size()));
  }

  /// Appends the scored candidates `picks` (indices into the candidates scored since the session
  /// last changed, at most one per row) to their rows.
  void commit_candidates(std::span<const index_t> picks) {
    std::vector<index_t> seen;
    for (index_t p : picks) {
      RLHF_EXPECTS(p >= 0 && p < static_cast<index_t>(pending_.size()), "tabular model: session: commit_candidates: ",
                   "candidate ", p, " outside the ", pending_.size(), " candidates scored since the session last changed");
      const auto [row, token] = pending_[static_cast<std::size_t>(p)];
      RLHF_EXPECTS(std::find(seen.begin(), seen.end(), row) == seen.end(), "tabular model: session: ",
                   "commit_candidates: two candidates of row ", row, "; commit one per row");
      seen.push_back(row);
    }
    for (index_t p : picks) {
      const auto [row, token] = pending_[static_cast<std::size_t>(p)];
      seqs_[static_cast<std::size_t>(row)].push_back(token);
    }
    pending_.clear();
  }

  /// Appends tokens[b] (possibly none) to row b, an empty row included; returns the outputs
  /// (B, width) after each extended row's last token (other rows keep their previous output).
  result_type extend(std::span<const std::vector<token_id>> tokens) {
    RLHF_EXPECTS(static_cast<index_t>(tokens.size()) == rows_, "tabular model: session: extend: ", tokens.size(),
                 " token lists for a session of ", rows_, " rows");
    pending_.clear();
    std::vector<index_t> active, ctx;
    for (std::size_t b = 0; b < tokens.size(); ++b) {
      if (tokens[b].empty()) continue;
      for (token_id t : tokens[b]) check_token(t, "extend");
      RLHF_EXPECTS(seqs_[b].size() + tokens[b].size() <= static_cast<std::size_t>(capacity_),
                   "tabular model: session: extend: row ", b, " would exceed its capacity ", capacity_);
      active.push_back(static_cast<index_t>(b));
    }
    for (index_t b : active) {
      auto& s = seqs_[static_cast<std::size_t>(b)];
      s.insert(s.end(), tokens[static_cast<std::size_t>(b)].begin(), tokens[static_cast<std::size_t>(b)].end());
      ctx.push_back(state_->context_of(s));
    }
    scatter_rows(active, ctx);
    return wrap(out_.data(), rows_);
  }
  /// extend() of one row: its output after the last new token, (1, width).
  result_type extend(index_t row, std::span<const token_id> tokens) {
    check_row(row, "extend");
    RLHF_EXPECTS(!tokens.empty(), "tabular model: session: extend: no tokens for row ", row);
    std::vector<std::vector<token_id>> all(static_cast<std::size_t>(rows_));
    all[static_cast<std::size_t>(row)].assign(tokens.begin(), tokens.end());
    extend(std::span<const std::vector<token_id>>(all));
    return wrap(out_.data() + row * width(), 1);
  }

  /// Makes row `dst` a copy of row `src`.
  void copy_row(index_t src, index_t dst) {
    check_row(src, "copy_row");
    check_row(dst, "copy_row");
    pending_.clear();
    seqs_[static_cast<std::size_t>(dst)] = seqs_[static_cast<std::size_t>(src)];
    std::copy_n(out_.data() + src * width(), width(), out_.data() + dst * width());
  }

  /// Rolls `row` back to its first n tokens (0 <= n <= length).
  void truncate(index_t row, index_t n) {
    check_row(row, "truncate");
    auto& s = seqs_[static_cast<std::size_t>(row)];
    RLHF_EXPECTS(n >= 0 && n <= static_cast<index_t>(s.size()), "tabular model: session: truncate: n = ", n,
                 " is outside [0, length = ", s.size(), "]");
    s.resize(static_cast<std::size_t>(n));
    pending_.clear();
  }

 private:
  index_t width() const noexcept { return Head::width(state_->config.vocab_size); }
  // out_ rows `active` = table[ctx].
  void scatter_rows(std::span<const index_t> active, std::span<const index_t> ctx) {
    const index_t w = width();
    std::vector<float> fresh(ctx.size() * static_cast<std::size_t>(w));
    write_rows(ctx, std::span<float>(fresh));
    for (std::size_t i = 0; i < active.size(); ++i)
      std::copy_n(fresh.data() + i * static_cast<std::size_t>(w), w, out_.data() + static_cast<std::size_t>(active[i] * w));
  }
  result_type wrap(const float* p, index_t n) const {
    const view<const float, host_space> v(p, shape{n, width()});
    if constexpr (std::is_same_v<result_type, logit_rows>) return v;
    else return result_type{v};
  }
  void check_row(index_t row, const char* what) const {
    RLHF_EXPECTS(row >= 0 && row < rows_, "tabular model: session: ", what, ": row ", row, " is outside [0, ",
                 rows_, ")");
  }
  void check_token(token_id t, const char* what) const {
    RLHF_EXPECTS(t >= 0 && t < state_->config.vocab_size, "tabular model: session: ", what, ": token id ", t,
                 " is outside the vocabulary [0, ", state_->config.vocab_size, ")");
  }
  // out (n, width) = table[ctx] through the backend, converted to float on the host.
  void write_rows(std::span<const index_t> ctx, std::span<float> out) {
    const auto n = static_cast<index_t>(ctx.size());
    if (n == 0) return;
    const index_t w = width();
    if (idx_.size() < n) idx_ = buffer<std::int32_t>(shape{n});
    if (rows_buf_.extents()[0] < n || rows_buf_.extents()[1] != w) rows_buf_ = buffer<T>(shape{n, w});
    std::vector<std::int32_t> ids(ctx.begin(), ctx.end());
    auto idx = idx_.view().slice(0, shape{n});
    auto rows = rows_buf_.view().slice(0, shape{n, w});
    Backend::from_host(idx, std::span<const std::int32_t>(ids));
    Backend::gather_rows(rows, view<const T, space>(state_->table.view()), cview(idx));
    if constexpr (std::is_same_v<T, float>) {
      Backend::to_host(out.first(static_cast<std::size_t>(n * w)), cview(rows));
    } else {
      std::vector<T> host(static_cast<std::size_t>(n * w));
      Backend::to_host(std::span<T>(host), cview(rows));
      for (std::size_t i = 0; i < host.size(); ++i) out[i] = static_cast<float>(host[i]);
    }
  }

  std::shared_ptr<const shared_state> state_;
  index_t rows_, capacity_;
  std::vector<std::vector<token_id>> seqs_;
  std::vector<float> out_;         // (rows, width)
  std::vector<float> candidates_;  // (k, width)
  std::vector<std::pair<index_t, token_id>> pending_;  // candidates scored since the last change
  buffer<std::int32_t> idx_{shape{1}};
  buffer<T> rows_buf_{shape{1, 1}};
};

/// A language model whose next-token logits are a table row (see the file comment).
template <compute_backend Backend, class T = float>
using tabular_lm = tabular_model<Backend, tabular_head::lm, T>;
/// A value model whose values are a table column (reward at the last token, critic, CD value).
template <compute_backend Backend, class T = float>
using tabular_value_model = tabular_model<Backend, tabular_head::value, T>;
/// The value model in its PPO role: V(s, a^{≤t}) at every position.
template <compute_backend Backend, class T = float>
using tabular_critic = tabular_value_model<Backend, T>;
/// A token reward model whose V rewards per position are a table row (FaRMA, GenARM).
template <compute_backend Backend, class T = float>
using tabular_token_reward_model = tabular_model<Backend, tabular_head::token_reward, T>;

static_assert(language_model<tabular_lm<backend::archetype>>);
static_assert(differentiable_model<tabular_lm<backend::archetype>>);
static_assert(differentiable_model<tabular_lm<backend::archetype, double>>);
static_assert(model_session<tabular_lm<backend::archetype>::session, logit_rows>);
static_assert(search_model<tabular_lm<backend::archetype>, logit_rows>);
static_assert(search_model<tabular_value_model<backend::archetype>, value_rows>);
static_assert(search_model<tabular_token_reward_model<backend::archetype>, token_reward_rows>);
static_assert(value_model<tabular_value_model<backend::archetype>>);
static_assert(!language_model<tabular_value_model<backend::archetype>>);
static_assert(differentiable_model<tabular_value_model<backend::archetype>>);
static_assert(token_reward_model<tabular_token_reward_model<backend::archetype>>);
static_assert(token_reward_readout<tabular_token_reward_model<backend::archetype>>);
static_assert(token_reward_readout<tabular_token_reward_model<backend::archetype, double>>);
static_assert(!token_reward_readout<tabular_lm<backend::archetype>>);
static_assert(!language_model<tabular_token_reward_model<backend::archetype>>);
static_assert(!value_model<tabular_token_reward_model<backend::archetype>>);
static_assert(differentiable_model<tabular_token_reward_model<backend::archetype>>);

}  // namespace rlhf
