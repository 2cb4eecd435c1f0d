// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The part of every data-driven trainer (SFT, reward models, DPO) that is not its loss: which
/// records optimizer step s takes — epochs of batch_size × grad_accum records, in file order or a
/// seeded shuffle per epoch (data::shuffled_indices) — the data position a checkpoint records and
/// a resume checks, and the checks of a model against the collation settings. A pure function of
/// (seed, s), so a resumed run sees exactly the batches an uninterrupted one would.
///
/// Data parallelism (the loop's communicator, P processes): --batch-size stays per process, as
/// TRL's per-device batch size, so a step's global batch is P × batch_size × grad_accum records
/// — the same records, in the same order, as one process with P times the batch size — and
/// process r takes the r-th contiguous shard of it (dist::shard; the last batch of an epoch may
/// leave a process fewer records, or none). Trainers normalise by global counts (global_count).
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <numeric>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "rlhf/core/error.hpp"
#include "rlhf/data/batching.hpp"
#include "rlhf/dist/communicator.hpp"
#include "rlhf/train/optimizer_config.hpp"
#include "rlhf/train/training_loop.hpp"

namespace rlhf::train {

/// How a trainer walks its records (the options every data trainer shares).
struct data_schedule {
  index_t steps = 0;       ///< optimizer steps; 0 = run `epochs` epochs
  index_t epochs = 1;      ///< passes over the data when steps = 0
  index_t batch_size = 8;  ///< records per micro-batch
  index_t grad_accum = 1;  ///< micro-batches per optimizer step
  std::uint64_t seed = 0;  ///< shuffling
  bool shuffle = false;    ///< false = file order (CLI.md)
  index_t processes = 1;   ///< data-parallel processes (set by dataset_loop from its communicator)

  /// Records of one optimizer step over all processes (the global batch).
  index_t records_per_step() const noexcept { return batch_size * grad_accum * processes; }
  index_t steps_per_epoch(index_t n) const noexcept {
    return std::max<index_t>(1, (n + records_per_step() - 1) / records_per_step());
  }
  index_t planned_steps(index_t n) const noexcept { return steps > 0 ? steps : epochs * steps_per_epoch(n); }
};

/// A training_loop walking a dataset by data_schedule (see the file comment).
template <class Model>
class dataset_loop {
 public:
  using loop_type = training_loop<Model>;

  /// `who` names the trainer in messages ("sft", "reward"). @throws rlhf::invalid_argument
  dataset_loop(std::string who, const data_schedule& schedule, const optimizer_config& optimizer, loop_options options)
      : who_(std::move(who)), schedule_(schedule), loop_(optimizer, named(std::move(options), who_, schedule.seed)) {
    schedule_.processes = loop_.comm().size();
    RLHF_EXPECTS(schedule_.steps >= 0, who_, ": --steps must be >= 0 (got ", schedule_.steps, "; 0 means use --epochs)");
    RLHF_EXPECTS(schedule_.steps > 0 || schedule_.epochs >= 1, who_, ": --epochs must be >= 1 when --steps is 0 (got ",
                 schedule_.epochs, ")");
    RLHF_EXPECTS(schedule_.batch_size >= 1, who_, ": --batch-size must be >= 1 (got ", schedule_.batch_size, ")");
  }

  loop_type& loop() noexcept { return loop_; }
  const data_schedule& schedule() const noexcept { return schedule_; }

  /// The longest sequence to collate for `model` (`configured`, or the model's positions when 0),
  /// after checking that the model can take it and the pad id.
  template <class M>
  index_t max_length(const M& model, index_t configured, token_id pad_id) const {
    const index_t max_len = configured == 0 ? static_cast<index_t>(model.max_positions()) : configured;
    RLHF_EXPECTS(max_len <= static_cast<index_t>(model.max_positions()), who_, ": --max-length ", max_len,
                 " exceeds the model's n_positions ", model.max_positions());
    RLHF_EXPECTS(pad_id >= 0 && pad_id < static_cast<index_t>(model.vocab_size()), who_, ": pad id ", pad_id,
                 " is outside the vocabulary [0, ", model.vocab_size(), ")");
    return max_len;
  }

  /// This process's shard of a step's global batch (all of it for one process).
  std::span<const std::size_t> shard(std::span<const std::size_t> global) const {
    const auto r = dist::shard(global.size(), loop_.comm().rank(), loop_.comm().size());
    return global.subspan(r.first, r.size());
  }
  /// Σ over the processes of a local count: the normaliser of a step's loss (tokens, pairs).
  double global_count(index_t local) const { return loop_.global_sum(static_cast<double>(local)); }

  /// Runs the loop over a dataset of n records: `step(model, indices, s) -> step_output` gets
  /// this process's shard of the record indices of step s (records_per_step of them over all
  /// processes, the last step of an epoch fewer).
  /// @throws rlhf::invalid_argument for no records or other data than the resumed checkpoint's
  template <class StepFn, class EvalFn>
  loop_result run(Model& model, index_t n, StepFn&& step, EvalFn&& eval) {
    RLHF_EXPECTS(n > 0, who_, ": the dataset is empty");
    check_resumed(n);
    const index_t per_step = schedule_.records_per_step(), per_epoch = schedule_.steps_per_epoch(n);
    loop_.set_trainer_state([n, per_epoch](index_t s) {
      return nlohmann::json{{"records", n}, {"epoch", s / per_epoch}, {"step_in_epoch", s % per_epoch}};
    });
    std::vector<std::size_t> order;
    index_t order_epoch = -1;
    const auto walk = [&](Model& m, index_t s) {
      const index_t epoch = s / per_epoch;
      if (epoch != order_epoch) {
        order = order_for(static_cast<std::size_t>(n), static_cast<std::uint64_t>(epoch));
        order_epoch = epoch;
      }
      const index_t first = (s % per_epoch) * per_step, last = std::min(n, first + per_step);
      step_output out = step(m, shard(std::span<const std::size_t>(order).subspan(static_cast<std::size_t>(first),
                                                                                   static_cast<std::size_t>(last - first))), s);
      out.metrics["epoch"] = epoch;
      return out;
    };
    return loop_.run(model, schedule_.planned_steps(n), walk, std::forward<EvalFn>(eval));
  }

  /// Restores a checkpoint (training_loop::resume); the next run() on the same data continues
  /// bit-identically. Returns the trainer state it holds.
  nlohmann::json resume(Model& model, const std::filesystem::path& checkpoint) {
    resumed_ = loop_.resume(model, checkpoint);
    return resumed_;
  }

  /// After resume(): the checkpoint must have been trained on n records (a no-op otherwise).
  /// @throws rlhf::invalid_argument naming both counts
  void check_resumed(index_t n) const {
    if (!resumed_.is_null())
      RLHF_EXPECTS(resumed_.value("records", n) == n, who_, ": the checkpoint was trained on ",
                   resumed_.value("records", n), " records but --data has ", n, "; resume on the same data");
  }

  /// The record order of one pass over n records: file order, or (shuffle) the seeded permutation
  /// data::shuffled_indices(n, seed, stream). run() uses stream = the epoch; a trainer with
  /// several kinds of pass (FaRMA's L1 and L2 epochs) gives each its own streams.
  std::vector<std::size_t> order_for(std::size_t n, std::uint64_t stream) const {
    std::vector<std::size_t> order(n);
    if (schedule_.shuffle) {
      const auto p = data::shuffled_indices(static_cast<index_t>(n), schedule_.seed, stream);
      std::copy(p.begin(), p.end(), order.begin());
    } else {
      std::iota(order.begin(), order.end(), std::size_t{0});
    }
    return order;
  }

 private:
  static loop_options named(loop_options o, const std::string& who, std::uint64_t seed) {
    if (o.name == "train") o.name = who;
    o.seed = seed;
    return o;
  }

  std::string who_;
  data_schedule schedule_;
  loop_type loop_;
  nlohmann::json resumed_ = nullptr;
};

}  // namespace rlhf::train
