// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// KV-cache sessions of rlhf::transformer (the incremental form of causal attention used by
/// every GPT-2 implementation): per-layer key/value caches (rows, capacity, C) in backend memory,
/// a batched prefill of right-padded prompts, one-token steps at per-row positions, and
/// `score_candidates`, which scores k one-token continuations of one row as k queries against
/// that row's single prefix cache — the cheap form of ARGS/CD candidate scoring (ALGORITHMS.md
/// §5: "scoring the k candidates as k one-token queries against one shared prefix cache is
/// equivalent and far cheaper" than copying the cache k times).
///
/// One session type for every head; what its calls return is the head's `session_result`:
/// next-token logits (lm_head, rlhf::logit_rows), values (scalar_head, rlhf::value_rows) or
/// token rewards (token_reward_head, rlhf::token_reward_rows), so a reward model's session can
/// never be sampled as a language model's (model/concepts.hpp, model_session).
///
/// A session holds the model's weights by shared ownership (transformer/weights.hpp), never a
/// pointer to the model object: moving or destroying the model does not invalidate it. Every
/// call runs the trunk's inference path (transformer/inference.hpp).
#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>
#include <type_traits>
#include <vector>

#include "rlhf/backend/backend.hpp"
#include "rlhf/core/error.hpp"
#include "rlhf/core/view.hpp"
#include "rlhf/model/concepts.hpp"
#include "rlhf/model/heads.hpp"
#include "rlhf/model/transformer/inference.hpp"
#include "rlhf/model/transformer/weights.hpp"

namespace rlhf {

/// KV-cache session of a transformer (see the file comment).
template <compute_backend Backend, class Head, class T>
class kv_session {
 public:
  using space = typename Backend::space;
  /// What every call returns: the head's session_result (logit_rows, value_rows, token_reward_rows).
  using result_type = typename Head::session_result;

  /// Usually made by transformer::start_session. @throws rlhf::invalid_argument for rows < 1 or
  /// a capacity outside [1, n_positions]
  kv_session(const detail::gpt2_weights<Backend, T>& weights, index_t rows, index_t capacity)
      : w_(weights), rows_(rows), capacity_(capacity), width_(Head::decode_width(weights.config)) {
    const auto& c = w_.config;
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
    pending_.clear();
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
    pending_.clear();
    run(rows_, Tq, /*use_cache=*/false, /*write=*/true);
    for (index_t b = 0; b < rows_; ++b) lengths_[b] = static_cast<index_t>(prompts[b].size());
    return publish(rows_, nullptr);
  }

  /// Appends tokens[b] to row b (tokens.size() == rows()); a negative token leaves row b
  /// untouched (a finished row; its output row is 0). Returns the next-token output (rows, width).
  result_type step(std::span<const token_id> tokens) {
    RLHF_EXPECTS(static_cast<index_t>(tokens.size()) == rows_, "step: ", tokens.size(),
                 " tokens for a session of ", rows_, " rows; pass one token per row (negative = skip)");
    for (index_t b = 0; b < rows_; ++b)
      if (tokens[b] >= 0)
        RLHF_EXPECTS(lengths_[b] >= 1, "step: row ", b, " has not been prefilled; call prefill first");
    return append(
        [&](index_t b) { return tokens[b] < 0 ? std::span<const token_id>{} : tokens.subspan(b, 1); }, "step");
  }

  /// Appends tokens[b] (any number, possibly none) to row b in ONE batched pass, each row
  /// attending its cached prefix (a row may be empty: extending it is its prefill). Returns the
  /// output after each extended row's last new token, (rows, width); rows given no tokens get 0.
  /// A CARDS segment is one call, not one per token.
  result_type extend(std::span<const std::vector<token_id>> tokens) {
    RLHF_EXPECTS(static_cast<index_t>(tokens.size()) == rows_, "extend: ", tokens.size(),
                 " token lists for a session of ", rows_, " rows; pass one (possibly empty) list per row");
    return append([&](index_t b) { return std::span<const token_id>(tokens[b]); }, "extend");
  }
  /// extend() of one row: the output after its last new token, (1, width).
  result_type extend(index_t row, std::span<const token_id> tokens) {
    check_row(row, "extend");
    RLHF_EXPECTS(!tokens.empty(), "extend: no tokens for row ", row, "; pass at least one");
    append([&](index_t b) { return b == row ? tokens : std::span<const token_id>{}; }, "extend");
    return publish(1, nullptr);
  }

  /// Makes row `dst` a copy of row `src` (its cached keys/values and length; llama.cpp's
  /// seq_cp): best-of-N and block-wise CD branch N rows from one prefilled prompt.
  void copy_row(index_t src, index_t dst) {
    check_row(src, "copy_row");
    check_row(dst, "copy_row");
    pending_.clear();
    if (src == dst) return;
    const index_t len = lengths_[src], C = w_.config.n_embd;
    for (index_t l = 0; l < w_.config.n_layer && len > 0; ++l)
      for (int kv = 0; kv < 2; ++kv) {
        const mview c = cache(l, kv);
        Backend::copy(mview(c.data() + dst * capacity_ * C, {len, C}), cview(c.data() + src * capacity_ * C, {len, C}));
      }
    lengths_[dst] = len;
  }

  /// The output after appending each candidate to `row`, (k, width), computed as k one-token
  /// queries against the row's one shared prefix cache. The session is not changed.
  result_type score_candidates(index_t row, std::span<const token_id> candidates) {
    check_row(row, "score_candidates");
    RLHF_EXPECTS(!candidates.empty(), "score_candidates: no candidates; pass at least one token");
    cand_rows_.assign(candidates.size(), row);
    return score_candidates(std::span<const index_t>(cand_rows_), candidates);
  }

  /// Scores candidate i = (rows[i], tokens[i]) for every i in ONE batched pass (ARGS/CD at batch
  /// B: B·k one-token queries, each against its row's shared prefix cache), returning (n, width).
  /// The rows are not changed, but the candidates' keys and values are kept (appended to those of
  /// earlier score_candidates calls since the last change to the session), so that
  /// commit_candidates can append the chosen ones without another pass.
  result_type score_candidates(std::span<const index_t> rows, std::span<const token_id> tokens) {
    RLHF_EXPECTS(rows.size() == tokens.size(), "score_candidates: ", rows.size(), " rows for ", tokens.size(),
                 " candidate tokens; pass one row per candidate");
    const auto k = static_cast<index_t>(tokens.size());
    RLHF_EXPECTS(k >= 1, "score_candidates: no candidates; pass at least one token");
    q_tokens_.resize(static_cast<std::size_t>(k));
    q_pos_.resize(static_cast<std::size_t>(k));
    q_row_.resize(static_cast<std::size_t>(k));
    q_len_.resize(static_cast<std::size_t>(k));
    q_count_.assign(static_cast<std::size_t>(k), 0);
    q_pick_.resize(static_cast<std::size_t>(k));
    for (index_t i = 0; i < k; ++i) {
      const index_t row = rows[i];
      check_row(row, "score_candidates");
      const index_t len = lengths_[static_cast<std::size_t>(row)];
      RLHF_EXPECTS(len >= 1, "score_candidates: row ", row, " has not been prefilled; call prefill first");
      RLHF_EXPECTS(len < capacity_, "score_candidates: row ", row, " is full (", len,
                   " tokens = capacity); start the session with a larger capacity");
      q_tokens_[i] = check_token(tokens[i], "score_candidates");
      q_pos_[i] = q_len_[i] = static_cast<std::int32_t>(len);
      q_row_[i] = static_cast<std::int32_t>(row);
      q_pick_[i] = static_cast<std::int32_t>(i);
    }
    const index_t first = static_cast<index_t>(pending_.size());
    reserve_pending(first + k);
    for (index_t i = 0; i < k; ++i) pending_.push_back(q_row_[i]);
    run(k, 1, /*use_cache=*/true, /*write=*/false, first);
    return publish(k, nullptr);
  }

  /// Appends the scored candidates `picks` (indices into the candidates of the score_candidates
  /// calls since the last change to the session, at most one per row) to their rows, from the
  /// keys and values kept when they were scored: the same cache as step() with those tokens,
  /// without running the model. Outputs of the committed positions are the scores already returned.
  void commit_candidates(std::span<const index_t> picks) {
    if (picks.empty()) return;
    const auto m = static_cast<index_t>(picks.size());
    c_idx_.resize(static_cast<std::size_t>(m));
    c_row_.resize(static_cast<std::size_t>(m));
    c_len_.resize(static_cast<std::size_t>(m));
    c_one_.assign(static_cast<std::size_t>(m), 1);
    for (index_t j = 0; j < m; ++j) {
      const index_t p = picks[j];
      RLHF_EXPECTS(p >= 0 && p < static_cast<index_t>(pending_.size()), "commit_candidates: candidate ", p,
                   " outside the ", pending_.size(), " candidates scored since the session last changed");
      const std::int32_t row = pending_[static_cast<std::size_t>(p)];
      for (index_t i = 0; i < j; ++i)
        RLHF_EXPECTS(c_row_[i] != row, "commit_candidates: two candidates of row ", row, "; commit one per row");
      c_idx_[j] = static_cast<std::int32_t>(p);
      c_row_[j] = row;
      c_len_[j] = static_cast<std::int32_t>(lengths_[row]);
    }
    const index_t C = w_.config.n_embd, P = pending_capacity_;
    const cidx idx = upload(tokens_, c_idx_), row = upload(row_, c_row_), at = upload(len_, c_len_),
               one = upload(count_, c_one_);
    const mview picked = last_.get({m, 1, C});
    for (index_t l = 0; l < w_.config.n_layer; ++l)
      for (int kv = 0; kv < 2; ++kv) {
        const cview src(pending_kv_->view().data() + (2 * l + kv) * P * C, {P, C});
        Backend::gather_rows(mview(picked.data(), {m, C}), src, idx);
        Backend::kv_write(cache(l, kv), cview(picked), row, at, one);
      }
    for (index_t j = 0; j < m; ++j) ++lengths_[c_row_[j]];
    pending_.clear();
  }

 private:
  using cview = view<const T, space>;
  using mview = view<T, space>;
  using cidx = view<const std::int32_t, space>;

  void check_row(index_t row, const char* who) const {
    RLHF_EXPECTS(row >= 0 && row < rows_, who, ": row ", row, " outside [0, ", rows_, ")");
  }
  token_id check_token(token_id id, const char* who) const {
    RLHF_EXPECTS(id >= 0 && id < w_.config.vocab_size, who, ": token id ", id,
                 " is outside the vocabulary [0, ", w_.config.vocab_size, ")");
    return id;
  }
  mview cache(index_t layer, int kv) {
    const auto& c = w_.config;
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
  /// With keep_at >= 0 (candidate scoring: Tq = 1, no write) the n queries' keys/values of every
  /// layer are kept at pending positions keep_at .. keep_at + n.
  void run(index_t n, index_t Tq, bool use_cache, bool write, index_t keep_at = -1) {
    const index_t C = w_.config.n_embd;
    index_t S = Tq;
    if (use_cache) S += *std::max_element(q_len_.begin(), q_len_.end());
    const cidx tokens = upload(tokens_, q_tokens_), positions = upload(pos_, q_pos_);
    const cidx row = upload(row_, q_row_), pick = upload(pick_, q_pick_);
    const cidx len = use_cache ? upload(len_, q_len_) : cidx{};
    const cidx count = write ? upload(count_, q_count_) : cidx{};
    const cidx zeros = write && !use_cache ? upload(zeros_, zero_vector(n)) : cidx{};
    const auto cache_of = [&](index_t l) {
      detail::cache_args<Backend, T> ca{};
      if (use_cache) ca = {cview(cache(l, 0)), cview(cache(l, 1)), row, len};
      return ca;
    };
    const auto store = [&](index_t l, cview k, cview v) {
      if (keep_at >= 0) {
        const index_t P = pending_capacity_;
        Backend::copy(mview(pending_kv_->view().data() + ((2 * l) * P + keep_at) * C, {n, C}), cview(k.data(), {n, C}));
        Backend::copy(mview(pending_kv_->view().data() + ((2 * l + 1) * P + keep_at) * C, {n, C}), cview(v.data(), {n, C}));
      }
      if (!write) return;
      // New keys/values go after each row's cached prefix (prefill: after 0 tokens), only the
      // row's valid tokens (count), never a prompt's padding.
      const cidx at = use_cache ? len : zeros;
      Backend::kv_write(cache(l, 0), k, row, at, count);
      Backend::kv_write(cache(l, 1), v, row, at, count);
    };
    const cview x = runner_.trunk(w_, tokens, positions, n, Tq, S, cache_of, store);
    const mview last = last_.get({n, C});
    Backend::gather_rows(last, x, pick);
    const cview lnf = runner_.final_norm(w_, cview(last));
    head_context<Backend, T> ctx;
    ctx.config = &w_.config;
    ctx.wte = w_.tensor(w_.table->wte);
    ctx.params = w_.head_params();
    out_t_.resize(static_cast<std::size_t>(n * width_));
    head_.decode(ctx, lnf, std::span<T>(out_t_));
  }

  /// One batched pass appending tokens_of(b) to every row b that has any (step, extend): the
  /// new tokens are padded to the longest list, attend the row's cache and are written after it.
  template <class TokensOf>
  result_type append(TokensOf&& tokens_of, const char* who) {
    pending_.clear();
    index_t Tq = 0;
    for (index_t b = 0; b < rows_; ++b) {
      const auto t = tokens_of(b);
      if (t.empty()) continue;
      const index_t len = lengths_[b], n = static_cast<index_t>(t.size());
      RLHF_EXPECTS(len + n <= capacity_, who, ": row ", b, " is full: it would hold ", len + n, " tokens, more than capacity = ",
                   capacity_, "; start the session with a larger capacity or truncate the row");
      Tq = std::max(Tq, n);
    }
    q_tokens_.clear();
    q_pos_.clear();
    q_row_.clear();
    q_len_.clear();
    q_count_.clear();
    q_pick_.clear();
    for (index_t b = 0; b < rows_; ++b) {
      const auto t = tokens_of(b);
      if (t.empty()) continue;
      const index_t len = lengths_[b], n = static_cast<index_t>(t.size());
      const auto q = static_cast<index_t>(q_row_.size());
      for (index_t i = 0; i < Tq; ++i) {
        q_tokens_.push_back(i < n ? check_token(t[i], who) : 0);
        q_pos_.push_back(static_cast<std::int32_t>(std::min(len + i, capacity_ - 1)));
      }
      q_row_.push_back(static_cast<std::int32_t>(b));
      q_len_.push_back(static_cast<std::int32_t>(len));
      q_count_.push_back(static_cast<std::int32_t>(n));
      q_pick_.push_back(static_cast<std::int32_t>(q * Tq + n - 1));
    }
    const auto n = static_cast<index_t>(q_row_.size());
    if (n > 0) run(n, Tq, /*use_cache=*/true, /*write=*/true);
    else out_t_.clear();
    for (index_t i = 0; i < n; ++i) lengths_[q_row_[i]] += q_count_[i];
    return publish(rows_, &q_row_);
  }

  /// Grows the kept candidate keys/values to hold n candidates, keeping those already there.
  void reserve_pending(index_t n) {
    if (n <= pending_capacity_) return;
    const index_t C = w_.config.n_embd, L2 = 2 * w_.config.n_layer;
    const index_t cap = std::max(n, 2 * pending_capacity_);
    typename Backend::template buffer<T> grown(shape{L2, cap, C});
    const auto kept = static_cast<index_t>(pending_.size());
    for (index_t l = 0; l < L2 && kept > 0; ++l)
      Backend::copy(mview(grown.view().data() + l * cap * C, {kept, C}),
                    cview(pending_kv_->view().data() + l * pending_capacity_ * C, {kept, C}));
    pending_kv_.emplace(std::move(grown));
    pending_capacity_ = cap;
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
    if constexpr (std::is_same_v<result_type, logit_rows>) return v;
    else return result_type{v};
  }

  detail::gpt2_weights<Backend, T> w_;  // shared with the model: config, table, parameters
  index_t rows_, capacity_, width_;
  std::optional<typename Backend::template buffer<T>> cache_;  // (2L, rows, capacity, C): K, V per layer
  std::vector<index_t> lengths_;                                // tokens cached per row
  typename Head::template state<Backend, T> head_;              // own scratch: never the model's
  detail::trunk_runner<Backend, T> runner_;                    // the inference path's scratch
  detail::growable<Backend, T> last_;
  detail::growable<Backend, std::int32_t> tokens_, pos_, row_, len_, count_, pick_, zeros_;
  std::vector<std::int32_t> q_tokens_, q_pos_, q_row_, q_len_, q_count_, q_pick_, zero_host_;
  std::vector<std::int32_t> c_idx_, c_row_, c_len_, c_one_;  // commit_candidates' indices
  std::vector<index_t> cand_rows_;
  // Keys/values of the candidates scored since the session last changed: (2L, capacity, C), and
  // the row of each (its length is unchanged while they are pending).
  std::optional<typename Backend::template buffer<T>> pending_kv_;
  index_t pending_capacity_ = 0;
  std::vector<std::int32_t> pending_;
  std::vector<T> out_t_;
  std::vector<float> out_;
};

}  // namespace rlhf
