// SPDX-License-Identifier: MIT
// validate_batch: the one check every model runs on a token_batch before reading it.
#include <catch2/catch.hpp>

#include <cstdint>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "rlhf/data/collate.hpp"
#include "rlhf/data/validate_batch.hpp"

using Catch::Matchers::Contains;
using ids = std::vector<rlhf::token_id>;

namespace {
// Two rows over a 10-token vocabulary: (1, 2, 3 | 4) and (5 | 6), padded with 9.
rlhf::token_batch two_rows() {
  static const ids p0{1, 2, 3}, r0{4}, p1{5}, r1{6};
  const std::vector<rlhf::data::sequence_pair> rows{{p0, r0}, {p1, r1}};
  return rlhf::data::collate(rows, {.pad_id = 9});
}
}  // namespace

TEST_CASE("validate_batch accepts well-formed batches", "[data][validate_batch]") {
  const auto b = two_rows();
  CHECK_NOTHROW(rlhf::data::validate_batch(b, 10, 4, "test_model::forward"));
  // Padding is never read, so a pad id outside the vocabulary is fine.
  auto padded = b;
  padded.tokens(1, 3) = 1000;
  CHECK_NOTHROW(rlhf::data::validate_batch(padded, 10, 4, "m"));
  // A batch built without a response mask (scoring only) is fine; a row may be empty.
  auto no_mask = b;
  no_mask.response_mask = xt::xtensor<std::uint8_t, 2>::from_shape({0, 0});
  no_mask.lengths(1) = 0;
  CHECK_NOTHROW(rlhf::data::validate_batch(no_mask, 10, 4, "m"));
}

TEST_CASE("validate_batch names the caller, the row and position, and the fix", "[data][validate_batch][errors]") {
  const auto good = two_rows();
  auto fails = [](const rlhf::token_batch& b, rlhf::index_t vocab, rlhf::index_t max_pos) {
    return [=] { rlhf::data::validate_batch(b, vocab, max_pos, "test_model::forward"); };
  };
  SECTION("empty batch") {
    rlhf::token_batch empty;
    empty.tokens = xt::xtensor<rlhf::token_id, 2>::from_shape({0, 3});
    empty.lengths = xt::xtensor<std::int32_t, 1>::from_shape({0});
    CHECK_THROWS_AS(fails(empty, 10, 4)(), rlhf::invalid_argument);
    CHECK_THROWS_WITH(fails(empty, 10, 4)(), Contains("test_model::forward: the token batch is empty (0 x 3)"));
  }
  SECTION("more columns than positions") {
    CHECK_THROWS_WITH(fails(good, 10, 3)(), Contains("test_model::forward") && Contains("4 columns") &&
                                                Contains("max_positions = 3") && Contains("truncate"));
  }
  SECTION("lengths count") {
    auto b = good;
    b.lengths = xt::xtensor<std::int32_t, 1>{4};
    CHECK_THROWS_WITH(fails(b, 10, 4)(), Contains("batch.lengths has 1 entries for 2 rows"));
  }
  SECTION("length out of range") {
    auto b = good;
    b.lengths(1) = 5;
    CHECK_THROWS_WITH(fails(b, 10, 4)(), Contains("row 1 has length 5 outside [0, 4]"));
    b.lengths(1) = -1;
    CHECK_THROWS_AS(fails(b, 10, 4)(), rlhf::invalid_argument);
  }
  SECTION("out-of-vocabulary id") {
    auto b = good;
    b.tokens(0, 2) = 10;
    CHECK_THROWS_WITH(fails(b, 10, 4)(), Contains("token id 10 at row 0, position 2") && Contains("[0, 10)") &&
                                             Contains("the tokenizer and the model's vocab_size disagree"));
    b.tokens(0, 2) = -3;
    CHECK_THROWS_WITH(fails(b, 10, 4)(), Contains("token id -3 at row 0, position 2"));
  }
  SECTION("response mask of another shape") {
    auto b = good;
    b.response_mask = xt::zeros<std::uint8_t>({2, 3});
    CHECK_THROWS_WITH(fails(b, 10, 4)(), Contains("response_mask has shape (2, 3) where (2, 4)"));
  }
}
