// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// KV-cache decoding for rlhf::transformer (the incremental form of causal attention used by
/// every GPT-2 implementation): per-layer key/value caches (rows, capacity, C) in backend memory,
/// a batched prefill of right-padded prompts, one-token steps at per-row positions, and
/// `score_candidates`, which scores k one-token continuations of one row as k queries against
/// that row's single prefix cache — the cheap form of ARGS/CD candidate scoring (ALGORITHMS.md
/// §5: "scoring the k candidates as k one-token queries against one shared prefix cache is
/// equivalent and far cheaper" than copying the cache k times).
///
/// lm_head and token_reward_head sessions return logits / token rewards (n, V) and model
/// rlhf::decode_session. A scalar_head session returns values (n, 1) wrapped in rlhf::value_rows:
/// a reward model is not a language model, so it deliberately does not model decode_session
/// (and its transformer is not a causal_lm); it models rlhf::value_session instead.
#include <algorithm>
#include <cstdint>
#include <span>
#include <type_traits>
#include <vector>

#include "rlhf/core/error.hpp"
#include "rlhf/core/view.hpp"
#include "rlhf/model/transformer.hpp"

namespace rlhf {

/// Values of a scalar-head session, (n, 1) on the host: V(s, a^{≤i}) for every queried row.
/// A distinct type so that a reward model's values are never mistaken for next-token logits.
struct value_rows {
  view<const float, host_space> values;  // (n, 1)
  index_t size() const noexcept { return values.size(); }
  float operator[](index_t i) const noexcept { return values[i]; }
};

/// An incremental scorer whose calls return values (n, 1) (reward models, CD value functions):
/// the same calls as decode_session with value_rows results.
template <class S>
concept value_session = requires(S& s, const S& cs, std::span<const std::vector<token_id>> prompts,
                                 std::span<const token_id> tokens, index_t row) {
  { s.prefill(prompts) } -> std::same_as<value_rows>;
  { s.step(tokens) } -> std::same_as<value_rows>;
  { s.score_candidates(row, tokens) } -> std::same_as<value_rows>;
  { cs.length(row) } -> std::convertible_to<index_t>;
  s.truncate(row, row);
  { cs.rows() } -> std::convertible_to<index_t>;
};

/// A model that scores prefixes incrementally (ARGS/CD reward models): start_session gives a
/// value_session.
template <class M>
concept prefix_scorer = requires(M& m, const M& cm, index_t n) {
  { cm.vocab_size() } -> std::convertible_to<index_t>;
  { m.start_session(n, n) } -> value_session;
};

/// KV-cache decode session of a transformer (see the file comment). Holds a reference to the
/// model: the model must outlive the session and not move.
template <compute_backend Backend, class Head, class T>
class kv_session {
 public:
  using model_type = transformer<Backend, Head, T>;
  using space = typename Backend::space;
  /// view<const float, host_space> (n, width) for logit heads, value_rows for scalar heads.
  using result_type = std::conditional_t<std::is_same_v<Head, scalar_head>, value_rows,
                                         view<const float, host_space>>;

  kv_session(model_type& model, index_t rows, index_t capacity)
      : model_(&model), rows_(rows), capacity_(capacity), width_(Head::decode_width(model.config())) {
    const auto& c = model.config();
    RLHF_EXPECTS(rows >= 1, "start_session: rows = ", rows, "; a session needs at least one row");
    RLHF_EXPECTS(capacity >= 1 && capacity <= c.n_positions, "start_session: capacity = ", capacity,
                 " outside [1, n_positions = ", c.n_positions,
                 "]; a row can never hold more tokens than the model has positions");
    cache_.emplace(shape{2 * c.n_layer, rows, capacity, c.n_embd});
    lengths_.assign(static_cast<std::size_t>(rows), 0);
  }

  index_t rows() const noexcept { return rows_; }
  index_t capacity() const noexcept { return capacity_; }
  /// Tokens in `row` so far (0 before prefill).
  index_t length(index_t row) const {
    check_row(row, "length");
    return lengths_[static_cast<std::size_t>(row)];
  }
  /// Rolls `row` back to its first n tokens; the next step writes position n.
  void truncate(index_t row, index_t n) {
    check_row(row, "truncate");
    RLHF_EXPECTS(n >= 0 && n <= lengths_[static_cast<std::size_t>(row)], "truncate: n = ", n,
                 " outside [0, length = ", lengths_[static_cast<std::size_t>(row)], "] for row ", row,
                 "; a row can only be shortened");
    lengths_[static_cast<std::size_t>(row)] = n;
  }

  /// Starts every row: prompts.size() == rows(), 1 <= prompts[b].size() <= capacity(). One
  /// batched forward over the right-padded prompts fills the caches. Returns the next-token
  /// output of each row's last prompt token, (rows, width).
  result_type prefill(std::span<const std::vector<token_id>> prompts) {
    RLHF_EXPECTS(static_cast<index_t>(prompts.size()) == rows_, "prefill: ", prompts.size(),
                 " prompts for a session of ", rows_, " rows; pass one prompt per row");
    index_t Tq = 0;
    for (std::size_t b = 0; b < prompts.size(); ++b) {
      const auto len = static_cast<index_t>(prompts[b].size());
      RLHF_EXPECTS(len >= 1 && len <= capacity_, "prefill: prompt ", b, " has ", len,
                   " tokens; prompts need between 1 and capacity = ", capacity_, " tokens");
      Tq = std::max(Tq, len);
    }
    q_tokens_.assign(static_cast<std::size_t>(rows_ * Tq), 0);
    q_pos_.resize(static_cast<std::size_t>(rows_ * Tq));
    q_row_.resize(static_cast<std::size_t>(rows_));
    q_len_.assign(static_cast<std::size_t>(rows_), 0);
    q_count_.resize(static_cast<std::size_t>(rows_));
    q_pick_.resize(static_cast<std::size_t>(rows_));
    for (index_t b = 0; b < rows_; ++b) {
      const auto& p = prompts[static_cast<std::size_t>(b)];
      for (index_t t = 0; t < Tq; ++t) {
        q_pos_[b * Tq + t] = static_cast<std::int32_t>(t);
        if (t < static_cast<index_t>(p.size())) q_tokens_[b * Tq + t] = check_token(p[t], "prefill");
      }
      q_row_[b] = static_cast<std::int32_t>(b);
      q_count_[b] = static_cast<std::int32_t>(p.size());
      q_pick_[b] = static_cast<std::int32_t>(b * Tq + static_cast<index_t>(p.size()) - 1);
    }
    run(rows_, Tq, /*use_cache=*/false, /*write=*/true);
    for (index_t b = 0; b < rows_; ++b) lengths_[b] = static_cast<index_t>(prompts[b].size());
    return publish(rows_, nullptr);
  }

  /// Appends tokens[b] to row b (tokens.size() == rows()); a negative token leaves row b
  /// untouched (a finished row; its output row is 0). Returns the next-token output (rows, width).
  result_type step(std::span<const token_id> tokens) {
    RLHF_EXPECTS(static_cast<index_t>(tokens.size()) == rows_, "step: ", tokens.size(),
                 " tokens for a session of ", rows_, " rows; pass one token per row (negative = skip)");
    q_tokens_.clear();
    q_pos_.clear();
    q_row_.clear();
    q_len_.clear();
    q_count_.clear();
    q_pick_.clear();
    for (index_t b = 0; b < rows_; ++b) {
      if (tokens[b] < 0) continue;
      const index_t len = lengths_[b];
      RLHF_EXPECTS(len >= 1, "step: row ", b, " has not been prefilled; call prefill first");
      RLHF_EXPECTS(len < capacity_, "step: row ", b, " is full (", len, " tokens = capacity); ",
                   "start the session with a larger capacity or truncate the row");
      q_tokens_.push_back(check_token(tokens[b], "step"));
      q_pos_.push_back(static_cast<std::int32_t>(len));
      q_row_.push_back(static_cast<std::int32_t>(b));
      q_len_.push_back(static_cast<std::int32_t>(len));
      q_count_.push_back(1);
      q_pick_.push_back(static_cast<std::int32_t>(q_pick_.size()));
    }
    const auto n = static_cast<index_t>(q_row_.size());
    if (n > 0) run(n, 1, /*use_cache=*/true, /*write=*/true);
    else out_t_.clear();
    for (index_t i = 0; i < n; ++i) ++lengths_[q_row_[i]];
    return publish(rows_, &q_row_);
  }

  /// The output after appending each candidate to `row`, (k, width), computed as k one-token
  /// queries against the row's one shared prefix cache. The session is not changed.
  result_type score_candidates(index_t row, std::span<const token_id> candidates) {
    check_row(row, "score_candidates");
    const index_t len = lengths_[static_cast<std::size_t>(row)];
    const auto k = static_cast<index_t>(candidates.size());
    RLHF_EXPECTS(k >= 1, "score_candidates: no candidates; pass at least one token");
    RLHF_EXPECTS(len >= 1, "score_candidates: row ", row, " has not been prefilled; call prefill first");
    RLHF_EXPECTS(len < capacity_, "score_candidates: row ", row, " is full (", len,
                 " tokens = capacity); start the session with a larger capacity");
    q_tokens_.resize(static_cast<std::size_t>(k));
    q_pos_.assign(static_cast<std::size_t>(k), static_cast<std::int32_t>(len));
    q_row_.assign(static_cast<std::size_t>(k), static_cast<std::int32_t>(row));
    q_len_.assign(static_cast<std::size_t>(k), static_cast<std::int32_t>(len));
    q_count_.assign(static_cast<std::size_t>(k), 0);
    q_pick_.resize(static_cast<std::size_t>(k));
    for (index_t i = 0; i < k; ++i) {
      q_tokens_[i] = check_token(candidates[i], "score_candidates");
      q_pick_[i] = static_cast<std::int32_t>(i);
    }
    run(k, 1, /*use_cache=*/true, /*write=*/false);
    return publish(k, nullptr);
  }

 private:
  using cview = view<const T, space>;
  using mview = view<T, space>;
  using cidx = view<const std::int32_t, space>;

  void check_row(index_t row, const char* who) const {
    RLHF_EXPECTS(row >= 0 && row < rows_, who, ": row ", row, " outside [0, ", rows_, ")");
  }
  token_id check_token(token_id id, const char* who) const {
    RLHF_EXPECTS(id >= 0 && id < model_->config().vocab_size, who, ": token id ", id,
                 " is outside the vocabulary [0, ", model_->config().vocab_size, ")");
    return id;
  }
  mview cache(index_t layer, int kv) {
    const auto& c = model_->config();
    const index_t per = rows_ * capacity_ * c.n_embd;
    return mview(cache_->view().data() + (2 * layer + kv) * per, {rows_, capacity_, c.n_embd});
  }
  cidx upload(detail::growable<Backend, std::int32_t>& g, const std::vector<std::int32_t>& h) {
    auto v = g.get({static_cast<index_t>(h.size())});
    Backend::from_host(v, std::span<const std::int32_t>(h));
    return v;
  }

  /// Forward of n query rows of Tq tokens each (q_* host vectors), attending the cached prefix
  /// of q_row_ (when use_cache) and writing the new keys/values back (when write); leaves the
  /// head's output of the q_pick_ positions in out_host_ (n, width).
  void run(index_t n, index_t Tq, bool use_cache, bool write) {
    const auto& c = model_->config();
    const index_t N = n * Tq, C = c.n_embd, NH = c.n_head;
    const T eps = static_cast<T>(c.layer_norm_epsilon);
    index_t S = Tq;
    if (use_cache) S += *std::max_element(q_len_.begin(), q_len_.end());
    const cidx tokens = upload(tokens_, q_tokens_), positions = upload(pos_, q_pos_);
    const cidx row = upload(row_, q_row_), pick = upload(pick_, q_pick_);
    const cidx len = use_cache ? upload(len_, q_len_) : cidx{};
    const cidx count = write ? upload(count_, q_count_) : cidx{};
    const cidx zeros = write && !use_cache ? upload(zeros_, zero_vector(n)) : cidx{};

    mview x = x_[0].get({N, C}), y = x_[1].get({N, C});
    Backend::embedding_forward(x, model_->tensor(model_->table_.wte), model_->tensor(model_->table_.wpe),
                               tokens, positions);
    detail::block_activations<Backend, T> a;
    a.ln1 = ln1_.get({N, C});
    a.ln1_mean = mean_.get({N});
    a.ln1_rstd = rstd_.get({N});
    a.q = q_.get({n, Tq, C});
    a.k = k_.get({n, Tq, C});
    a.v = v_.get({n, Tq, C});
    a.probs = probs_.get({n, NH, Tq, S});
    a.atty = atty_.get({n, Tq, C});
    a.res2 = res2_.get({N, C});
    a.ln2 = a.ln1;  // the decoder keeps nothing for a backward pass: share the scratch
    a.ln2_mean = a.ln1_mean;
    a.ln2_rstd = a.ln1_rstd;
    a.fch = fch_.get({N, 4 * C});
    a.fch_gelu = fch_gelu_.get({N, 4 * C});
    const mview qkv = qkv_.get({N, 3 * C}), proj = proj_.get({N, C});
    for (index_t l = 0; l < c.n_layer; ++l) {
      a.res3 = y;
      detail::cache_args<Backend, T> ca{};
      if (use_cache) ca = {cview(cache(l, 0)), cview(cache(l, 1)), row, len};
      detail::block_forward<Backend, T>(a, cview(x), model_->weights(l), qkv, proj, ca, NH, eps);
      if (write) {
        // New keys/values go after each row's cached prefix (prefill: after 0 tokens), only
        // the row's valid tokens (count), never a prompt's padding.
        const cidx at = use_cache ? len : zeros;
        Backend::kv_write(cache(l, 0), cview(a.k), row, at, count);
        Backend::kv_write(cache(l, 1), cview(a.v), row, at, count);
      }
      std::swap(x, y);
    }
    const mview last = last_.get({n, C}), lnf = lnf_.get({n, C});
    Backend::gather_rows(last, cview(x), pick);
    Backend::layernorm_forward(lnf, mean_.get({n}), rstd_.get({n}), cview(last),
                               model_->tensor(model_->table_.lnf_w), model_->tensor(model_->table_.lnf_b), eps);
    auto ctx = model_->context();
    out_t_.resize(static_cast<std::size_t>(n * width_));
    head_.decode(ctx, cview(lnf), std::span<T>(out_t_));
  }

  const std::vector<std::int32_t>& zero_vector(index_t n) {
    zero_host_.assign(static_cast<std::size_t>(n), 0);
    return zero_host_;
  }

  /// Copies the n computed rows into the float result (rows_out, width); with `scatter`, row i
  /// of the computation goes to row (*scatter)[i] and the other rows are 0.
  result_type publish(index_t rows_out, const std::vector<std::int32_t>* scatter) {
    out_.assign(static_cast<std::size_t>(rows_out * width_), 0.0f);
    const auto n = static_cast<index_t>(out_t_.size()) / width_;
    for (index_t i = 0; i < n; ++i) {
      const index_t dst = scatter ? (*scatter)[i] : i;
      for (index_t j = 0; j < width_; ++j)
        out_[dst * width_ + j] = static_cast<float>(out_t_[i * width_ + j]);
    }
    const view<const float, host_space> v(out_.data(), {rows_out, width_});
    if constexpr (std::is_same_v<result_type, value_rows>) return value_rows{v};
    else return v;
  }

  model_type* model_;
  index_t rows_, capacity_, width_;
  std::optional<typename Backend::template buffer<T>> cache_;  // (2L, rows, capacity, C): K, V per layer
  std::vector<index_t> lengths_;                                // tokens cached per row
  typename Head::template state<Backend, T> head_;              // own scratch: never the model's
  detail::growable<Backend, T> x_[2], ln1_, mean_, rstd_, q_, k_, v_, probs_, atty_, res2_, fch_,
      fch_gelu_, qkv_, proj_, last_, lnf_;
  detail::growable<Backend, std::int32_t> tokens_, pos_, row_, len_, count_, pick_, zeros_;
  std::vector<std::int32_t> q_tokens_, q_pos_, q_row_, q_len_, q_count_, q_pick_, zero_host_;
  std::vector<T> out_t_;
  std::vector<float> out_;
};

}  // namespace rlhf

// ---- concept conformance (house style: beside the class) ----
#include "rlhf/backend.hpp"

namespace rlhf::detail {
using conformance_backend = rlhf::backend::default_backend;
// A causal LM, trainable, scoring per-token log-probabilities.
static_assert(causal_lm<transformer<conformance_backend, lm_head>>);
static_assert(trainable<transformer<conformance_backend, lm_head>>);
static_assert(sequence_scorer<transformer<conformance_backend, lm_head>>);
static_assert(!token_scorer<transformer<conformance_backend, lm_head>>);
// A reward model / critic: scores sequences and prefixes, is NOT a causal LM (its session
// returns values, not next-token logits), so it cannot be passed where a policy is expected.
static_assert(trainable<transformer<conformance_backend, scalar_head>>);
static_assert(sequence_scorer<transformer<conformance_backend, scalar_head>>);
static_assert(prefix_scorer<transformer<conformance_backend, scalar_head>>);
static_assert(!causal_lm<transformer<conformance_backend, scalar_head>>);
static_assert(!token_scorer<transformer<conformance_backend, scalar_head>>);
// A token reward model (FaRMA / GenARM): V rewards per position in one call, incrementally too.
static_assert(token_scorer<transformer<conformance_backend, token_reward_head>>);
static_assert(trainable<transformer<conformance_backend, token_reward_head>>);
static_assert(causal_lm<transformer<conformance_backend, token_reward_head>>);
static_assert(!sequence_scorer<transformer<conformance_backend, token_reward_head>>);
static_assert(decode_session<kv_session<conformance_backend, lm_head, float>>);
static_assert(value_session<kv_session<conformance_backend, scalar_head, float>>);
}  // namespace rlhf::detail
