// SPDX-License-Identifier: MIT
// KV-cache sessions of rlhf::transformer: incremental outputs equal full forwards (prefill +
// steps, ragged prompts, inactive rows, score_candidates, truncate), for every head, and bad input.
#include <catch2/catch.hpp>

#include <algorithm>
#include <vector>

#include "rlhf/backend.hpp"
#include "rlhf/model/transformer.hpp"
#include "support/backends.hpp"

namespace {

rlhf::gpt2_config session_config() {
  return rlhf::gpt2_config{.vocab_size = 37, .n_positions = 24, .n_embd = 16, .n_layer = 2, .n_head = 4};
}

rlhf::token_batch one_row(const std::vector<int>& ids) {
  rlhf::token_batch b;
  b.tokens = xt::xtensor<rlhf::token_id, 2>::from_shape({1, ids.size()});
  std::copy(ids.begin(), ids.end(), b.tokens.data());
  b.lengths = xt::xtensor<std::int32_t, 1>({static_cast<std::int32_t>(ids.size())});
  b.response_mask = xt::zeros<std::uint8_t>({std::size_t{1}, ids.size()});
  return b;
}

/// The full-forward next-token output after `ids` (V logits or 1 value), as floats.
template <class Model>
std::vector<float> reference_next(Model& m, const std::vector<int>& ids) {
  const auto b = one_row(ids);
  const std::size_t t = ids.size() - 1;
  if constexpr (std::is_same_v<typename Model::head_type, rlhf::lm_head>) {
    const auto logits = m.next_token_logits(b);
    return {logits.data() + t * m.vocab_size(), logits.data() + (t + 1) * m.vocab_size()};
  } else if constexpr (std::is_same_v<typename Model::head_type, rlhf::token_reward_head>) {
    const auto r = m.forward(b);
    return {r.data() + t * m.vocab_size(), r.data() + (t + 1) * m.vocab_size()};
  } else {
    return {m.forward(b)(0, t)};
  }
}

template <class Result>
std::vector<float> row_of(const Result& r, rlhf::index_t row, rlhf::index_t width) {
  if constexpr (std::is_same_v<Result, rlhf::value_rows>) {
    return {r.values.data() + row * width, r.values.data() + (row + 1) * width};
  } else if constexpr (std::is_same_v<Result, rlhf::token_reward_rows>) {
    return {r.rewards.data() + row * width, r.rewards.data() + (row + 1) * width};
  } else {
    return {r.data() + row * width, r.data() + (row + 1) * width};
  }
}

void require_close(const std::vector<float>& got, const std::vector<float>& want, double tol = 1e-5) {
  REQUIRE(got.size() == want.size());
  double worst = 0;
  for (std::size_t i = 0; i < got.size(); ++i) worst = std::max(worst, double(std::abs(got[i] - want[i])));
  CHECK(worst <= tol);
}

template <class Backend, class Head>
void check_session_matches_forward() {
  rlhf::transformer<Backend, Head> m(session_config(), 21);
  // Larger weights than the 0.02 initialisation so that the test sees non-trivial attention.
  std::vector<float> p(static_cast<std::size_t>(m.parameter_count()));
  rlhf::counter_rng rng(4, 4);
  for (std::size_t i = 0; i < p.size(); ++i) p[i] = static_cast<float>(0.15 * rng.normal(i));
  Backend::from_host(m.parameters(), std::span<const float>(p));
  const rlhf::index_t width = std::is_same_v<Head, rlhf::scalar_head> ? 1 : m.vocab_size();

  std::vector<std::vector<int>> rows{{3, 17, 5, 9, 30, 2, 2}, {8}, {12, 1, 36}};
  const std::vector<std::vector<rlhf::token_id>> prompts(rows.begin(), rows.end());
  auto s = m.start_session(3, 20);
  CHECK(s.rows() == 3);
  auto out = s.prefill(prompts);
  for (rlhf::index_t r = 0; r < 3; ++r) {
    CHECK(s.length(r) == static_cast<rlhf::index_t>(rows[r].size()));
    require_close(row_of(out, r, width), reference_next(m, rows[r]));
  }
  // Steps at per-row positions; row 1 sits out the second step.
  const std::vector<std::vector<rlhf::token_id>> steps{{4, 22, 0}, {11, -1, 35}, {7, 19, 19}};
  for (const auto& st : steps) {
    out = s.step(st);
    for (rlhf::index_t r = 0; r < 3; ++r)
      if (st[r] >= 0) rows[r].push_back(st[r]);
    for (rlhf::index_t r = 0; r < 3; ++r) {
      CHECK(s.length(r) == static_cast<rlhf::index_t>(rows[r].size()));
      if (st[r] >= 0) require_close(row_of(out, r, width), reference_next(m, rows[r]));
    }
  }
  // k candidates against row 0's one prefix cache: each equals a forward of prefix + candidate.
  const std::vector<rlhf::token_id> cands{5, 0, 36, 5, 14};
  const auto len0 = s.length(0);
  const auto scored = s.score_candidates(0, cands);
  CHECK(s.length(0) == len0);  // the session is unchanged
  for (std::size_t i = 0; i < cands.size(); ++i) {
    auto ids = rows[0];
    ids.push_back(cands[i]);
    require_close(row_of(scored, static_cast<rlhf::index_t>(i), width), reference_next(m, ids));
  }
  // Truncate then re-step equals a fresh decode of the shorter sequence.
  s.truncate(2, 2);
  rows[2].resize(2);
  out = s.step(std::vector<rlhf::token_id>{-1, -1, 33});
  rows[2].push_back(33);
  require_close(row_of(out, 2, width), reference_next(m, rows[2]));
  out = s.step(std::vector<rlhf::token_id>{1, 2, 3});
  for (rlhf::index_t r = 0; r < 3; ++r) {
    rows[r].push_back(static_cast<int>(r + 1));
    require_close(row_of(out, r, width), reference_next(m, rows[r]));
  }
}

/// The search calls (extend, copy_row, batched score_candidates + commit_candidates) leave the
/// session exactly where recomputation from scratch would: every later output equals a forward.
template <class Backend, class Head>
void check_search_session_matches_forward() {
  rlhf::transformer<Backend, Head> m(session_config(), 23);
  std::vector<float> p(static_cast<std::size_t>(m.parameter_count()));
  rlhf::counter_rng rng(5, 5);
  for (std::size_t i = 0; i < p.size(); ++i) p[i] = static_cast<float>(0.15 * rng.normal(i));
  Backend::from_host(m.parameters(), std::span<const float>(p));
  const rlhf::index_t width = std::is_same_v<Head, rlhf::scalar_head> ? 1 : m.vocab_size();
  using ids_t = std::vector<rlhf::token_id>;

  auto s = m.start_session(4, 20);
  std::vector<std::vector<int>> rows(4);
  // extend on empty rows is their prefill; ragged lists, one row left empty.
  auto out = s.extend(std::vector<ids_t>{{3, 17, 5}, {}, {8, 1, 2, 2, 9}, {30}});
  rows[0] = {3, 17, 5};
  rows[2] = {8, 1, 2, 2, 9};
  rows[3] = {30};
  CHECK(s.length(1) == 0);
  for (rlhf::index_t r : {0, 2, 3}) require_close(row_of(out, r, width), reference_next(m, rows[r]));
  // A multi-token extension of cached rows (a CARDS segment) in one pass.
  out = s.extend(std::vector<ids_t>{{4, 4}, {}, {36}, {1, 2, 3, 4}});
  for (auto [r, add] : {std::pair{0, std::vector<int>{4, 4}}, {2, {36}}, {3, {1, 2, 3, 4}}}) {
    rows[r].insert(rows[r].end(), add.begin(), add.end());
    require_close(row_of(out, r, width), reference_next(m, rows[r]));
  }
  out = s.extend(0, ids_t{7});
  rows[0].push_back(7);
  require_close(row_of(out, 0, width), reference_next(m, rows[0]));
  // copy_row: row 1 branches from row 2, then both continue differently.
  s.copy_row(2, 1);
  rows[1] = rows[2];
  CHECK(s.length(1) == s.length(2));
  out = s.step(ids_t{-1, 11, 12, -1});
  rows[1].push_back(11);
  rows[2].push_back(12);
  require_close(row_of(out, 1, width), reference_next(m, rows[1]));
  require_close(row_of(out, 2, width), reference_next(m, rows[2]));
  // Candidates of three rows in two calls; commit one of each of two rows without a pass.
  const std::vector<rlhf::index_t> cand_rows{0, 0, 2, 2, 2};
  const ids_t cands{5, 6, 20, 21, 22};
  const auto scored = s.score_candidates(std::span<const rlhf::index_t>(cand_rows), std::span<const rlhf::token_id>(cands));
  for (std::size_t i = 0; i < cands.size(); ++i) {
    auto ids = rows[cand_rows[i]];
    ids.push_back(cands[i]);
    require_close(row_of(scored, static_cast<rlhf::index_t>(i), width), reference_next(m, ids));
  }
  const auto more = s.score_candidates(3, ids_t{9, 10});
  for (int i = 0; i < 2; ++i) {
    auto ids = rows[3];
    ids.push_back(9 + i);
    require_close(row_of(more, i, width), reference_next(m, ids));
  }
  s.commit_candidates(std::vector<rlhf::index_t>{3, 6, 1});  // row 2 takes 21, row 3 takes 10, row 0 takes 6
  rows[2].push_back(21);
  rows[3].push_back(10);
  rows[0].push_back(6);
  CHECK(s.length(0) == static_cast<rlhf::index_t>(rows[0].size()));
  CHECK(s.length(2) == static_cast<rlhf::index_t>(rows[2].size()));
  // The committed keys/values are the ones a step would have written: later outputs agree.
  out = s.step(ids_t{2, 3, 4, 5});
  for (rlhf::index_t r = 0; r < 4; ++r) {
    rows[r].push_back(static_cast<int>(r + 2));
    require_close(row_of(out, r, width), reference_next(m, rows[r]));
  }
  // Bad input: a commit after a change, two picks of one row, an over-long extension.
  using Catch::Matchers::Contains;
  s.score_candidates(0, ids_t{1, 2});
  CHECK_THROWS_WITH(s.commit_candidates(std::vector<rlhf::index_t>{0, 1}), Contains("two candidates of row 0"));
  s.truncate(1, 2);
  CHECK_THROWS_WITH(s.commit_candidates(std::vector<rlhf::index_t>{0}), Contains("outside the 0 candidates"));
  CHECK_THROWS_WITH(s.extend(0, ids_t(20, 1)), Contains("capacity"));
  CHECK_THROWS_WITH(s.extend(std::vector<ids_t>{{1}}), Contains("one (possibly empty) list per row"));
  CHECK_THROWS_WITH(s.copy_row(0, 4), Contains("row 4 outside"));
}

}  // namespace

TEMPLATE_LIST_TEST_CASE("kv_session search calls equal recomputation: extend, copy_row, score and commit candidates",
                        "[model][transformer][session]", rlhf::test::backends) {
  using Backend = TestType;
  SECTION("lm_head logits") { check_search_session_matches_forward<Backend, rlhf::lm_head>(); }
  SECTION("scalar_head values") { check_search_session_matches_forward<Backend, rlhf::scalar_head>(); }
  SECTION("token_reward_head rewards") { check_search_session_matches_forward<Backend, rlhf::token_reward_head>(); }
}

TEMPLATE_LIST_TEST_CASE("kv_session outputs equal full forwards: prefill, steps, candidates, truncate",
                        "[model][transformer][session]", rlhf::test::backends) {
  using Backend = TestType;
  SECTION("lm_head logits") { check_session_matches_forward<Backend, rlhf::lm_head>(); }
  SECTION("scalar_head values") { check_session_matches_forward<Backend, rlhf::scalar_head>(); }
  SECTION("token_reward_head rewards") { check_session_matches_forward<Backend, rlhf::token_reward_head>(); }
}

TEST_CASE("kv_session decode of a long sequence stays equal to the full forward", "[model][transformer][session]") {
  rlhf::transformer<rlhf::backend::eigen, rlhf::lm_head> m(session_config(), 2);
  auto s = m.start_session(1, 24);
  std::vector<int> ids{1};
  auto out = s.prefill(std::vector<std::vector<rlhf::token_id>>{{1}});
  for (int t = 0; t < 23; ++t) {
    // Greedy decoding: the next token is the session's argmax, so any cache error compounds.
    const auto next = static_cast<int>(std::max_element(out.data(), out.data() + 37) - out.data());
    require_close(std::vector<float>(out.data(), out.data() + 37), reference_next(m, ids));
    ids.push_back(next);
    if (t < 22) out = s.step(std::vector<rlhf::token_id>{next});
  }
}

TEST_CASE("kv_session rejects bad input with rlhf::invalid_argument", "[model][transformer][session]") {
  using Catch::Matchers::Contains;
  rlhf::transformer<rlhf::backend::eigen, rlhf::lm_head> m(session_config(), 2);
  CHECK_THROWS_WITH(m.start_session(2, 25), Contains("n_positions"));
  CHECK_THROWS_AS(m.start_session(0, 4), rlhf::invalid_argument);
  auto s = m.start_session(2, 3);
  CHECK_THROWS_WITH(s.step(std::vector<rlhf::token_id>{1, 1}), Contains("prefill"));
  CHECK_THROWS_WITH(s.prefill(std::vector<std::vector<rlhf::token_id>>{{1}}), Contains("one prompt per row"));
  CHECK_THROWS_WITH(s.prefill(std::vector<std::vector<rlhf::token_id>>{{1}, {}}), Contains("prompt 1 has 0 tokens"));
  CHECK_THROWS_WITH(s.prefill(std::vector<std::vector<rlhf::token_id>>{{1}, {1, 2, 3, 4}}), Contains("capacity"));
  CHECK_THROWS_WITH(s.prefill(std::vector<std::vector<rlhf::token_id>>{{1}, {37}}), Contains("token id 37"));
  s.prefill(std::vector<std::vector<rlhf::token_id>>{{1, 2}, {3}});
  CHECK_THROWS_WITH(s.step(std::vector<rlhf::token_id>{1}), Contains("one token per row"));
  s.step(std::vector<rlhf::token_id>{4, -1});
  CHECK_THROWS_WITH(s.step(std::vector<rlhf::token_id>{4, 5}), Contains("row 0 is full"));
  CHECK_THROWS_WITH(s.score_candidates(0, std::vector<rlhf::token_id>{1}), Contains("full"));
  CHECK_THROWS_WITH(s.score_candidates(1, std::vector<rlhf::token_id>{}), Contains("no candidates"));
  CHECK_THROWS_WITH(s.score_candidates(2, std::vector<rlhf::token_id>{1}), Contains("row 2 outside"));
  CHECK_THROWS_WITH(s.truncate(1, 2), Contains("only be shortened"));
  s.truncate(0, 1);
  CHECK(s.length(0) == 1);
  CHECK_NOTHROW(s.step(std::vector<rlhf::token_id>{4, 5}));
}
