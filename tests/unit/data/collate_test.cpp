// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <numeric>
#include <set>
#include <vector>

#include "rlhf/data/batching.hpp"
#include "rlhf/data/collate.hpp"

namespace data = rlhf::data;
using ids = std::vector<rlhf::token_id>;

namespace {
// Row b of a batch as (tokens up to its length, mask up to its length, padding tokens).
ids row_tokens(const rlhf::token_batch& b, std::size_t r) {
  ids out;
  for (std::size_t t = 0; t < b.tokens.shape(1); ++t) out.push_back(b.tokens(r, t));
  return out;
}
std::vector<int> row_mask(const rlhf::token_batch& b, std::size_t r) {
  std::vector<int> out;
  for (std::size_t t = 0; t < b.response_mask.shape(1); ++t) out.push_back(b.response_mask(r, t));
  return out;
}
}  // namespace

TEST_CASE("collate right-pads prompt ⊕ response and masks the response", "[data][collate]") {
  const ids p0{1, 2, 3}, r0{4, 5}, p1{6}, r1{7};
  const std::vector<data::sequence_pair> rows{{p0, r0}, {p1, r1}, {p1, {}}};
  const auto b = data::collate(rows, {.pad_id = 9});
  CHECK(b.rows() == 3);
  CHECK(b.cols() == 5);
  CHECK(row_tokens(b, 0) == ids{1, 2, 3, 4, 5});
  CHECK(row_mask(b, 0) == std::vector<int>{0, 0, 0, 1, 1});
  CHECK(row_tokens(b, 1) == ids{6, 7, 9, 9, 9});
  CHECK(row_mask(b, 1) == std::vector<int>{0, 1, 0, 0, 0});
  CHECK(row_tokens(b, 2) == ids{6, 9, 9, 9, 9});
  CHECK(row_mask(b, 2) == std::vector<int>{0, 0, 0, 0, 0});
  CHECK(b.lengths(0) == 5);
  CHECK(b.lengths(1) == 2);
  CHECK(b.lengths(2) == 1);
}

TEST_CASE("collate truncates the prompt from the left first, then the response", "[data][collate]") {
  const ids p{1, 2, 3, 4, 5}, r{10, 11, 12};
  const std::vector<data::sequence_pair> rows{{p, r}};
  // Fits: unchanged.
  CHECK(row_tokens(data::collate(rows, {.max_length = 8}), 0) == ids{1, 2, 3, 4, 5, 10, 11, 12});
  // 8 > 6: the two oldest prompt tokens go.
  const auto b6 = data::collate(rows, {.max_length = 6});
  CHECK(row_tokens(b6, 0) == ids{3, 4, 5, 10, 11, 12});
  CHECK(row_mask(b6, 0) == std::vector<int>{0, 0, 0, 1, 1, 1});
  // The prompt keeps its last token; the response is cut from the right.
  const auto b3 = data::collate(rows, {.max_length = 3});
  CHECK(row_tokens(b3, 0) == ids{5, 10, 11});
  CHECK(row_mask(b3, 0) == std::vector<int>{0, 1, 1});
  CHECK(b3.lengths(0) == 3);
  const auto b2 = data::collate(rows, {.max_length = 2});
  CHECK(row_tokens(b2, 0) == ids{5, 10});
}

TEST_CASE("collate rejects bad input with invalid_argument", "[data][collate]") {
  const ids p{1}, r{2}, empty{};
  const std::vector<data::sequence_pair> ok{{p, r}}, no_prompt{{empty, r}}, none{};
  CHECK_THROWS_AS(data::collate(none), rlhf::invalid_argument);
  CHECK_THROWS_AS(data::collate(no_prompt), rlhf::invalid_argument);
  CHECK_THROWS_AS(data::collate(ok, {.pad_id = -1}), rlhf::invalid_argument);
  CHECK_THROWS_AS(data::collate(ok, {.max_length = 1}), rlhf::invalid_argument);
  CHECK_THROWS_AS(data::collate(ok, {.max_length = -4}), rlhf::invalid_argument);
}

TEST_CASE("collate_pairs puts chosen rows then rejected rows; rankings k rows per prompt", "[data][collate]") {
  const std::vector<data::preference_example> prefs{{{1}, {2, 3}, {4}}, {{5, 6}, {7}, {8, 9, 10}}};
  const auto b = data::collate_pairs(prefs, {.pad_id = 0});
  REQUIRE(b.rows() == 4);
  CHECK(row_tokens(b, 0) == ids{1, 2, 3, 0, 0});
  CHECK(row_tokens(b, 1) == ids{5, 6, 7, 0, 0});
  CHECK(row_tokens(b, 2) == ids{1, 4, 0, 0, 0});
  CHECK(row_tokens(b, 3) == ids{5, 6, 8, 9, 10});
  CHECK(row_mask(b, 3) == std::vector<int>{0, 0, 1, 1, 1});

  const std::vector<data::ranking_example> ranks{{{1}, {{2}, {3, 3}, {4}}, {}}, {{5}, {{6}, {7}}, {}}};
  const auto k = data::collate_rankings(ranks);
  REQUIRE(k.rows() == 5);
  CHECK(row_tokens(k, 0) == ids{1, 2, 0});
  CHECK(row_tokens(k, 1) == ids{1, 3, 3});
  CHECK(row_tokens(k, 2) == ids{1, 4, 0});
  CHECK(row_tokens(k, 3) == ids{5, 6, 0});
  CHECK(row_tokens(k, 4) == ids{5, 7, 0});
  CHECK((data::collate_pairs(std::span<const data::ranking_example>(ranks)).tokens == k.tokens));

  const std::vector<data::sft_example> sft{{{1, 2}, {3}}};
  CHECK(row_tokens(data::collate(sft), 0) == ids{1, 2, 3});
  const std::vector<data::prompt_example> prompts{{{1, 2}, "x"}, {{3}, "y"}};
  const auto pb = data::collate(prompts);
  CHECK(row_tokens(pb, 1) == ids{3, 0});
  CHECK(std::all_of(pb.response_mask.begin(), pb.response_mask.end(), [](auto m) { return m == 0; }));
}

TEST_CASE("epoch_batches: file order by default, seeded shuffles otherwise", "[data][batching]") {
  const data::epoch_batches in_order(7, {.batch_size = 3});
  REQUIRE(in_order.size() == 3);
  std::vector<std::vector<rlhf::index_t>> got;
  for (auto batch : in_order) got.emplace_back(batch.begin(), batch.end());
  CHECK(got == std::vector<std::vector<rlhf::index_t>>{{0, 1, 2}, {3, 4, 5}, {6}});
  CHECK(data::epoch_batches(7, {.batch_size = 3, .drop_last = true}).size() == 2);
  CHECK(data::epoch_batches(0, {.batch_size = 3}).empty());
  CHECK_THROWS_AS(data::epoch_batches(5, {.batch_size = 0}), rlhf::invalid_argument);

  const data::batch_options shuffled{.batch_size = 4, .shuffle = true, .seed = 42};
  const data::epoch_batches a(100, shuffled, 0), again(100, shuffled, 0), next_epoch(100, shuffled, 1);
  const auto order = std::vector<rlhf::index_t>(a.order().begin(), a.order().end());
  CHECK(order == std::vector<rlhf::index_t>(again.order().begin(), again.order().end()));
  CHECK(order != std::vector<rlhf::index_t>(next_epoch.order().begin(), next_epoch.order().end()));
  std::vector<rlhf::index_t> sorted = order, iota(100);
  std::sort(sorted.begin(), sorted.end());
  std::iota(iota.begin(), iota.end(), 0);
  CHECK(sorted == iota);  // a permutation
  CHECK(order != iota);
  CHECK(a[1].size() == 4);
  CHECK(a[1][0] == order[4]);
}

TEST_CASE("shuffled_indices is uniform over positions", "[data][batching][statistical]") {
  // Over 4000 seeds, element 0 lands in each of 5 slots about 800 times; a chi-square with
  // 4 degrees of freedom above 30 has probability < 1e-5 under a correct shuffle.
  std::vector<int> count(5, 0);
  for (std::uint64_t seed = 0; seed < 4000; ++seed) {
    const auto o = data::shuffled_indices(5, seed);
    count[static_cast<std::size_t>(std::find(o.begin(), o.end(), 0) - o.begin())]++;
  }
  double chi2 = 0;
  for (int c : count) chi2 += (c - 800.0) * (c - 800.0) / 800.0;
  CHECK(chi2 < 30.0);
}

TEST_CASE("gather copies the examples of one batch", "[data][batching]") {
  const std::vector<data::sft_example> ex{{{1}, {2}}, {{3}, {4}}, {{5}, {6}}};
  const std::vector<rlhf::index_t> idx{2, 0};
  const auto g = data::gather(ex, idx);
  REQUIRE(g.size() == 2);
  CHECK(g[0].prompt_ids == ids{5});
  CHECK(g[1].prompt_ids == ids{1});
  const std::vector<rlhf::index_t> bad{3};
  CHECK_THROWS_AS(data::gather(ex, bad), rlhf::invalid_argument);
}

namespace {
// A user's own record type: any struct with contiguous prompt_ids / completion_ids works.
struct my_record {
  std::array<rlhf::token_id, 2> prompt_ids;
  std::vector<rlhf::token_id> completion_ids;
  double weight = 1.0;
};
static_assert(data::prompt_completion_record<my_record>);
static_assert(data::prompt_completion_record<data::sft_example>);
static_assert(data::prompt_completion_record<data::scored_example>);
static_assert(!data::prompt_completion_record<data::prompt_example>);
static_assert(!data::prompt_completion_record<data::sequence_pair>);
}  // namespace

TEST_CASE("collate takes any range of prompt/completion records, optionally in a given order", "[data][collate]") {
  const std::vector<data::sft_example> sft{{{1, 2}, {3}}, {{4}, {5, 6}}, {{7}, {}}};
  // All records in order: the same as through sequence_pairs.
  const auto all = data::collate(sft, {.pad_id = 0});
  CHECK(row_tokens(all, 0) == ids{1, 2, 3});
  CHECK(row_tokens(all, 1) == ids{4, 5, 6});
  CHECK(row_tokens(all, 2) == ids{7, 0, 0});
  CHECK(row_mask(all, 1) == std::vector<int>{0, 1, 1});

  // An order selects and orders records (a batch of an epoch); index types of either sign work.
  const std::vector<rlhf::index_t> order{2, 0};
  const auto picked = data::collate(sft, order, {.pad_id = 9, .max_length = 2});
  REQUIRE(picked.rows() == 2);
  CHECK(row_tokens(picked, 0) == ids{7, 9});
  CHECK(row_tokens(picked, 1) == ids{2, 3});  // truncated as collate documents
  CHECK(row_mask(picked, 1) == std::vector<int>{0, 1});
  const std::vector<std::size_t> unsigned_order{1, 1};
  CHECK(row_tokens(data::collate(std::span<const data::sft_example>(sft), unsigned_order), 1) == ids{4, 5, 6});
  // An epoch_batches batch is an order.
  const data::epoch_batches batches(3, {.batch_size = 2});
  CHECK(data::collate(sft, batches[1]).rows() == 1);

  // scored_example and a user's own type go through the same function.
  const std::vector<data::scored_example> scored{{{1}, {2, 3}, 0.5}};
  CHECK(row_tokens(data::collate(scored), 0) == ids{1, 2, 3});
  const std::vector<my_record> mine{{{8, 9}, {10}, 2.0}};
  const std::vector<int> first{0};
  CHECK(row_tokens(data::collate(mine, first), 0) == ids{8, 9, 10});

  // Bad orders name the entry.
  const std::vector<int> out_of_range{0, 3}, negative{-1}, empty{};
  CHECK_THROWS_AS(data::collate(sft, out_of_range), rlhf::invalid_argument);
  CHECK_THROWS_WITH(data::collate(sft, out_of_range), Catch::Contains("order[1] = 3") && Catch::Contains("[0, 3)"));
  CHECK_THROWS_WITH(data::collate(sft, negative), Catch::Contains("order[0] = -1"));
  CHECK_THROWS_AS(data::collate(sft, empty), rlhf::invalid_argument);
  CHECK_THROWS_AS(data::collate(sft, order, {.max_length = 1}), rlhf::invalid_argument);
  const std::vector<data::sft_example> no_prompt{{{}, {1}}};
  CHECK_THROWS_WITH(data::collate(no_prompt), Catch::Contains("empty prompt"));
}
