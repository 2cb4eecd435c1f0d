// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// TabularLM: a language model whose next-token logits are one row of a table (n_contexts, V),
/// chosen by a context id computed from the prefix. Exact and tiny, it is the model of the
/// oracle tests: with a bigram context SFT must reproduce the empirical bigram distribution of
/// its corpus, and with a bandit context (context = the first token, i.e. the prompt; the
/// response is one token) DPO and PPO must reach the closed-form optimum
/// π*(a|s) ∝ π_ref(a|s) exp(r(s,a)/β) (ALGORITHMS.md §4, Rafailov et al. 2023 eq. 4).
///
/// The table is the model's only parameter ("logits.weight", one backend buffer); every
/// computation goes through the backend's kernels (gather_rows, cross_entropy, scatter_add_rows),
/// so the model runs on every backend.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "rlhf/backend.hpp"
#include "rlhf/core/error.hpp"
#include "rlhf/core/rng.hpp"
#include "rlhf/core/view.hpp"
#include "rlhf/data/token_batch.hpp"
#include "rlhf/model/concepts.hpp"
#include "rlhf/model/parameter.hpp"

namespace rlhf {

/// How a tabular_lm maps a prefix to the row of its logits table.
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

/// Shape of a tabular_lm (written to config.json by rlhf::save_model).
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

/// A logits table indexed by a context id of the prefix (see the file comment).
///
/// Models `causal_lm` (start_session), `sequence_scorer` (score: per-token log-probs as an LM
/// head gives them: out(b, t) = log p(tokens(b,t) | tokens(b,<t)) for 1 <= t < length, else 0)
/// and `trainable` (forward keeps activations; backward accumulates d table += ∂L/∂table from
/// d log-probs (B, T)).
/// @tparam Backend a `compute_backend`
/// @tparam T float, or double for finite-difference gradient checks
template <compute_backend Backend, class T = float>
class tabular_lm {
 public:
  using backend_type = Backend;
  using space = typename Backend::space;
  using value_type = T;
  /// Context of a non-empty prefix, in [0, n_contexts) (custom mode).
  using context_fn = std::function<index_t(std::span<const token_id> prefix)>;
  class session;

  /// Bigram or bandit table. @throws rlhf::invalid_argument on a bad config.
  explicit tabular_lm(const tabular_config& cfg, std::uint64_t seed = 0)
      : tabular_lm(cfg, context_fn{}, seed) {}

  /// Any mode; `fn` is required exactly when cfg.context is custom.
  tabular_lm(const tabular_config& cfg, context_fn fn, std::uint64_t seed = 0)
      : config_(cfg), context_fn_(std::move(fn)) {
    config_.validate();
    RLHF_EXPECTS((config_.context == tabular_context::custom) == static_cast<bool>(context_fn_),
                 "tabular_lm: a context function is required for the custom context and only ",
                 "for it (context = ", to_string(config_.context), ")");
    config_.n_contexts = config_.contexts();
    const shape s{config_.n_contexts, config_.vocab_size};
    table_ = buffer<T>(s);
    grad_ = buffer<T>(s);
    if (config_.init_std > 0) {
      // Stream 0x7ab1e keeps the draws of this table apart from any other use of the seed.
      counter_rng rng(seed, 0x7ab1e);
      std::vector<T> init(static_cast<std::size_t>(s.size()));
      for (std::size_t i = 0; i < init.size(); ++i)
        init[i] = static_cast<T>(config_.init_std * rng.normal(i));
      Backend::from_host(table_.view(), std::span<const T>(init));
    }
  }

  tabular_lm(tabular_lm&&) noexcept = default;
  tabular_lm& operator=(tabular_lm&&) noexcept = default;
  tabular_lm(const tabular_lm&) = delete;
  tabular_lm& operator=(const tabular_lm&) = delete;

  // ---- shape ----
  const tabular_config& config() const noexcept { return config_; }
  index_t vocab_size() const noexcept { return config_.vocab_size; }
  index_t max_positions() const noexcept { return config_.max_positions; }
  index_t n_contexts() const noexcept { return config_.n_contexts; }

  /// The table row used after `prefix` (non-empty, ids < V).
  /// @throws rlhf::invalid_argument for an empty prefix, a bad id, or a custom context out of range
  index_t context_of(std::span<const token_id> prefix) const {
    RLHF_EXPECTS(!prefix.empty(), "tabular_lm: the next-token distribution needs a non-empty ",
                 "prefix (give the prompt at least one token)");
    index_t c = 0;
    switch (config_.context) {
      case tabular_context::bigram: c = prefix.back(); break;
      case tabular_context::bandit: c = prefix.front(); break;
      case tabular_context::custom: c = context_fn_(prefix); break;
    }
    RLHF_EXPECTS(c >= 0 && c < config_.n_contexts, "tabular_lm: context id ", c,
                 " is outside [0, n_contexts = ", config_.n_contexts, ") (",
                 config_.context == tabular_context::bandit
                     ? "the first token is the prompt id: keep prompt ids below n_contexts"
                     : "the context function must return ids below n_contexts",
                 ")");
    return c;
  }

  // ---- parameters (trainable) ----
  view<T, space> parameters() noexcept { return table_.view(); }
  view<const T, space> parameters() const noexcept { return table_.view(); }
  view<T, space> gradients() noexcept { return grad_.view(); }
  view<const T, space> gradients() const noexcept { return grad_.view(); }
  index_t parameter_count() const noexcept { return table_.size(); }
  void zero_grad() { Backend::fill(grad_.view(), T(0)); }
  /// One tensor, "logits.weight" [n_contexts, V].
  std::vector<named_parameter<space, T>> named_parameters() {
    return {named_parameter<space, T>{"logits.weight", table_.view(), grad_.view()}};
  }

  /// Host copy of the table (n_contexts, V).
  xt::xtensor<T, 2> logits_table() const {
    xt::xtensor<T, 2> out({static_cast<std::size_t>(config_.n_contexts),
                           static_cast<std::size_t>(config_.vocab_size)});
    Backend::to_host(std::span<T>(out.data(), out.size()), table_.view());
    return out;
  }
  /// Replaces the table. @throws rlhf::invalid_argument when the shape is not (n_contexts, V)
  void set_logits_table(const xt::xtensor<T, 2>& table) {
    expect_shape(shape{static_cast<index_t>(table.shape(0)), static_cast<index_t>(table.shape(1))},
                 table_.extents(), "tabular_lm::set_logits_table: table");
    Backend::from_host(table_.view(), std::span<const T>(table.data(), table.size()));
  }

  // ---- scoring and training ----
  /// Per-token log-probs (B, T), keeping activations for backward().
  xt::xtensor<T, 2> forward(const token_batch& batch) {
    auto out = run_forward(batch, train_);
    has_forward_ = true;
    return out;
  }
  /// Per-token log-probs (B, T) (sequence_scorer); leaves the activations of forward() intact.
  xt::xtensor<T, 2> score(const token_batch& batch) { return run_forward(batch, scratch_); }

  /// Accumulates (+=) the table gradient from d log-probs (B, T) of the last forward().
  /// Entries at t = 0 and at padding are ignored (those outputs are constants).
  void backward(const xt::xtensor<T, 2>& d_logp) {
    RLHF_EXPECTS(has_forward_, "tabular_lm::backward: call forward(batch) first");
    expect_shape(shape{static_cast<index_t>(d_logp.shape(0)), static_cast<index_t>(d_logp.shape(1))},
                 shape{train_.batch_rows, train_.batch_cols}, "tabular_lm::backward: d_logp");
    const index_t k = train_.count;
    if (k == 0) return;
    std::vector<T> d(static_cast<std::size_t>(k));
    for (index_t i = 0; i < k; ++i) d[static_cast<std::size_t>(i)] = d_logp.data()[train_.where[static_cast<std::size_t>(i)]];
    const index_t v = config_.vocab_size;
    train_.reserve_backward(k, v);
    auto dlogp = train_.dlogp.view().slice(0, shape{k});
    auto dlogits = train_.dlogits.view().slice(0, shape{k, v});
    Backend::from_host(dlogp, std::span<const T>(d));
    Backend::fill(dlogits, T(0));
    Backend::cross_entropy_backward(dlogits, cview(dlogp), cview(train_.logits_view(k, v)),
                                    cview(train_.lse.view().slice(0, shape{k})),
                                    cview(train_.targets.view().slice(0, shape{k})));
    Backend::scatter_add_rows(grad_.view(), cview(dlogits),
                              cview(train_.contexts.view().slice(0, shape{k})));
  }

  /// Full next-token logits (B, T, V) on the host: row (b, t) is the distribution of token t + 1
  /// after tokens(b, 0..t]; zero at padding (t >= length).
  xt::xtensor<T, 3> next_token_logits(const token_batch& batch) const {
    check_batch(batch);
    const auto b_n = static_cast<std::size_t>(batch.rows()), t_n = static_cast<std::size_t>(batch.cols());
    const auto v = static_cast<std::size_t>(config_.vocab_size);
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

  /// Opens a decode session of `rows` sequences of at most `capacity` tokens each. The session
  /// reads the current table on every call (so it sees training between calls) and keeps a
  /// pointer to this model: the model must outlive it and not move.
  session start_session(index_t rows, index_t capacity) { return session(*this, rows, capacity); }

 private:
  template <class U>
  using buffer = typename Backend::template buffer<U>;
  template <class U>
  static view<const U, space> cview(view<U, space> v) noexcept { return v; }

  // Activations of one forward: the K scored positions (t >= 1, t < length) in row-major order.
  struct workspace {
    buffer<T> logits{shape{1, 1}};                 // (K, V) gathered table rows
    buffer<T> logp{shape{1}}, lse{shape{1}};        // (K)
    buffer<T> dlogp{shape{1}}, dlogits{shape{1, 1}};  // (K), (K, V) for backward
    buffer<std::int32_t> contexts{shape{1}}, targets{shape{1}};  // (K)
    std::vector<std::size_t> where;  // flat index b * T + t of each scored position
    index_t count = 0, batch_rows = 0, batch_cols = 0;

    view<T, space> logits_view(index_t k, index_t v) { return logits.view().slice(0, shape{k, v}); }
    void reserve(index_t k, index_t v) {
      if (logits.extents()[0] < k || logits.extents()[1] != v) logits = buffer<T>(shape{k, v});
      if (logp.size() < k) {
        logp = buffer<T>(shape{k});
        lse = buffer<T>(shape{k});
        contexts = buffer<std::int32_t>(shape{k});
        targets = buffer<std::int32_t>(shape{k});
      }
    }
    void reserve_backward(index_t k, index_t v) {
      if (dlogits.extents()[0] < k || dlogits.extents()[1] != v) dlogits = buffer<T>(shape{k, v});
      if (dlogp.size() < k) dlogp = buffer<T>(shape{k});
    }
  };

  void check_batch(const token_batch& batch) const {
    const index_t b_n = batch.rows(), t_n = batch.cols();
    RLHF_EXPECTS(static_cast<index_t>(batch.lengths.size()) == b_n,
                 "tabular_lm: batch.lengths has ", batch.lengths.size(), " entries for ", b_n,
                 " rows of tokens");
    RLHF_EXPECTS(t_n <= config_.max_positions, "tabular_lm: batch has ", t_n,
                 " columns, more than max_positions = ", config_.max_positions,
                 " (raise tabular_config::max_positions or truncate the sequences)");
    for (index_t b = 0; b < b_n; ++b) {
      const auto len = batch.lengths(static_cast<std::size_t>(b));
      RLHF_EXPECTS(len >= 0 && len <= t_n, "tabular_lm: batch.lengths(", b, ") = ", len,
                   " is outside [0, ", t_n, "]");
      for (index_t t = 0; t < len; ++t) {
        const token_id tok = batch.tokens(static_cast<std::size_t>(b), static_cast<std::size_t>(t));
        RLHF_EXPECTS(tok >= 0 && tok < config_.vocab_size, "tabular_lm: token id ", tok, " at (",
                     b, ", ", t, ") is outside the vocabulary [0, ", config_.vocab_size, ")");
      }
    }
  }

  xt::xtensor<T, 2> run_forward(const token_batch& batch, workspace& ws) {
    check_batch(batch);
    const index_t b_n = batch.rows(), t_n = batch.cols(), v = config_.vocab_size;
    std::vector<std::int32_t> ctx, tgt;
    ws.where.clear();
    for (index_t b = 0; b < b_n; ++b) {
      const token_id* row = &batch.tokens(static_cast<std::size_t>(b), 0);
      const index_t len = batch.lengths(static_cast<std::size_t>(b));
      for (index_t t = 1; t < len; ++t) {
        ctx.push_back(static_cast<std::int32_t>(context_of({row, static_cast<std::size_t>(t)})));
        tgt.push_back(row[t]);
        ws.where.push_back(static_cast<std::size_t>(b * t_n + t));
      }
    }
    const auto k = static_cast<index_t>(ctx.size());
    ws.count = k;
    ws.batch_rows = b_n;
    ws.batch_cols = t_n;
    xt::xtensor<T, 2> out = xt::zeros<T>({static_cast<std::size_t>(b_n), static_cast<std::size_t>(t_n)});
    if (k == 0) return out;
    ws.reserve(k, v);
    auto c = ws.contexts.view().slice(0, shape{k});
    auto y = ws.targets.view().slice(0, shape{k});
    Backend::from_host(c, std::span<const std::int32_t>(ctx));
    Backend::from_host(y, std::span<const std::int32_t>(tgt));
    auto logits = ws.logits_view(k, v);
    auto logp = ws.logp.view().slice(0, shape{k});
    Backend::gather_rows(logits, cview(table_.view()), cview(c));
    Backend::cross_entropy_forward(logp, ws.lse.view().slice(0, shape{k}), cview(logits), cview(y));
    std::vector<T> host(static_cast<std::size_t>(k));
    Backend::to_host(std::span<T>(host), cview(logp));
    for (index_t i = 0; i < k; ++i) out.data()[ws.where[static_cast<std::size_t>(i)]] = host[static_cast<std::size_t>(i)];
    return out;
  }

  tabular_config config_;
  context_fn context_fn_;
  buffer<T> table_{shape{1, 1}};  // (n_contexts, V)
  buffer<T> grad_{shape{1, 1}};   // (n_contexts, V)
  workspace train_, scratch_;
  bool has_forward_ = false;
};

/// Decode session of a tabular_lm (rlhf::decode_session): the "cache" of a row is its tokens,
/// since the next-token logits are the table row of the prefix's context.
/// Returned views stay valid until the next call on the session.
template <compute_backend Backend, class T>
class tabular_lm<Backend, T>::session {
 public:
  session(tabular_lm& model, index_t rows, index_t capacity)
      : model_(&model), rows_(rows), capacity_(capacity), seqs_(static_cast<std::size_t>(std::max<index_t>(rows, 0))) {
    RLHF_EXPECTS(rows > 0, "tabular_lm::start_session: rows must be > 0 (got ", rows, ")");
    RLHF_EXPECTS(capacity > 0 && capacity <= model.max_positions(),
                 "tabular_lm::start_session: capacity must be in [1, max_positions = ",
                 model.max_positions(), "] (got ", capacity, ")");
    logits_.assign(static_cast<std::size_t>(rows * model.vocab_size()), 0.0f);
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

  /// Starts every row with its prompt (1 <= size <= capacity); returns next-token logits (B, V).
  view<const float, host_space> prefill(std::span<const std::vector<token_id>> prompts) {
    RLHF_EXPECTS(static_cast<index_t>(prompts.size()) == rows_, "tabular_lm::session::prefill: ",
                 prompts.size(), " prompts for a session of ", rows_, " rows");
    for (std::size_t b = 0; b < prompts.size(); ++b) {
      RLHF_EXPECTS(!prompts[b].empty() && static_cast<index_t>(prompts[b].size()) <= capacity_,
                   "tabular_lm::session::prefill: prompt ", b, " has ", prompts[b].size(),
                   " tokens; it needs 1 to capacity = ", capacity_);
      for (token_id t : prompts[b]) check_token(t, "prefill");
    }
    std::vector<index_t> ctx(prompts.size());
    for (std::size_t b = 0; b < prompts.size(); ++b) ctx[b] = model_->context_of(prompts[b]);
    for (std::size_t b = 0; b < prompts.size(); ++b) seqs_[b] = prompts[b];
    write_rows(ctx, std::span<float>(logits_));
    return view<const float, host_space>(logits_.data(), shape{rows_, model_->vocab_size()});
  }

  /// Appends tokens[b] to row b (negative: row b is finished and left as it is, its logits row
  /// keeps its previous value); returns the next-token logits (B, V).
  view<const float, host_space> step(std::span<const token_id> tokens) {
    RLHF_EXPECTS(static_cast<index_t>(tokens.size()) == rows_, "tabular_lm::session::step: ",
                 tokens.size(), " tokens for a session of ", rows_, " rows");
    std::vector<index_t> active;
    for (std::size_t b = 0; b < tokens.size(); ++b) {
      if (tokens[b] < 0) continue;
      check_token(tokens[b], "step");
      RLHF_EXPECTS(static_cast<index_t>(seqs_[b].size()) < capacity_, "tabular_lm::session::step: row ",
                   b, " is full (capacity ", capacity_, "); open the session with a larger capacity");
      active.push_back(static_cast<index_t>(b));
    }
    std::vector<index_t> ctx;
    for (index_t b : active) {
      auto& s = seqs_[static_cast<std::size_t>(b)];
      s.push_back(tokens[static_cast<std::size_t>(b)]);
      ctx.push_back(model_->context_of(s));
    }
    const index_t v = model_->vocab_size();
    std::vector<float> fresh(ctx.size() * static_cast<std::size_t>(v));
    write_rows(ctx, std::span<float>(fresh));
    for (std::size_t i = 0; i < active.size(); ++i)
      std::copy_n(fresh.data() + i * static_cast<std::size_t>(v), v,
                  logits_.data() + static_cast<std::size_t>(active[i] * v));
    return view<const float, host_space>(logits_.data(), shape{rows_, v});
  }

  /// Next-token logits (k, V) after appending each candidate to `row`; the session is unchanged.
  view<const float, host_space> score_candidates(index_t row, std::span<const token_id> candidates) {
    check_row(row, "score_candidates");
    RLHF_EXPECTS(!candidates.empty(), "tabular_lm::session::score_candidates: no candidates given");
    std::vector<token_id> prefix = seqs_[static_cast<std::size_t>(row)];
    std::vector<index_t> ctx;
    for (token_id c : candidates) {
      check_token(c, "score_candidates");
      prefix.push_back(c);
      ctx.push_back(model_->context_of(prefix));
      prefix.pop_back();
    }
    const index_t v = model_->vocab_size();
    candidates_.assign(ctx.size() * static_cast<std::size_t>(v), 0.0f);
    write_rows(ctx, std::span<float>(candidates_));
    return view<const float, host_space>(candidates_.data(), shape{static_cast<index_t>(ctx.size()), v});
  }

  /// Rolls `row` back to its first n tokens (0 <= n <= length).
  void truncate(index_t row, index_t n) {
    check_row(row, "truncate");
    auto& s = seqs_[static_cast<std::size_t>(row)];
    RLHF_EXPECTS(n >= 0 && n <= static_cast<index_t>(s.size()), "tabular_lm::session::truncate: n = ",
                 n, " is outside [0, length = ", s.size(), "]");
    s.resize(static_cast<std::size_t>(n));
  }

 private:
  void check_row(index_t row, const char* what) const {
    RLHF_EXPECTS(row >= 0 && row < rows_, "tabular_lm::session::", what, ": row ", row,
                 " is outside [0, ", rows_, ")");
  }
  void check_token(token_id t, const char* what) const {
    RLHF_EXPECTS(t >= 0 && t < model_->vocab_size(), "tabular_lm::session::", what, ": token id ", t,
                 " is outside the vocabulary [0, ", model_->vocab_size(), ")");
  }
  // out (n, V) = table[ctx] through the backend, converted to float on the host.
  void write_rows(std::span<const index_t> ctx, std::span<float> out) {
    const auto n = static_cast<index_t>(ctx.size());
    if (n == 0) return;
    const index_t v = model_->vocab_size();
    if (idx_.size() < n) idx_ = buffer<std::int32_t>(shape{n});
    if (rows_buf_.extents()[0] < n || rows_buf_.extents()[1] != v) rows_buf_ = buffer<T>(shape{n, v});
    std::vector<std::int32_t> ids(ctx.begin(), ctx.end());
    auto idx = idx_.view().slice(0, shape{n});
    auto rows = rows_buf_.view().slice(0, shape{n, v});
    Backend::from_host(idx, std::span<const std::int32_t>(ids));
    Backend::gather_rows(rows, cview(model_->table_.view()), cview(idx));
    if constexpr (std::is_same_v<T, float>) {
      Backend::to_host(out.first(static_cast<std::size_t>(n * v)), cview(rows));
    } else {
      std::vector<T> host(static_cast<std::size_t>(n * v));
      Backend::to_host(std::span<T>(host), cview(rows));
      for (std::size_t i = 0; i < host.size(); ++i) out[i] = static_cast<float>(host[i]);
    }
  }

  tabular_lm* model_;
  index_t rows_, capacity_;
  std::vector<std::vector<token_id>> seqs_;
  std::vector<float> logits_;      // (rows, V)
  std::vector<float> candidates_;  // (k, V)
  buffer<std::int32_t> idx_{shape{1}};
  buffer<T> rows_buf_{shape{1, 1}};
};

static_assert(causal_lm<tabular_lm<backend::default_backend>>);
static_assert(decode_session<tabular_lm<backend::default_backend>::session>);
static_assert(sequence_scorer<tabular_lm<backend::default_backend>>);
static_assert(trainable<tabular_lm<backend::default_backend>>);
static_assert(trainable<tabular_lm<backend::default_backend, double>>);

}  // namespace rlhf
