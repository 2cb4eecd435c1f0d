// SPDX-License-Identifier: MIT
// Every trainer of include/rlhf/train/ (SFT; sequence, prefix, value, FaRMA and GenARM reward models;
// DPO, IPO+JS; PPO, RLOO, GRPO), run twice from scratch on a tiny GPT-2, gives bit-identical weights on 1
// and 2 threads on each backend of rlhf::test::backends, and thrust_host agrees with Eigen (below).
//
// Tolerance (Eigen vs thrust_host): docs/transformer.md documents agreement within 1e-5 for ONE
// forward/backward; after training nothing is documented. AdamW's first steps (about lr · sign(g))
// amplify the float noise of near-zero gradients to a fraction of lr, so, as transformer_test.cpp
// does after its AdamW step, the runs use lr 1e-3 and weights must agree to a relative 1e-4 in
// float: |a - b| <= 1e-4 · max(1, |a|) element-wise, and ||a - b|| / (||a|| + ||b||) < 1e-5 (the
// criterion of dpo_test.cpp's cross-backend step). Measured: at most 1.5e-5 and 6e-7.
#include <catch2/catch.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <iomanip>
#include <span>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "rlhf/backend.hpp"
#include "rlhf/model/transformer.hpp"
#include "rlhf/sampling/any_sampler.hpp"
#include "rlhf/train/dpo.hpp"
#include "rlhf/train/farma.hpp"
#include "rlhf/train/genarm.hpp"
#include "rlhf/train/grpo.hpp"
#include "rlhf/train/ppo.hpp"
#include "rlhf/train/reward.hpp"
#include "rlhf/train/rloo.hpp"
#include "rlhf/train/sft.hpp"
#include "rlhf/train/value.hpp"
#include "support/backends.hpp"
#include "support/gradcheck.hpp"
#include "support/train_fixtures.hpp"

namespace {

using rlhf::index_t;
using rlhf::token_id;
namespace rt = rlhf::train;
using params = std::vector<double>;

// Tiny, but wide enough that 2 threads really split the kernels: 2 layers of width 48 give ~58k
// parameters (several 16k-element chunks in AdamW, the clipping norm and zero_grad), batches of
// more than 64 token rows split the bias and layernorm column sums, B × 2 heads are the attention
// tasks, and the decoding steps of the online trainers split their products into column tiles.
const rlhf::gpt2_config tiny{.vocab_size = 16, .n_positions = 16, .n_embd = 48, .n_layer = 2, .n_head = 2};
constexpr std::uint64_t model_seed = 21, critic_seed = 22;

/// Sets the backend's kernel threads (and OpenMP's default, which the samplers use) for a scope.
template <class B>
class thread_scope {
 public:
  explicit thread_scope(int threads) : saved_(B::num_threads()) {
#ifdef _OPENMP
    saved_omp_ = omp_get_max_threads();
#endif
    B::set_num_threads(threads);
  }
  ~thread_scope() {
    B::set_num_threads(saved_);
#ifdef _OPENMP
    omp_set_num_threads(saved_omp_);
#endif
  }
  thread_scope(const thread_scope&) = delete;
  thread_scope& operator=(const thread_scope&) = delete;

 private:
  int saved_;
  int saved_omp_ = 1;
};

/// The parameters of `models`, one after another, after a run that took `steps` applied steps.
template <class... Models>
params final_params(const rt::loop_result& r, index_t steps, const Models&... models) {
  INFO("steps " << r.steps << " (skipped " << r.skipped_steps << "), loss " << r.first_loss << " -> " << r.last_loss);
  CHECK(r.steps == steps);
  CHECK(r.skipped_steps == 0);  // every step updated the weights
  CHECK(std::isfinite(r.last_loss));
  params out;
  (
      [&] {
        const auto p = rlhf::test::params_of(models);
        out.insert(out.end(), p.begin(), p.end());
      }(),
      ...);
  return out;
}

/// `run` (a generic lambda `<class B>(int threads) -> params` that builds its models from
/// scratch, trains and returns final_params) on backend B with `threads` threads.
template <class B, class Run>
params train_on(int threads, const Run& run) {
  const thread_scope<B> scope(threads);
  return run.template operator()<B>(threads);
}

/// The first index where a and b differ in their bits (a.size() when none does).
std::size_t first_difference(const params& a, const params& b) {
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::bit_cast<std::uint64_t>(a[i]) != std::bit_cast<std::uint64_t>(b[i])) return i;
  return a.size();
}
std::string describe(const params& a, const params& b, std::size_t at) {
  std::ostringstream os;
  os << a.size() << " parameters; ";
  if (at == a.size()) os << "none differs";
  else os << "the first to differ is index " << at << ": " << std::setprecision(17) << a[at] << " vs " << b[at];
  return os.str();
}

/// The requirement: 1 and 2 threads give bit-identical weights on backend B, and a backend other
/// than Eigen agrees with Eigen's weights within the tolerance of the file comment.
template <class B, class Run>
void check_determinism(const Run& run) {
  const params one = train_on<B>(1, run), two = train_on<B>(2, run);
  REQUIRE(one.size() == two.size());
  REQUIRE(!one.empty());
  const std::size_t at = first_difference(one, two);
  INFO(B::name() << ", 1 vs 2 threads: " << describe(one, two, at));
  REQUIRE(at == one.size());
  if constexpr (!std::is_same_v<B, rlhf::backend::eigen>) {
    const params eigen = train_on<rlhf::backend::eigen>(2, run);
    REQUIRE(eigen.size() == one.size());
    std::size_t worst = 0;
    double worst_excess = 0.0, max_abs = 0.0;
    for (std::size_t i = 0; i < one.size(); ++i) {
      const double d = std::abs(one[i] - eigen[i]);
      max_abs = std::max(max_abs, d);
      const double excess = d / (1e-4 * std::max(1.0, std::abs(eigen[i])));
      if (excess > worst_excess) worst_excess = excess, worst = i;
    }
    const double rel = rlhf::test::relative_error(one, eigen);
    INFO(B::name() << " vs eigen: max |difference| " << max_abs << ", relative-norm error " << rel
                   << ", worst element " << worst << " (" << one[worst] << " vs " << eigen[worst] << ")");
    CHECK(worst_excess <= 1.0);
    CHECK(rel < 1e-5);
  }
}

// ---- data ----

template <class B>
using lm_t = rlhf::transformer<B, rlhf::lm_head>;
template <class B>
using value_t = rlhf::transformer<B, rlhf::scalar_head>;

const rt::optimizer_config adamw{.lr = 1e-3, .weight_decay = 0.01, .max_grad_norm = 1.0};

/// Demonstrations: prompts of 2 tokens, completions of 8 (a batch of 8 is 80 token rows).
std::vector<rlhf::data::sft_example> demonstrations(std::size_t n) {
  return rlhf::test::random_demonstrations(n, tiny.vocab_size, 3, 1, [](std::size_t) { return std::pair{2, 8}; });
}

/// Preference pairs: prompts of 1-3 tokens, responses of 1-6 tokens.
std::vector<rlhf::data::preference_example> pairs(std::size_t n) {
  return rlhf::test::random_pairs(n, tiny.vocab_size, 4, {.max_prompt = 3, .max_response = 6});
}

/// Completions with a reward in [-1, 1) for the value (CD-FUDGE) model.
std::vector<rlhf::data::scored_example> scored(std::size_t n) {
  const rlhf::counter_rng rng(5, 2);
  std::uint64_t c = 0;
  std::vector<rlhf::data::scored_example> out;
  for (std::size_t i = 0; i < n; ++i)
    out.push_back({rlhf::test::random_tokens(rng, c, 2, tiny.vocab_size),
                   rlhf::test::random_tokens(rng, c, 1 + static_cast<std::size_t>(rng.uniform(c++) * 7),
                                             tiny.vocab_size),
                   2.0 * rng.uniform(c++) - 1.0});
  return out;
}

std::vector<std::vector<token_id>> prompts(std::size_t n) {
  const rlhf::counter_rng rng(6, 3);
  std::uint64_t c = 0;
  std::vector<std::vector<token_id>> out;
  for (std::size_t i = 0; i < n; ++i) out.push_back(rlhf::test::random_tokens(rng, c, 3, tiny.vocab_size));
  return out;
}

/// Online RL's gold reward: the fraction of response tokens below 4.
struct low_token_reward {
  double operator()(std::span<const token_id>, std::span<const token_id> r) const {
    double n = 0;
    for (token_id t : r) n += t < 4 ? 1.0 : 0.0;
    return r.empty() ? 0.0 : n / static_cast<double>(r.size());
  }
};

/// 2 rollouts of 8 prompts × 2 samples of 6 tokens, 2 epochs × 2 minibatches: 8 optimizer steps.
rt::rollout_config online_config(int threads) {
  return {.optimizer = adamw,
          .rollouts = 2,
          .prompts_per_rollout = 8,
          .samples_per_prompt = 2,
          .epochs = 2,
          .minibatches = 2,
          .max_new_tokens = 6,
          .generation_batch = 16,
          .threads = threads,
          .kl_coef = 0.1,
          .seed = 9};
}

const auto sampler = rlhf::sampling::any_sampler::parse("");

/// No progress line (the tests' runs are short).
const rt::loop_options quiet = [] {
  rt::loop_options o;
  o.progress = false;
  return o;
}();

}  // namespace

TEMPLATE_LIST_TEST_CASE("determinism: SFT weights after 4 steps do not depend on the thread count",
                        "[train][determinism][sft]", rlhf::test::backends) {
  const auto data = demonstrations(32);
  check_determinism<TestType>([&]<class B>(int) {
    lm_t<B> lm(tiny, model_seed);
    rt::sft_trainer<lm_t<B>> trainer({.optimizer = adamw, .steps = 4, .batch_size = 8, .seed = 1, .shuffle = true},
                                     quiet);
    return final_params(trainer.train(lm, data), 4, lm);
  });
}

TEMPLATE_LIST_TEST_CASE("determinism: sequence and prefix reward models do not depend on the thread count",
                        "[train][determinism][reward]", rlhf::test::backends) {
  const auto data = pairs(24);
  for (const bool prefix : {false, true}) {
    INFO((prefix ? "prefix" : "sequence") << " reward model");
    check_determinism<TestType>([&]<class B>(int) {
      value_t<B> rm(tiny, model_seed);
      rt::reward_trainer<value_t<B>> trainer(
          {.optimizer = adamw, .steps = 4, .batch_size = 6, .seed = 2, .shuffle = true, .prefix = prefix},
          quiet);
      return final_params(trainer.train(rm, data), 4, rm);
    });
  }
}

TEMPLATE_LIST_TEST_CASE("determinism: the CD-FUDGE value model does not depend on the thread count",
                        "[train][determinism][value]", rlhf::test::backends) {
  const auto data = scored(32);
  check_determinism<TestType>([&]<class B>(int) {
    value_t<B> vm(tiny, model_seed);
    rt::value_trainer<value_t<B>> trainer({.optimizer = adamw, .steps = 4, .batch_size = 8, .seed = 3, .shuffle = true},
                                          quiet);
    return final_params(trainer.train(vm, data), 4, vm);
  });
}

TEMPLATE_LIST_TEST_CASE("determinism: the FaRMA token reward model does not depend on the thread count",
                        "[train][determinism][farma]", rlhf::test::backends) {
  const auto data = pairs(24);
  check_determinism<TestType>([&]<class B>(int) {
    using model_t = rlhf::transformer<B, rlhf::token_reward_head>;
    model_t m(tiny, model_seed);
    rt::farma_config cfg;
    cfg.l1 = {.optimizer = adamw, .steps = 3, .batch_size = 6, .seed = 4, .shuffle = true};
    rt::farma_trainer<model_t> trainer(cfg, quiet);  // L1, L2, L1, L2, L1, L2
    const index_t steps = trainer.planned_steps(static_cast<index_t>(data.size()));
    REQUIRE(steps == 6);
    return final_params(trainer.train(m, data), steps, m);
  });
}

TEMPLATE_LIST_TEST_CASE("determinism: the GenARM reward model does not depend on the thread count",
                        "[train][determinism][genarm]", rlhf::test::backends) {
  const auto data = pairs(24);
  check_determinism<TestType>([&]<class B>(int) {
    lm_t<B> m(tiny, model_seed);
    rt::genarm_config cfg;
    cfg.reward = {.optimizer = adamw, .steps = 4, .batch_size = 6, .seed = 5, .shuffle = true};
    cfg.beta_r = 0.5;
    rt::genarm_trainer<lm_t<B>> trainer(cfg, quiet);
    return final_params(trainer.train(m, data), 4, m);
  });
}

TEMPLATE_LIST_TEST_CASE("determinism: DPO and IPO with the JS divergence do not depend on the thread count",
                        "[train][determinism][dpo]", rlhf::test::backends) {
  const auto data = pairs(24);
  const rt::dpo_config cfg{.optimizer = adamw, .steps = 4, .batch_size = 6, .seed = 6, .shuffle = true, .beta = 0.2};
  SECTION("DPO: sigmoid loss, reverse KL") {
    check_determinism<TestType>([&]<class B>(int) {
      lm_t<B> policy(tiny, model_seed), ref(tiny, model_seed);
      rt::dpo_trainer<lm_t<B>> trainer(cfg, rlhf::loss::sigmoid(), rlhf::divergences::reverse_kl(), quiet);
      return final_params(trainer.train(policy, data, ref), 4, policy);
    });
  }
  SECTION("IPO loss, Jensen-Shannon divergence") {
    check_determinism<TestType>([&]<class B>(int) {
      lm_t<B> policy(tiny, model_seed), ref(tiny, model_seed);
      rt::dpo_trainer<lm_t<B>, rlhf::loss::ipo, rlhf::divergences::js> trainer(cfg, rlhf::loss::ipo(),
                                                                            rlhf::divergences::js(), quiet);
      return final_params(trainer.train(policy, data, ref), 4, policy);
    });
  }
}

TEMPLATE_LIST_TEST_CASE("determinism: PPO's policy and critic do not depend on the thread count",
                        "[train][determinism][ppo][online]", rlhf::test::backends) {
  const auto p = prompts(16);
  check_determinism<TestType>([&]<class B>(int threads) {
    lm_t<B> policy(tiny, model_seed), ref(tiny, model_seed);
    value_t<B> critic(tiny, critic_seed);
    low_token_reward gold;
    const auto cfg = online_config(threads);
    rt::ppo_trainer<lm_t<B>, value_t<B>, low_token_reward> trainer(cfg, {.critic_optimizer = adamw},
                                                                   quiet);
    return final_params(trainer.train(policy, critic, ref, gold, p, sampler), cfg.total_steps(), policy, critic);
  });
}

TEMPLATE_LIST_TEST_CASE("determinism: RLOO's policy does not depend on the thread count",
                        "[train][determinism][rloo][online]", rlhf::test::backends) {
  const auto p = prompts(16);
  check_determinism<TestType>([&]<class B>(int threads) {
    lm_t<B> policy(tiny, model_seed), ref(tiny, model_seed);
    low_token_reward gold;
    const auto cfg = online_config(threads);
    rt::rloo_trainer<lm_t<B>> trainer(cfg, {}, quiet);
    return final_params(trainer.train(policy, ref, gold, p, sampler), cfg.total_steps(), policy);
  });
}

TEMPLATE_LIST_TEST_CASE("determinism: GRPO's policy does not depend on the thread count",
                        "[train][determinism][grpo][online]", rlhf::test::backends) {
  const auto p = prompts(16);
  check_determinism<TestType>([&]<class B>(int threads) {
    lm_t<B> policy(tiny, model_seed), ref(tiny, model_seed);
    low_token_reward gold;
    const auto cfg = online_config(threads);
    rt::grpo_trainer<lm_t<B>> trainer(cfg, rt::grpo_method{}, quiet);
    return final_params(trainer.train(policy, ref, gold, p, sampler), cfg.total_steps(), policy);
  });
}
