// SPDX-License-Identifier: MIT
// libFuzzer harness: data::load_response_log_probs (the precomputed log-prob files of
// `rlhf logprobs`, read by DPO in place of a reference model) on arbitrary bytes, plain and
// length-normalised: every record it accepts has >= 2 responses, a token count >= 0 and a
// finite sum <= max_log_prob x count for each, and the mean variant is the sum / count.
#include <cmath>
#include <cstdint>

#include "fuzz_support.hpp"
#include "rlhf/data/response_log_probs.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = rlhf::fuzz::input_file("logprobs.jsonl", data, size);
  rlhf::fuzz::expect_rlhf_error_or_success([&] {
    const auto sums = rlhf::data::load_response_log_probs(path);
    const auto means = rlhf::data::load_response_log_probs(path, {.length_normalised = true});
    rlhf::fuzz::require(sums.sums.size() == sums.tokens.size(), "one token-count row per record");
    rlhf::fuzz::require(means.sums.size() == sums.sums.size(), "the two reads disagree on the records");
    for (std::size_t r = 0; r < sums.sums.size(); ++r) {
      const auto& s = sums.sums[r];
      const auto& n = sums.tokens[r];
      rlhf::fuzz::require(s.size() >= 2 && s.size() == n.size(), "a record with < 2 responses or unmatched counts");
      for (std::size_t i = 0; i < s.size(); ++i) {
        rlhf::fuzz::require(n[i] >= 0 && std::isfinite(s[i]), "a negative count or a non-finite sum");
        rlhf::fuzz::require(s[i] <= rlhf::data::max_log_prob * static_cast<double>(n[i]) + 1e-12,
                            "a sum above the largest log-prob times the count");
        const double mean = n[i] > 0 ? s[i] / static_cast<double>(n[i]) : s[i];
        rlhf::fuzz::require(means.sums[r][i] == mean, "the length-normalised read is not sum / count");
      }
    }
  });
  return 0;
}
