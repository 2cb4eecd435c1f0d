// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// GenARM autoregressive reward models (Xu et al. 2024/ICLR 2025, "GenARM: Reward Guided
/// Generation with Autoregressive Reward Model for Test-time Alignment", eq. 4–5; ALGORITHMS.md §5):
/// the reward of a response is a sum of token log-probabilities of a "reward LM" π_r,
///   r(s, a) = β_r Σ_t log π_r(a^t | s, a^{<t})        (response tokens only),
/// trained with the Bradley–Terry loss (any reward_objective of reward.hpp) on preference pairs or
/// rankings: DPO without a reference model. Decoding samples from π_base(v|s)·π_r(v|s)^{1/β}.
///
/// Design: π_r IS a language model. The trainer takes any differentiable `language_model`
/// (transformer<Backend, lm_head> or tabular_lm), whose forward already gives the per-token
/// log-probs log π_r(a^t | …), so no new head is needed; start it from the SFT model (load the
/// SFT checkpoint as the model to train) and save it as an LM checkpoint (head kind "lm"). At
/// decode time it is read either as a language model (its session logits, log-softmaxed) or, since
/// token_reward_head is the same tied projection without softmax, loaded as a
/// transformer<Backend, token_reward_head>, whose rewards are π_r's logits: log π_r = R - logsumexp R.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <span>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <xtensor/xtensor.hpp>

#include "rlhf/core/error.hpp"
#include "rlhf/data/collate.hpp"
#include "rlhf/data/response_view.hpp"
#include "rlhf/data/token_batch.hpp"
#include "rlhf/model/concepts.hpp"
#include "rlhf/train/accumulation.hpp"
#include "rlhf/train/dataset_loop.hpp"
#include "rlhf/train/reward.hpp"
#include "rlhf/train/training_loop.hpp"

namespace rlhf::train {

/// GenARM settings: those of the sequence reward trainer (optimizer, data walk, loss, margin,
/// centring) and β_r, the scale of the summed log-probs.
struct genarm_config {
  reward_config reward{};
  double beta_r = 1.0;  ///< r = β_r Σ_t log π_r(a^t | …) (the paper's β_r; 1/β at decode time is separate)

  /// @throws rlhf::invalid_argument naming the option
  void validate() const {
    reward.validate();
    RLHF_EXPECTS(std::isfinite(beta_r) && beta_r > 0, "genarm: beta_r must be > 0 (got ", beta_r, ")");
  }
};

/// A model GenARM trains: a differentiable language model (its forward gives log π_r per token).
template <class M>
concept genarm_model = language_model<M> && differentiable_model<M>;

namespace detail {
/// r(b) = β_r Σ_{response tokens} logp(b, t), as double.
template <class T>
std::vector<double> genarm_rewards(const data::response_view& rv, const xt::xtensor<T, 2>& logp, double beta_r) {
  const auto sums = rv.sums(logp);
  std::vector<double> r(sums.size());
  for (std::size_t i = 0; i < r.size(); ++i) r[i] = beta_r * sums(i);
  return r;
}
}  // namespace detail

/// Held-out GenARM reward metrics of `records` through the inference path score(); the rewards
/// are β_r Σ_t log π_r(a^t | …) over each response.
/// @throws rlhf::invalid_argument for a bad record (named, 1-based) or batch_size < 1
template <language_model Model, std::ranges::random_access_range Records>
  requires reward_record<std::ranges::range_value_t<Records>>
reward_metrics evaluate_genarm(Model& model, const Records& records, index_t batch_size, index_t max_length,
                               double beta_r = 1.0, const reward_objective& objective = {}, token_id pad_id = 0) {
  RLHF_EXPECTS(batch_size >= 1, "evaluate_genarm: batch_size must be >= 1 (got ", batch_size, ")");
  if (max_length == 0) max_length = static_cast<index_t>(model.max_positions());
  const auto groups = detail::reward_groups(records, static_cast<index_t>(model.vocab_size()), max_length,
                                            "evaluate_genarm");
  RLHF_EXPECTS(!groups.empty(), "evaluate_genarm: no records");
  std::vector<std::size_t> order(groups.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  detail::pair_sums sums;
  for (std::size_t i = 0; i < order.size(); i += static_cast<std::size_t>(batch_size)) {
    const auto idx = std::span<const std::size_t>(order).subspan(
        i, std::min(order.size() - i, static_cast<std::size_t>(batch_size)));
    const auto batch = detail::collate_groups(groups, idx, {.pad_id = pad_id, .max_length = max_length});
    const auto logp = model.score(batch);
    detail::add_pairs(groups, idx, detail::genarm_rewards(data::response_view(batch), logp, beta_r), objective, {},
                      sums);
  }
  return sums.mean();
}

/// GenARM trainer on the shared training loop (dataset_loop), the sequence reward trainer's data
/// walk and checkpoints, with the reward read as β_r · the summed response log-probs.
/// Step metrics (TRL's names): accuracy, rewards/margins, rewards/chosen, rewards/rejected, epoch.
/// @tparam Model a `genarm_model` (transformer<Backend, lm_head>, tabular_lm)
template <genarm_model Model>
class genarm_trainer {
 public:
  using loop_type = training_loop<Model>;

  /// @throws rlhf::invalid_argument for a config or an option outside its range
  explicit genarm_trainer(const genarm_config& cfg, loop_options options = {})
      : config_((cfg.validate(), cfg)), objective_(cfg.reward.objective()),
        data_("genarm",
              {cfg.reward.steps, cfg.reward.epochs, cfg.reward.batch_size, cfg.reward.optimizer.grad_accum,
               cfg.reward.seed, cfg.reward.shuffle},
              cfg.reward.optimizer, std::move(options)) {}

  const genarm_config& config() const noexcept { return config_; }
  const reward_objective& objective() const noexcept { return objective_; }
  loop_type& loop() noexcept { return data_.loop(); }
  index_t planned_steps(index_t n_records) const { return data_.schedule().planned_steps(n_records); }
  index_t max_length(const Model& model) const {
    return data_.max_length(model, config_.reward.max_length, config_.reward.pad_id);
  }

  /// Trains `model` (started from the SFT model) on preference or ranking records; `eval(model)
  /// -> json` as in reward_trainer (e.g. to_json(evaluate_genarm(...))).
  /// @throws rlhf::invalid_argument as reward_trainer::train
  template <std::ranges::random_access_range Records, class EvalFn = no_evaluation>
    requires reward_record<std::ranges::range_value_t<Records>>
  loop_result train(Model& model, const Records& records, EvalFn&& eval = {}) {
    const auto groups = prepare(model, records);
    const index_t max_len = max_length(model);
    const auto step = [&](Model& m, std::span<const std::size_t> idx, index_t) {
      return run_batch(m, groups, idx, max_len);
    };
    return data_.run(model, static_cast<index_t>(groups.size()), step, std::forward<EvalFn>(eval));
  }

  /// The loss of all `records` as ONE optimizer batch, accumulating (+=) its gradient (not
  /// zeroed first). For tests and custom loops.
  template <std::ranges::random_access_range Records>
    requires reward_record<std::ranges::range_value_t<Records>>
  step_output accumulate(Model& model, const Records& records) const {
    const auto groups = prepare(model, records);
    std::vector<std::size_t> order(groups.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    return run_batch(model, groups, order, max_length(model));
  }

  nlohmann::json resume(Model& model, const std::filesystem::path& checkpoint) { return data_.resume(model, checkpoint); }

 private:
  template <class Records>
  std::vector<detail::reward_group> prepare(const Model& model, const Records& records) const {
    RLHF_EXPECTS(std::ranges::size(records) > 0, "genarm: the dataset is empty");
    return detail::reward_groups(records, static_cast<index_t>(model.vocab_size()), max_length(model), "genarm");
  }

  step_output run_batch(Model& m, std::span<const detail::reward_group> groups, std::span<const std::size_t> idx,
                        index_t max_len) const {
    const auto split = detail::split_comparisons(groups, idx, config_.reward.batch_size,
                                                 {.pad_id = config_.reward.pad_id, .max_length = max_len});
    const auto& micro_idx = split.idx;
    const index_t pairs = split.pairs;
    step_output out;
    out.tokens = pairs;
    out.processed_tokens = split.tokens;
    detail::pair_sums sums;
    std::size_t k = 0;
    const double beta_r = config_.beta_r;
    out.loss = accumulate_gradients(
        m, std::span<const token_batch>(split.micro), data_.global_count(pairs),
        [&](const auto& logp, const token_batch& mb, auto& d_out) {
          using T = typename std::remove_cvref_t<decltype(logp)>::value_type;
          const data::response_view rv(mb);
          const auto rewards = detail::genarm_rewards(rv, logp, beta_r);
          std::vector<double> d(rewards.size(), 0.0);
          const double before = sums.loss;
          detail::add_pairs(groups, micro_idx[k++], rewards, objective_, d, sums);
          // ∂r(b)/∂logp(b, t) = β_r at every response token of row b.
          xt::xtensor<double, 2> d_resp = xt::zeros<double>({static_cast<std::size_t>(rv.rows()),
                                                             static_cast<std::size_t>(rv.max_length())});
          for (index_t b = 0; b < rv.rows(); ++b)
            for (index_t j = 0; j < rv.length(b); ++j)
              d_resp(static_cast<std::size_t>(b), static_cast<std::size_t>(j)) = beta_r * d[static_cast<std::size_t>(b)];
          d_out = rv.template scatter<T>(d_resp);
          return sums.loss - before;
        });
    const auto mean = sums.mean();
    out.metrics["accuracy"] = mean.accuracy;
    out.metrics["rewards/margins"] = mean.mean_margin;
    out.metrics["rewards/chosen"] = mean.chosen;
    out.metrics["rewards/rejected"] = mean.rejected;
    return out;
  }

  genarm_config config_;
  reward_objective objective_;
  dataset_loop<Model> data_;
};

}  // namespace rlhf::train
