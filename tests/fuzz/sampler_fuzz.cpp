// SPDX-License-Identifier: MIT
// libFuzzer harness: the --sampler string parser (sampling::any_sampler::parse). A spec that
// parses must sample a token among the candidates from finite logits, with a finite log q.
#include <cmath>
#include <cstdint>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "rlhf/sampling/any_sampler.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view spec(reinterpret_cast<const char*>(data), size);
  rlhf::fuzz::expect_rlhf_error_or_success([&] {
    auto s = rlhf::sampling::any_sampler::parse(spec);
    const std::vector<float> logits{0.5f, -1.0f, 2.0f, 0.0f, 1.5f, -3.0f, 0.25f, 1.0f};
    rlhf::sampling::candidates c(logits);
    const auto out = s.sample(c, rlhf::counter_rng(7, 1), 0);
    rlhf::fuzz::require(out.token >= 0 && out.token < 8, "sampled a token outside the candidates");
    rlhf::fuzz::require(!std::isnan(out.sampling_logprob) && out.sampling_logprob <= 1e-6, "log q is NaN or positive");
  });
  return 0;
}
