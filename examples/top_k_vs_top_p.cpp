// SPDX-License-Identifier: MIT
// Top-k against nucleus (top-p) sampling on one printed next-word distribution (ALGORITHMS.md §6;
// the seed lecture's decoding section). Top-k keeps a fixed number of words however flat or
// peaked the distribution is; top-p keeps the smallest set whose mass reaches p, so it adapts:
// few words when the model is sure, many when it is not. Each truncated distribution is
// renormalised over the kept words, and 40,000 draws through `sampling::chain` must match it
// (every frequency within 0.01 of its probability, no dropped word ever drawn): exit 0 if so.
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <rlhf/rlhf.hpp>

namespace rs = rlhf::sampling;

/// Prints the distribution a chain's processors leave, and the frequencies of its draws.
template <class Chain>
bool show(const char* name, const std::vector<std::string>& words, const std::vector<float>& logits, Chain chain) {
  rs::candidates kept(logits);
  chain.process(kept);  // what the selector will see
  const std::vector<double> q = kept.probabilities();
  std::vector<double> expected(words.size(), 0.0), seen(words.size(), 0.0);
  for (rlhf::index_t i = 0; i < kept.size(); ++i) expected[kept.id(i)] = q[i];

  constexpr int draws = 40'000;
  const rlhf::counter_rng rng(/*seed=*/3, /*stream=*/0);
  for (int d = 0; d < draws; ++d) {
    rs::candidates c(logits);
    seen[chain.sample(c, rng, d).token] += 1.0 / draws;
  }
  std::printf("\n%s: keeps %lld words\n", name, static_cast<long long>(kept.size()));
  bool ok = true;
  for (std::size_t w = 0; w < words.size(); ++w) {
    std::printf("  %-10s %5.3f  %5.3f  %s\n", words[w].c_str(), expected[w], seen[w],
                std::string(static_cast<std::size_t>(60 * expected[w] + 0.5), '#').c_str());
    ok = ok && std::abs(seen[w] - expected[w]) <= 0.01 && (expected[w] > 0 || seen[w] == 0);
  }
  return ok;
}

int main() {
  // "The movie was ..." — a made-up next-word distribution with a long tail.
  const std::vector<std::string> words{"great", "good", "fun", "long", "boring", "okay", "bad", "a", "not", "so", "very", "the"};
  const std::vector<float> logits{2.6f, 2.3f, 1.6f, 1.2f, 1.0f, 0.9f, 0.5f, 0.3f, 0.1f, -0.2f, -0.5f, -1.0f};
  bool ok = show("full softmax (columns: probability, frequency)", words, logits, rs::chain{rs::categorical{}});
  ok &= show("top_k = 3", words, logits, rs::chain{rs::top_k{3}, rs::categorical{}});
  ok &= show("top_p = 0.9", words, logits, rs::chain{rs::top_p{0.9}, rs::categorical{}});
  // Order matters: temperature first sharpens the distribution, so the nucleus shrinks.
  ok &= show("temperature = 0.5, then top_p = 0.9", words, logits,
             rs::chain{rs::temperature{0.5}, rs::top_p{0.9}, rs::categorical{}});
  ok &= show("min_p = 0.2 (keep p >= 0.2 * p_max)", words, logits, rs::chain{rs::min_p{0.2}, rs::categorical{}});
  std::printf("\n%s\n", ok ? "every frequency matches its truncated, renormalised probability" : "MISMATCH");
  return ok ? 0 : 1;
}
