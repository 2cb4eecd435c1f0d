// SPDX-License-Identifier: MIT
// The precomputed log-prob files of `rlhf logprobs` (data::load_response_log_probs): sums and
// counts per response for pairs and rankings, the length-normalised mean, and each malformed
// record refused with its line and the fix.
#include <catch2/catch.hpp>

#include <string>

#include "../io/temp_dir.hpp"
#include "rlhf/data/response_log_probs.hpp"

using Catch::Matchers::Contains;
namespace data = rlhf::data;

TEST_CASE("load_response_log_probs sums pairs and rankings and keeps the counts", "[data][logprobs]") {
  rlhf::test::temp_dir dir;
  const auto p = dir.write("lp.jsonl",
                           "{\"chosen_logprobs\": [-1.5, -0.25], \"rejected_logprobs\": [-2.0]}\n"
                           "{\"responses_logprobs\": [[-1.0, -2.0, -3.0], [], [-0.5]]}\n");
  const auto sums = data::load_response_log_probs(p);
  REQUIRE(sums.sums.size() == 2);
  CHECK(sums.sums[0] == std::vector<double>{-1.75, -2.0});
  CHECK(sums.tokens[0] == std::vector<rlhf::index_t>{2, 1});
  CHECK(sums.sums[1] == std::vector<double>{-6.0, 0.0, -0.5});
  CHECK(sums.tokens[1] == std::vector<rlhf::index_t>{3, 0, 1});
  const auto means = data::load_response_log_probs(p, {.length_normalised = true});
  CHECK(means.sums[0] == std::vector<double>{-0.875, -2.0});
  CHECK(means.sums[1] == std::vector<double>{-2.0, 0.0, -0.5});
}

TEST_CASE("load_response_log_probs refuses malformed records, naming the line", "[data][logprobs]") {
  rlhf::test::temp_dir dir;
  const auto ok = std::string("{\"chosen_logprobs\": [-1], \"rejected_logprobs\": [-2]}\n");
  auto refused = [&](const std::string& bad, const std::string& what) {
    const auto p = dir.write("bad.jsonl", ok + bad + "\n");
    CHECK_THROWS_AS(data::load_response_log_probs(p), rlhf::format_error);
    CHECK_THROWS_WITH(data::load_response_log_probs(p), Contains("bad.jsonl:2") && Contains(what));
  };
  refused("{\"chosen_logprobs\": [-1]}", "rlhf logprobs --model REF");
  refused("{\"responses_logprobs\": [[-1]]}", "at least 2 responses");
  refused("{\"chosen_logprobs\": -1, \"rejected_logprobs\": [-2]}", "not an array of numbers");
  refused("{\"chosen_logprobs\": [-1, \"x\"], \"rejected_logprobs\": [-2]}", "not a finite number");
  refused("{\"chosen_logprobs\": [0.5], \"rejected_logprobs\": [-2]}", "a probability above 1");
  refused("{\"chosen_logprobs\": [-1e308, -1e308], \"rejected_logprobs\": [-2]}", "too large to be log-probs");
  CHECK_THROWS_AS(data::load_response_log_probs(dir.path() / "missing.jsonl"), rlhf::io_error);
}
