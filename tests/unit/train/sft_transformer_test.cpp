// SPDX-License-Identifier: MIT
// SFT of the GPT-2-family transformer lowers held-out loss on a generated corpus.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "rlhf/backend.hpp"
#include "rlhf/model/transformer.hpp"
#include "rlhf/train/sft.hpp"

namespace {

struct record {
  std::vector<rlhf::token_id> prompt_ids, completion_ids;
};

// A noisy counter: next = (previous + 1 + noise) mod V with noise = 1 one time in five. Its
// conditional entropy (0.50 nats) is far below log V = 2.08, so learning is visible.
std::vector<record> corpus(std::size_t n, rlhf::index_t v, std::uint64_t seed) {
  rlhf::counter_rng rng(seed, 3);
  std::uint64_t c = 0;
  std::vector<record> out;
  for (std::size_t i = 0; i < n; ++i) {
    std::vector<rlhf::token_id> seq{static_cast<rlhf::token_id>(rng.uniform(c++) * static_cast<double>(v)),
                                    static_cast<rlhf::token_id>(rng.uniform(c++) * static_cast<double>(v))};
    while (seq.size() < 10) {
      const auto noise = rng.uniform(c++) < 0.2 ? 1 : 0;
      seq.push_back(static_cast<rlhf::token_id>((seq.back() + 1 + noise) % v));
    }
    out.push_back({{seq.begin(), seq.begin() + 2}, {seq.begin() + 2, seq.end()}});
  }
  return out;
}

}  // namespace

TEST_CASE("SFT of a tiny transformer lowers held-out loss on a generated corpus", "[train][sft][transformer]") {
  using lm_t = rlhf::transformer<rlhf::backend::eigen, rlhf::lm_head>;
  constexpr rlhf::index_t V = 8;
  const auto train = corpus(128, V, 1), held_out = corpus(32, V, 2);
  lm_t lm({.vocab_size = V, .n_positions = 16, .n_embd = 16, .n_layer = 1, .n_head = 2}, 7);
  const double before = rlhf::train::evaluate_nll(lm, held_out, 32, 16).mean_nll;
  CHECK(before == Approx(std::log(8.0)).margin(0.15));  // GPT-2 init is near uniform
  std::vector<double> losses;
  rlhf::train::sft_trainer<lm_t> trainer(
      {.optimizer = {.lr = 1e-2, .warmup = 10, .weight_decay = 0.01, .max_grad_norm = 1.0},
       .steps = 60,
       .batch_size = 16,
       .shuffle = true},
      {.on_step = [&](const auto& m) { losses.push_back(m.loss); }});
  trainer.train(lm, train);
  const double after = rlhf::train::evaluate_nll(lm, held_out, 32, 16).mean_nll;
  INFO("held-out NLL before " << before << ", after " << after << ", last train loss " << losses.back());
  CHECK(after < before - 0.5);
  CHECK(after < 1.0);  // the corpus entropy is 0.50 nats
  CHECK(losses.back() < losses.front());
}
