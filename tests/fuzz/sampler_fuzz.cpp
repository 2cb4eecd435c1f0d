// SPDX-License-Identifier: MIT
// libFuzzer harness: the --sampler string parser (sampling::any_sampler::parse). A spec that
// parses must then generate as `generate` drives it — a prompt observed, three steps each
// sampled and accepted, so the penalties see a history — over 8 logits and over a 600-token
// vocabulary (ties, a -inf entry; large enough for top-p's radix path): every step samples a
// token among the candidates, never a -inf one, with a finite log q <= 0.
#include <cmath>
#include <cstdint>
#include <limits>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "rlhf/sampling/any_sampler.hpp"

namespace {
std::vector<float> vocabulary_logits(int n, int step) {
  std::vector<float> l(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i)  // Zipf-like, rotated each step; every fifth entry ties its neighbours' rank
    l[static_cast<std::size_t>(i)] = -std::log1p(static_cast<float>((i * 7 + step) % n)) + (i % 5 == 0 ? 0.0f : 0.125f);
  l[3] = -std::numeric_limits<float>::infinity();
  return l;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view spec(reinterpret_cast<const char*>(data), size);
  rlhf::fuzz::expect_rlhf_error_or_success([&] {
    auto s = rlhf::sampling::any_sampler::parse(spec);
    const std::vector<float> small{0.5f, -1.0f, 2.0f, 0.0f, 1.5f, -3.0f, 0.25f, 1.0f};
    const std::vector<rlhf::token_id> prompt{2, 5, 2, 7};
    for (const int n : {8, 600}) {
      s.reset();
      s.observe_prompt(prompt);
      for (int step = 0; step < 3; ++step) {
        const std::vector<float> logits = n == 8 ? small : vocabulary_logits(n, step);
        rlhf::sampling::candidates c(logits);
        const auto out = s.sample(c, rlhf::counter_rng(7, 1), static_cast<std::uint64_t>(step));
        rlhf::fuzz::require(out.token >= 0 && out.token < n, "sampled a token outside the candidates");
        rlhf::fuzz::require(std::isfinite(logits[static_cast<std::size_t>(out.token)]), "sampled a token whose logit is -inf");
        rlhf::fuzz::require(std::isfinite(out.sampling_logprob) && out.sampling_logprob <= 1e-6,
                            "log q is not finite or is positive");
        s.accept(out.token);
      }
    }
  });
  return 0;
}
