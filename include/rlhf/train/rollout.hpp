// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Online RL from a reward (step 3 of the RLHF recipe, Ouyang et al. 2022; ALGORITHMS.md §3): the
/// part PPO, RLOO and GRPO share. Each rollout samples k responses per prompt from the current
/// policy (rlhf::generate with any sampler, batched, KV cache), scores them (a reward model read at
/// the last token, or a gold function), reads log π_old and log π_ref of every response token, and
/// hands the buffer to the method, which turns it into per-token advantages; then `epochs` passes
/// of `minibatches` optimizer steps minimise the clipped surrogate (Schulman et al. 2017)
///   L = -1/N Σ_t min(ρ_t A_t, clip(ρ_t, 1-ε, 1+ε) A_t),  ρ_t = π(a_t)/π_old(a_t),
/// plus the method's own terms (PPO's critic, GRPO's KL loss). The methods differ only in the
/// advantages (method policies: ppo.hpp, rloo.hpp, grpo.hpp).
///
/// The KL penalty enters the reward (PPO, RLOO, GRPO's k1 variant) as -β k(ℓ_t) per token with
/// ℓ_t = log π_old - log π_ref; with k1 its expected gradient is exactly that of -β KL(π‖π_ref),
/// so the fixed point is the closed form π* (ALGORITHMS.md §3, §4; the bandit oracle checks it).
/// β follows the adaptive controller when target_kl > 0 (Ziegler et al. 2019).
/// Scores: a response without EOS can be penalised (TRL's missing_eos_penalty), scores can be
/// clipped to ±reward_clip and normalised by running moments (OpenRLHF's normalize_reward).
///
/// Data parallelism (the loop's communicator, P processes): a rollout takes P × prompts_per_rollout
/// prompts; each process samples, reads and scores a contiguous shard of its rows (each row from
/// its own sampling stream, so the tokens are those one process would draw), every process gathers
/// the whole rollout and computes the same advantages, and each optimizer step's minibatch is split
/// in shards whose losses are divided by the minibatch's global token count: P processes with
/// --batch-size b give the run of one process with P·b.
///
/// Reproducibility: rollout i samples with the seed drawn from the stream (rollout, i) of the
/// run's seed and takes its prompts and minibatch orders from seeded shuffles, so the run is a
/// function of (seed, weights) and a resume at a rollout boundary continues bit-identically.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <filesystem>
#include <numeric>
#include <optional>
#include <ranges>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <xtensor/xtensor.hpp>

#include "rlhf/core/error.hpp"
#include "rlhf/core/rng.hpp"
#include "rlhf/data/batching.hpp"
#include "rlhf/data/collate.hpp"
#include "rlhf/data/response_view.hpp"
#include "rlhf/decoding/generate.hpp"
#include "rlhf/dist/communicator.hpp"
#include "rlhf/model/compatibility.hpp"
#include "rlhf/model/concepts.hpp"
#include "rlhf/model/sequence_rewards.hpp"
#include "rlhf/objective/adaptive_kl.hpp"
#include "rlhf/objective/kl_estimator.hpp"
#include "rlhf/objective/ppo_clip_loss.hpp"
#include "rlhf/train/optimizer_config.hpp"
#include "rlhf/train/policy_model.hpp"
#include "rlhf/train/training_loop.hpp"

namespace rlhf::train {

// ---- reward sources ----

/// A gold reward: `f(prompt, response) -> double` on token ids.
template <class F>
concept reward_function = requires(const F& f, std::span<const token_id> p, std::span<const token_id> r) {
  { f(p, r) } -> std::convertible_to<double>;
};

/// What online RL optimises against: a value model read at the last token (a trained sequence
/// reward model) or a reward_function.
template <class R>
concept reward_source = value_model<R> || reward_function<R>;

// ---- settings ----

/// Settings every online method shares (CLI.md `rlhf ppo|rloo|grpo`).
struct rollout_config {
  optimizer_config optimizer{};     ///< the policy's optimizer (--lr, ...)
  index_t rollouts = 10;            ///< rollouts of the run (--steps)
  index_t prompts_per_rollout = 8;  ///< prompts sampled per rollout and process (--batch-size)
  index_t samples_per_prompt = 1;   ///< k responses per prompt (--samples; RLOO and GRPO need >= 2)
  index_t epochs = 1;               ///< passes over each rollout (--ppo-epochs)
  index_t minibatches = 1;          ///< optimizer steps per pass (--minibatches)
  index_t max_new_tokens = 32;      ///< response budget (--max-new-tokens)
  index_t min_new_tokens = 0;
  token_id eos_id = -1;             ///< -1: none
  index_t generation_batch = 16;    ///< rows per decode session and per scoring pass
  int threads = 0;                  ///< sampling threads (0 = OpenMP default)
  double kl_coef = 0.05;            ///< β (--kl-coef), the initial one under an adaptive controller
  kl_estimator estimator = kl_estimator::k1;  ///< --kl-estimator (only k1 gives the exact gradient)
  double target_kl = 0.0;           ///< --target-kl: adaptive β (Ziegler et al. 2019); 0 = fixed β
  double kl_horizon = 10000.0;      ///< the controller's horizon, in samples
  double clip_eps = 0.2;            ///< ε of the clipped surrogate
  double missing_eos_penalty = 0.0; ///< subtracted from the score of a response without EOS
  double reward_clip = 0.0;         ///< scores clipped to [-c, c]; 0 = off
  bool normalize_rewards = false;   ///< scores standardised by running mean and std over rollouts
  double ratio_threshold = 10.0;    ///< a minibatch whose mean ratio exceeds it is skipped and counted
  std::uint64_t seed = 0;
  token_id pad_id = 0;

  index_t steps_per_rollout() const noexcept { return epochs * minibatches; }
  index_t total_steps() const noexcept { return rollouts * steps_per_rollout(); }

  /// @throws rlhf::invalid_argument naming the option and its allowed range
  void validate(std::string_view who) const {
    optimizer.validate(std::string(who));
    const auto positive = [&](index_t v, const char* opt) {
      RLHF_EXPECTS(v >= 1, who, ": ", opt, " must be >= 1 (got ", v, ")");
    };
    positive(rollouts, "--steps (rollouts)");
    positive(prompts_per_rollout, "--batch-size (prompts per rollout)");
    positive(samples_per_prompt, "--samples (responses per prompt)");
    positive(epochs, "--ppo-epochs");
    positive(minibatches, "--minibatches");
    positive(max_new_tokens, "--max-new-tokens");
    positive(generation_batch, "the generation batch");
    RLHF_EXPECTS(minibatches <= prompts_per_rollout * samples_per_prompt, who, ": --minibatches ", minibatches,
                 " exceeds the ", prompts_per_rollout * samples_per_prompt, " responses of a rollout");
    RLHF_EXPECTS(min_new_tokens >= 0 && min_new_tokens <= max_new_tokens, who, ": --min-new-tokens must be in [0, ",
                 max_new_tokens, "] (got ", min_new_tokens, ")");
    RLHF_EXPECTS(std::isfinite(kl_coef) && kl_coef >= 0, who, ": --kl-coef must be >= 0 (got ", kl_coef, ")");
    RLHF_EXPECTS(std::isfinite(target_kl) && target_kl >= 0, who, ": --target-kl must be >= 0 (0 = a fixed β; got ",
                 target_kl, ")");
    RLHF_EXPECTS(target_kl == 0 || kl_coef > 0, who, ": --target-kl needs --kl-coef > 0 to adapt from");
    RLHF_EXPECTS(std::isfinite(kl_horizon) && kl_horizon > 0, who, ": the KL horizon must be > 0");
    RLHF_EXPECTS(clip_eps > 0 && clip_eps < 1, who, ": --clip-range must be in (0, 1) (got ", clip_eps, ")");
    RLHF_EXPECTS(std::isfinite(missing_eos_penalty) && missing_eos_penalty >= 0, who,
                 ": --missing-eos-penalty must be >= 0 (got ", missing_eos_penalty, ")");
    RLHF_EXPECTS(std::isfinite(reward_clip) && reward_clip >= 0, who, ": --reward-clip must be >= 0 (0 = off; got ",
                 reward_clip, ")");
    RLHF_EXPECTS(ratio_threshold > 1, who, ": the ratio threshold must be > 1 (got ", ratio_threshold, ")");
    RLHF_EXPECTS(pad_id >= 0, who, ": pad id must be >= 0 (got ", pad_id, ")");
  }
};

// ---- the rollout buffer ----

/// One rollout: `rows` = prompts × k responses, row r the (r % k)-th sample of prompt r / k.
/// Per-token vectors are response-aligned (entry j = response token j).
struct rollout_buffer {
  index_t iteration = 0;
  index_t samples_per_prompt = 1;
  std::vector<std::vector<token_id>> prompts, responses;  ///< per row
  std::vector<std::vector<double>> old_logps, ref_logps;  ///< log π_old, log π_ref per token
  std::vector<std::vector<double>> advantages, returns, old_values;  ///< filled by the method
  std::vector<double> raw_scores;  ///< the reward source's score
  std::vector<double> scores;      ///< after the EOS penalty, clipping and normalisation
  std::vector<double> sequence_kl; ///< Σ_t k(ℓ_t) with the configured estimator
  std::vector<char> ended;         ///< 1 if the response ended with EOS
  index_t new_tokens = 0;
  double seconds = 0.0;            ///< generation + scoring wall time

  index_t rows() const noexcept { return static_cast<index_t>(responses.size()); }
  /// The rows `idx` as one right-padded batch (prompt ⊕ response, response_mask on the response).
  token_batch collate(std::span<const std::size_t> idx, token_id pad_id) const {
    std::vector<data::sequence_pair> pairs;
    pairs.reserve(idx.size());
    for (std::size_t r : idx) pairs.push_back({prompts[r], responses[r]});
    return data::collate(std::span<const data::sequence_pair>(pairs), {.pad_id = pad_id});
  }
  /// Per-token vectors of rows `idx` as a (|idx|, R) matrix, R the longest of those rows.
  static xt::xtensor<double, 2> matrix(const std::vector<std::vector<double>>& per_row, std::span<const std::size_t> idx) {
    std::size_t cols = 0;
    for (std::size_t r : idx) cols = std::max(cols, per_row[r].size());
    xt::xtensor<double, 2> m = xt::zeros<double>({idx.size(), cols});
    for (std::size_t i = 0; i < idx.size(); ++i)
      std::copy(per_row[idx[i]].begin(), per_row[idx[i]].end(), &m(i, 0));
    return m;
  }
  std::vector<std::int32_t> lengths(std::span<const std::size_t> idx) const {
    std::vector<std::int32_t> out;
    for (std::size_t r : idx) out.push_back(static_cast<std::int32_t>(responses[r].size()));
    return out;
  }
  std::vector<std::size_t> all_rows() const {
    std::vector<std::size_t> idx(responses.size());
    std::iota(idx.begin(), idx.end(), std::size_t{0});
    return idx;
  }
};

namespace detail {

/// The whole rollout on every process: each process's rows (responses, EOS flags, log π_old,
/// log π_ref, raw scores, in row order), gathered in rank order — the order of the shards.
inline void gather_rows(const dist::any_communicator& comm, rollout_buffer& mine, rollout_buffer& all) {
  const auto keep = [&](rollout_buffer& from) {
    all.responses = std::move(from.responses);
    all.ended = std::move(from.ended);
    all.old_logps = std::move(from.old_logps);
    all.ref_logps = std::move(from.ref_logps);
    all.raw_scores = std::move(from.raw_scores);
    all.new_tokens = from.new_tokens;
  };
  if (comm.size() == 1) {
    keep(mine);
    return;
  }
  const nlohmann::json j{{"responses", mine.responses}, {"ended", mine.ended},   {"old", mine.old_logps},
                         {"ref", mine.ref_logps},       {"scores", mine.raw_scores}, {"new_tokens", mine.new_tokens}};
  rollout_buffer merged;
  for (const auto& text : comm.all_gather(j.dump())) {
    const auto part = nlohmann::json::parse(text);
    const auto append = [](auto& to, const nlohmann::json& from) {
      for (const auto& x : from) to.push_back(x.template get<typename std::remove_reference_t<decltype(to)>::value_type>());
    };
    append(merged.responses, part["responses"]);
    append(merged.ended, part["ended"]);
    append(merged.old_logps, part["old"]);
    append(merged.ref_logps, part["ref"]);
    append(merged.raw_scores, part["scores"]);
    merged.new_tokens += part["new_tokens"].get<index_t>();
  }
  keep(merged);
}

template <reward_source R>
std::vector<double> score_rows(R& reward, const rollout_buffer& buf, std::span<const std::size_t> idx, token_id pad_id) {
  std::vector<double> out;
  if constexpr (value_model<R>) {
    const auto r = sequence_rewards(reward, buf.collate(idx, pad_id));
    out.assign(r.begin(), r.end());
  } else {
    for (std::size_t i : idx)
      out.push_back(static_cast<double>(reward(std::span<const token_id>(buf.prompts[i]),
                                               std::span<const token_id>(buf.responses[i]))));
  }
  for (std::size_t i = 0; i < out.size(); ++i)
    if (!std::isfinite(out[i])) [[unlikely]]
      RLHF_THROW(numerical_error, "rollout: the reward of a sampled response is ", out[i],
                 "; the reward model or function must return finite scores");
  return out;
}

/// Per-token log-probs of `idx` rows under lm's inference path, appended to `dst`.
template <language_model LM>
void read_log_probs(LM& lm, const rollout_buffer& buf, std::span<const std::size_t> idx, token_id pad_id,
                    std::vector<std::vector<double>>& dst) {
  const auto batch = buf.collate(idx, pad_id);
  const data::response_view view(batch);
  const auto g = view.gather(lm.score(batch));
  for (std::size_t i = 0; i < idx.size(); ++i) {
    const auto len = static_cast<std::size_t>(view.length(static_cast<index_t>(i)));
    dst.emplace_back(&g(i, 0), &g(i, 0) + len);
  }
}

/// Running mean and variance (Welford / Chan) of scores over rollouts.
struct running_moments {
  double mean = 0.0, m2 = 0.0;
  double count = 0.0;
  void add(std::span<const double> xs) {
    for (double x : xs) {
      count += 1.0;
      const double d = x - mean;
      mean += d / count;
      m2 += d * (x - mean);
    }
  }
  double stddev() const noexcept { return count > 1 ? std::sqrt(m2 / (count - 1.0)) : 1.0; }
};

/// Explained variance 1 - Var(G - V)/Var(G) over every token of the rollout.
inline double explained_variance(const rollout_buffer& buf) {
  double n = 0, sg = 0, sgg = 0, se = 0, see = 0;
  for (std::size_t r = 0; r < buf.returns.size(); ++r)
    for (std::size_t t = 0; t < buf.returns[r].size(); ++t) {
      const double g = buf.returns[r][t], e = g - buf.old_values[r][t];
      n += 1;
      sg += g;
      sgg += g * g;
      se += e;
      see += e * e;
    }
  if (n < 2) return 0.0;
  const double vg = sgg / n - (sg / n) * (sg / n), ve = see / n - (se / n) * (se / n);
  return vg > 0 ? 1.0 - ve / vg : 0.0;
}

}  // namespace detail

/// The online trainer: rollouts, the method's advantages, clipped-surrogate minibatch steps.
/// @tparam Policy a policy_model
/// @tparam Method the advantage policy (ppo_method, rloo_method, grpo_method), with
///   `name`, `min_samples`, `penalty_in_reward()`, `advantages(buf, beta, config)`, and
///   `minibatch(idx, buf, view, new_logps, d_new, step, out)` adding its own loss terms
///   (gradients w.r.t. the response-aligned new log-probs into d_new) and training its own models.
template <policy_model Policy, class Method>
class online_trainer {
 public:
  using loop_type = training_loop<Policy>;

  /// @throws rlhf::invalid_argument for a setting outside its range
  online_trainer(const rollout_config& cfg, Method method, loop_options options = {})
      : config_((cfg.validate(Method::name), cfg)), method_(std::move(method)),
        loop_(cfg.optimizer, named(std::move(options), cfg.seed)), beta_(cfg.kl_coef) {
    RLHF_EXPECTS(cfg.samples_per_prompt >= Method::min_samples, Method::name, ": --samples must be >= ",
                 Method::min_samples, " (got ", cfg.samples_per_prompt, "); the baseline is taken over the ",
                 "other responses of the same prompt");
    RLHF_EXPECTS(loop_.options().save_every % cfg.steps_per_rollout() == 0, Method::name, ": --save-every (",
                 loop_.options().save_every, ") must be a multiple of the optimizer steps per rollout (",
                 cfg.steps_per_rollout(), " = --ppo-epochs x --minibatches): checkpoints are taken between rollouts");
  }

  const rollout_config& config() const noexcept { return config_; }
  Method& method() noexcept { return method_; }
  loop_type& loop() noexcept { return loop_; }
  /// The KL coefficient now (it moves under --target-kl).
  double kl_coef() const noexcept { return beta_; }
  /// The last rollout (empty before the first).
  const rollout_buffer& last_rollout() const noexcept { return buffer_; }

  /// Runs the remaining rollouts on `policy` against `reference` and `reward`, sampling with
  /// `sampler`, prompts (token ids, each non-empty) taken in seeded-shuffled epochs.
  /// `eval(policy) -> json` runs every eval_every optimizer steps and after the last.
  /// @throws rlhf::invalid_argument for no prompts, a prompt with no room for a response, or
  ///         models of different vocabularies; rlhf::numerical_error for a non-finite reward
  template <language_model Ref, reward_source Reward, sampler Sampler, class EvalFn = no_evaluation>
  loop_result train(Policy& policy, Ref& reference, Reward& reward, std::span<const std::vector<token_id>> prompts,
                    const Sampler& sampler, EvalFn&& eval = {}) {
    check(policy, reference, reward, prompts);
    std::optional<index_t> current;
    const index_t per = config_.steps_per_rollout();
    loop_.set_trainer_state([this](index_t) { return state(); });
    const auto step = [&](Policy& m, index_t s) {
      const index_t it = s / per, within = s % per;
      if (!current || *current != it) {
        collect(m, reference, reward, prompts, sampler, it);
        penalty_beta_ = beta_;
        method_.advantages(buffer_, penalty_beta_, config_);
        update_kl_coef();
        current = it;
        order_epoch_ = -1;
      }
      return minibatch_step(m, s, within / config_.minibatches, within % config_.minibatches);
    };
    return loop_.run(policy, config_.total_steps(), step, std::forward<EvalFn>(eval));
  }

  /// Restores a checkpoint of this trainer: the policy and its optimizer (training_loop::resume),
  /// β and the reward normaliser; the method restores its own models (PPO's critic).
  nlohmann::json resume(Policy& policy, const std::filesystem::path& checkpoint) {
    const nlohmann::json st = loop_.resume(policy, checkpoint);
    beta_ = st.value("kl_coef", beta_);
    moments_.mean = st.value("reward_mean", 0.0);
    moments_.m2 = st.value("reward_m2", 0.0);
    moments_.count = st.value("reward_count", 0.0);
    method_.resume(checkpoint, loop_.completed_steps());
    return st;
  }

 private:
  static loop_options named(loop_options o, std::uint64_t seed) {
    if (o.name == "train") o.name = std::string(Method::name);
    o.seed = seed;
    return o;
  }

  nlohmann::json state() const {
    return {{"kl_coef", beta_},
            {"reward_mean", moments_.mean},
            {"reward_m2", moments_.m2},
            {"reward_count", moments_.count}};
  }

  template <class Ref, class Reward>
  void check(const Policy& policy, const Ref& reference, const Reward& reward,
             std::span<const std::vector<token_id>> prompts) const {
    RLHF_EXPECTS(!prompts.empty(), Method::name, ": no prompts; give at least one");
    expect_same_vocabulary(policy, "policy", reference, "reference model");
    if constexpr (value_model<Reward>) expect_same_vocabulary(policy, "policy", reward, "reward model");
    method_.check(policy);
    const auto vocab = static_cast<index_t>(policy.vocab_size());
    for (std::size_t i = 0; i < prompts.size(); ++i) {
      RLHF_EXPECTS(!prompts[i].empty(), Method::name, ": prompt ", i + 1, " is empty; give at least one token");
      for (token_id t : prompts[i])
        RLHF_EXPECTS(t >= 0 && t < vocab, Method::name, ": prompt ", i + 1, " holds token id ", t,
                     " outside the vocabulary [0, ", vocab, ")");
      const auto need = static_cast<index_t>(prompts[i].size()) + config_.max_new_tokens;
      RLHF_EXPECTS(need <= static_cast<index_t>(policy.max_positions()), Method::name, ": prompt ", i + 1, " has ",
                   prompts[i].size(), " tokens, which leaves no room for --max-new-tokens ", config_.max_new_tokens,
                   " within the policy's ", policy.max_positions(), " positions; shorten it or lower --max-new-tokens");
      if constexpr (value_model<Reward>)
        RLHF_EXPECTS(need <= static_cast<index_t>(reward.max_positions()), Method::name, ": prompt ", i + 1,
                     " with --max-new-tokens ", config_.max_new_tokens, " exceeds the reward model's ",
                     reward.max_positions(), " positions");
    }
  }

  /// Rollout `it`: prompts, samples, scores, log π_old, log π_ref.
  template <class Ref, class Reward, class Sampler>
  void collect(Policy& policy, Ref& reference, Reward& reward, std::span<const std::vector<token_id>> prompts,
               const Sampler& sampler, index_t it) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto n = static_cast<index_t>(prompts.size()), k = config_.samples_per_prompt;
    buffer_ = rollout_buffer{};
    buffer_.iteration = it;
    buffer_.samples_per_prompt = k;
    std::vector<std::vector<token_id>> rows;
    // --batch-size is per process (as TRL's per-device batch): P processes take P times the prompts.
    const index_t per_rollout = config_.prompts_per_rollout * loop_.comm().size();
    for (index_t i = 0; i < per_rollout; ++i) {
      const index_t pos = it * per_rollout + i, epoch = pos / n;
      if (epoch != prompt_epoch_) {
        prompt_order_ = data::shuffled_indices(n, config_.seed, static_cast<std::uint64_t>(epoch));
        prompt_epoch_ = epoch;
      }
      for (index_t j = 0; j < k; ++j) rows.push_back(prompts[static_cast<std::size_t>(prompt_order_[static_cast<std::size_t>(pos % n)])]);
    }
    const counter_rng rng(config_.seed, rng_stream(rng_purpose::rollout, static_cast<std::uint64_t>(it)));
    const auto bits = rng.bits(0);
    generate_options gen{.max_new_tokens = config_.max_new_tokens,
                         .min_new_tokens = config_.min_new_tokens,
                         .eos_id = config_.eos_id,
                         .seed = static_cast<std::uint64_t>(bits[0]) << 32 | bits[1],
                         .batch_size = config_.generation_batch,
                         .threads = config_.threads};
    // Data parallelism: each process samples, reads and scores its shard of the rows (sampling
    // from the rows' own streams, so the tokens are those of one process), then every process
    // gathers the whole rollout and computes the same advantages.
    const auto& comm = loop_.comm();
    const auto part = dist::shard(rows.size(), comm.rank(), comm.size());
    gen.first_index = part.first;
    rollout_buffer mine;
    mine.prompts.assign(rows.begin() + static_cast<std::ptrdiff_t>(part.first),
                        rows.begin() + static_cast<std::ptrdiff_t>(part.last));
    if (!mine.prompts.empty()) {
      auto out = generate(policy, std::span<const std::vector<token_id>>(mine.prompts), sampler, gen);
      for (auto& g : out.sequences) {
        mine.ended.push_back(g.finish == finish_reason::eos ? 1 : 0);
        mine.new_tokens += static_cast<index_t>(g.tokens.size());
        mine.responses.push_back(std::move(g.tokens));
      }
    }
    const auto local = mine.all_rows();
    for (std::size_t i = 0; i < local.size(); i += static_cast<std::size_t>(config_.generation_batch)) {
      const auto idx = std::span<const std::size_t>(local).subspan(
          i, std::min(local.size() - i, static_cast<std::size_t>(config_.generation_batch)));
      detail::read_log_probs(policy, mine, idx, config_.pad_id, mine.old_logps);
      detail::read_log_probs(reference, mine, idx, config_.pad_id, mine.ref_logps);
      const auto s = detail::score_rows(reward, mine, idx, config_.pad_id);
      mine.raw_scores.insert(mine.raw_scores.end(), s.begin(), s.end());
    }
    detail::gather_rows(comm, mine, buffer_);
    buffer_.prompts = std::move(rows);
    const auto all = buffer_.all_rows();
    buffer_.scores = buffer_.raw_scores;
    for (std::size_t r = 0; r < all.size(); ++r) {
      if (config_.eos_id >= 0 && !buffer_.ended[r]) buffer_.scores[r] -= config_.missing_eos_penalty;
      if (config_.reward_clip > 0) buffer_.scores[r] = std::clamp(buffer_.scores[r], -config_.reward_clip, config_.reward_clip);
      double kl = 0.0;
      for (std::size_t t = 0; t < buffer_.old_logps[r].size(); ++t)
        kl += kl_estimate(config_.estimator, buffer_.old_logps[r][t] - buffer_.ref_logps[r][t]);
      buffer_.sequence_kl.push_back(kl);
    }
    if (config_.normalize_rewards) {
      moments_.add(buffer_.scores);
      const double sd = std::max(moments_.stddev(), 1e-8);
      for (double& x : buffer_.scores) x = (x - moments_.mean) / sd;
    }
    buffer_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }

  /// The controller sees the last rollout's KL; the new β applies from the next rollout.
  void update_kl_coef() {
    if (config_.target_kl <= 0) return;
    adaptive_kl_controller ctl(beta_, config_.target_kl, config_.kl_horizon);
    double mean_kl = 0.0;
    for (double x : buffer_.sequence_kl) mean_kl += x;
    mean_kl /= static_cast<double>(buffer_.sequence_kl.size());
    beta_ = ctl.update(mean_kl, buffer_.rows());
  }

  /// Optimizer step `s`: minibatch `mb` of pass `epoch` over the rollout.
  step_output minibatch_step(Policy& m, index_t s, index_t epoch, index_t mb) {
    if (epoch != order_epoch_) {
      const auto p = data::shuffled_indices(buffer_.rows(), config_.seed ^ 0x5DEECE66DULL,
                                            static_cast<std::uint64_t>(buffer_.iteration * config_.epochs + epoch));
      order_.assign(p.begin(), p.end());
      order_epoch_ = epoch;
    }
    const std::size_t rows = order_.size(), per = (rows + static_cast<std::size_t>(config_.minibatches) - 1) /
                                                    static_cast<std::size_t>(config_.minibatches);
    const std::size_t first = std::min(rows, static_cast<std::size_t>(mb) * per), last = std::min(rows, first + per);
    const auto global = std::span<const std::size_t>(order_).subspan(first, last - first);
    step_output out;
    if (global.empty()) {
      out.skip = true;
      return out;
    }
    // This process's shard of the minibatch; the token means are over the whole minibatch: each
    // process's loss and gradients are its sums divided by the global token count.
    const auto& comm = loop_.comm();
    const auto part = dist::shard(global.size(), comm.rank(), comm.size());
    const auto idx = global.subspan(part.first, part.size());
    const std::vector<std::int32_t> all_lengths = buffer_.lengths(global);
    const double global_tokens = std::accumulate(all_lengths.begin(), all_lengths.end(), 0.0);
    if (idx.empty()) {  // nothing of this minibatch here; the method still joins its collectives
      const token_batch nothing;
      const data::response_view none(nothing);
      xt::xtensor<double, 2> no_grad;
      method_.minibatch(idx, buffer_, none, no_grad, no_grad, s, config_, out, global_tokens);
      return out;
    }
    const token_batch batch = buffer_.collate(idx, config_.pad_id);
    const data::response_view view(batch);
    const auto lengths = buffer_.lengths(idx);
    auto logp = m.forward(batch);
    const auto new_logps = view.gather(logp);
    const auto old = rollout_buffer::matrix(buffer_.old_logps, idx);
    const auto adv = rollout_buffer::matrix(buffer_.advantages, idx);
    const ppo_clip_result clip = ppo_clip_loss(new_logps, old, adv, lengths, config_.clip_eps);
    xt::xtensor<double, 2> d_new = clip.grad;
    out.loss = clip.loss;
    method_.minibatch(idx, buffer_, view, new_logps, d_new, s, config_, out, global_tokens);
    out.tokens = clip.tokens;
    out.processed_tokens = static_cast<index_t>(xt::sum(batch.lengths)());
    const double share = global_tokens > 0 ? static_cast<double>(clip.tokens) / global_tokens : 0.0;
    out.loss *= share;
    d_new *= share;
    if (!std::isfinite(clip.mean_ratio) || clip.mean_ratio > config_.ratio_threshold) {
      out.skip = true;
      ++skipped_minibatches_;
    } else if (!idx.empty()) {
      using out_t = decltype(logp);
      out_t d_out = view.template scatter<typename out_t::value_type>(d_new);
      m.backward(d_out);
    }
    // Rollout statistics (the same on every step of a rollout) and this minibatch's.
    double score = 0, raw = 0, kl = 0, ent = 0, tokens = 0, ended = 0;
    for (index_t r = 0; r < buffer_.rows(); ++r) {
      score += buffer_.scores[static_cast<std::size_t>(r)];
      raw += buffer_.raw_scores[static_cast<std::size_t>(r)];
      kl += buffer_.sequence_kl[static_cast<std::size_t>(r)];
      ended += buffer_.ended[static_cast<std::size_t>(r)];
      for (double lp : buffer_.old_logps[static_cast<std::size_t>(r)]) {
        ent -= lp;
        tokens += 1;
      }
    }
    const double inv = 1.0 / static_cast<double>(buffer_.rows());
    out.metrics["objective/scores"] = raw * inv;
    out.metrics["objective/kl"] = kl * inv;
    out.metrics["objective/rlhf_reward"] = score * inv - penalty_beta_ * kl * inv;
    out.metrics["objective/entropy"] = tokens > 0 ? ent / tokens : 0.0;
    out.metrics["objective/kl_coef"] = penalty_beta_;
    out.metrics["policy/clipfrac"] = clip.clip_fraction;
    out.metrics["policy/approxkl"] = clip.approx_kl;
    out.metrics["policy/ratio"] = clip.mean_ratio;
    out.metrics["rollout/eos_fraction"] = ended * inv;
    out.metrics["rollout/mean_length"] = static_cast<double>(buffer_.new_tokens) * inv;
    out.metrics["rollout/seconds"] = buffer_.seconds;
    out.metrics["rollout/tokens_per_second"] = buffer_.seconds > 0 ? static_cast<double>(buffer_.new_tokens) / buffer_.seconds : 0.0;
    out.metrics["rollout/skipped_minibatches"] = skipped_minibatches_;
    return out;
  }

  rollout_config config_;
  Method method_;
  loop_type loop_;
  double beta_ = 0.0, penalty_beta_ = 0.0;
  detail::running_moments moments_;
  rollout_buffer buffer_;
  std::vector<index_t> prompt_order_;
  index_t prompt_epoch_ = -1;
  std::vector<std::size_t> order_;
  index_t order_epoch_ = -1;
  index_t skipped_minibatches_ = 0;
};

}  // namespace rlhf::train
