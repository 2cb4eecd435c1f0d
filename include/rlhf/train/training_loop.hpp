// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The one training loop every trainer runs (SFT, reward models, DPO, PPO, ...): a trainer
/// supplies a step function that computes the gradients of optimizer step s; the loop owns
/// everything around it, so no trainer writes it again:
///  - zero the gradients, call the step, clip by the global norm, update at the schedule's lr;
///  - a step whose loss or gradient norm is not finite is skipped and counted, and after
///    `max_bad_steps` in a row the run stops with rlhf::numerical_error naming the step;
///  - a progress line (rate, ETA) on stderr when it is a terminal, one JSON object per logging
///    step on a stream (`--json`), evaluation every N steps, and checkpoints every N steps;
///  - checkpoints hold everything a resume needs — the weights, the optimizer's moments and
///    update count, the step (which fixes the schedule position and, for trainers whose data
///    order is a function of (seed, step), the data position), the seed, and the trainer's own
///    state — so `resume` + `run` continues bit-identically to an uninterrupted run.
///  - data parallelism (loop_options::comm, by default dist::world(): one process, or every
///    process of an mpirun job in an MPI build): every process starts from rank 0's weights,
///    each step's gradients are summed over the processes as ONE flat buffer before clipping (the
///    step functions normalise by global counts: global_sum), so every replica applies the same
///    update; the step's loss, counts and metrics are reduced, and only rank 0 prints, logs and
///    writes checkpoints.
///
/// The loop never stores the model: `run` and `resume` take it, and the optimizer is rebound to
/// its tensors on every call (optimizer_base::rebind), so nothing dangles if the model moves.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "rlhf/core/error.hpp"
#include "rlhf/dist/collectives.hpp"
#include "rlhf/dist/world.hpp"
#include "rlhf/io/atomic_file.hpp"
#include "rlhf/io/safetensors.hpp"
#include "rlhf/model/checkpoint.hpp"
#include "rlhf/model/concepts.hpp"
#include "rlhf/model/parameter.hpp"
#include "rlhf/train/grad_clip.hpp"
#include "rlhf/train/optimizer.hpp"
#include "rlhf/train/optimizer_config.hpp"
#include "rlhf/train/progress.hpp"

namespace rlhf::train {

/// What a trainer's step function reports for its optimizer step.
/// Under data parallelism each process reports its own share: the loss is its part of the global
/// loss (its sum divided by the GLOBAL normaliser), the counts are its own, and its metrics are
/// means over its own `tokens`; the loop sums losses and counts and weights metrics by `tokens`.
struct step_output {
  double loss = 0.0;              ///< the step's loss (before the update)
  index_t tokens = 0;             ///< what the loss is normalised over (response tokens, pairs, ...)
  index_t processed_tokens = 0;   ///< non-padding tokens run through the model(s)
  nlohmann::json metrics = nlohmann::json::object();  ///< trainer metrics (TRL names), numbers only
  /// The trainer asks the loop not to apply this step (e.g. PPO's minibatch whose probability
  /// ratio exploded): no update, counted as skipped but not as a numerical failure.
  bool skip = false;
};

/// One optimizer step as the loop logs it (one JSON object per logging step with --json).
struct step_metrics {
  index_t step = 0;               ///< 1-based optimizer step
  index_t total_steps = 0;
  double loss = 0.0;
  index_t tokens = 0, processed_tokens = 0;
  double lr = 0.0;                ///< learning rate of the update
  double grad_norm = 0.0;         ///< global gradient norm before clipping
  double seconds = 0.0;           ///< wall time of the step
  double tokens_per_second = 0.0; ///< processed_tokens / seconds
  bool skipped = false;           ///< non-finite loss or gradients: the update was not applied
  nlohmann::json metrics = nlohmann::json::object();
};

namespace detail {
/// JSON has no NaN or infinity: a non-finite number is written as null.
inline nlohmann::json finite_or_null(double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr); }

/// trainer_state.json of a checkpoint.
struct checkpoint_state {
  index_t step = 0, total_steps = 0;
  std::string optimizer;
  std::int64_t optimizer_steps = 0;
  std::uint64_t seed = 0;
  nlohmann::json trainer = nlohmann::json::object();
};
/// @throws rlhf::format_error naming the file and the key that is missing or of the wrong type
inline checkpoint_state read_checkpoint_state(const std::filesystem::path& file) {
  const nlohmann::json j = rlhf::detail::read_json_object(file);
  const auto need = [&](const char* key, bool (nlohmann::json::*is)() const noexcept) -> const nlohmann::json& {
    const auto it = j.find(key);
    if (it == j.end() || !((*it).*is)())
      RLHF_THROW(format_error, file.string(), ": \"", key, "\" is missing or of the wrong type; this is not a "
                 "checkpoint rlhf wrote (checkpoint-<step>/ directories written with --save-every are)");
    return *it;
  };
  checkpoint_state s;
  s.step = need("step", &nlohmann::json::is_number_unsigned).get<index_t>();
  s.total_steps = need("total_steps", &nlohmann::json::is_number_unsigned).get<index_t>();
  s.optimizer = need("optimizer", &nlohmann::json::is_string).get<std::string>();
  s.optimizer_steps = need("optimizer_steps", &nlohmann::json::is_number_integer).get<std::int64_t>();
  s.seed = need("seed", &nlohmann::json::is_number_unsigned).get<std::uint64_t>();
  if (const auto it = j.find("trainer"); it != j.end() && it->is_object()) s.trainer = *it;
  if (s.step > s.total_steps)
    RLHF_THROW(format_error, file.string(), ": step ", s.step, " is past total_steps ", s.total_steps);
  return s;
}
}  // namespace detail

inline nlohmann::json to_json(const step_metrics& m) {
  nlohmann::json j{{"step", m.step},
                   {"total_steps", m.total_steps},
                   {"loss", detail::finite_or_null(m.loss)},
                   {"tokens", m.tokens},
                   {"lr", m.lr},
                   {"grad_norm", detail::finite_or_null(m.grad_norm)},
                   {"tokens_per_second", m.tokens_per_second},
                   {"skipped", m.skipped}};
  for (const auto& [k, v] : m.metrics.items())
    j[k] = v.is_number() ? detail::finite_or_null(v.get<double>()) : v;
  return j;
}

/// How a run reports and saves (CLI.md: --json, --log-every; --eval-every, --save-every).
struct loop_options {
  std::string name = "train";     ///< the progress line's label
  index_t log_every = 10;         ///< JSON line every N steps and at the last step
  std::ostream* json = nullptr;   ///< where JSON lines go (nullptr: nowhere)
  bool progress = true;           ///< progress line on stderr (only when it is a terminal)
  index_t eval_every = 0;         ///< evaluate every N steps and after the last; 0 = only after the last
  index_t save_every = 0;         ///< checkpoint every N steps; 0 = never
  std::filesystem::path checkpoint_dir;  ///< checkpoints are checkpoint_dir/checkpoint-<step>
  head_kind head = head_kind::lm;  ///< written to the checkpoints' rlhf.json
  index_t max_bad_steps = 10;     ///< consecutive skipped steps that stop the run; 0 = never stop
  std::uint64_t seed = 0;         ///< the run's seed, recorded in checkpoints
  std::function<void(const step_metrics&)> on_step{};            ///< after every step
  std::function<void(index_t, const nlohmann::json&)> on_eval{};  ///< after every evaluation
  /// The trainer's own state for checkpoints (checked again on resume); may be empty.
  std::function<nlohmann::json(index_t step)> trainer_state{};
  /// The processes training together (data parallelism; see the file comment). on_step and
  /// on_eval run on every process; progress, JSON lines and checkpoints on rank 0 only.
  dist::any_communicator comm = dist::world();

  /// @throws rlhf::invalid_argument naming the option
  void validate() const {
    RLHF_EXPECTS(log_every >= 1, name, ": --log-every must be >= 1 (got ", log_every, ")");
    RLHF_EXPECTS(eval_every >= 0, name, ": --eval-every must be >= 0 (got ", eval_every, ")");
    RLHF_EXPECTS(save_every >= 0, name, ": --save-every must be >= 0 (got ", save_every, ")");
    RLHF_EXPECTS(save_every == 0 || !checkpoint_dir.empty(), name,
                 ": --save-every needs a directory for the checkpoints (--out)");
    RLHF_EXPECTS(max_bad_steps >= 0, name, ": max_bad_steps must be >= 0 (got ", max_bad_steps, ")");
  }
};

/// What one run() did.
struct loop_result {
  index_t first_step = 0;         ///< 0-based step the run started at (> 0 after a resume)
  index_t steps = 0;              ///< steps run by this call (skipped ones included)
  index_t skipped_steps = 0;
  double first_loss = 0.0, last_loss = 0.0;
  double seconds = 0.0;
  nlohmann::json last_eval = nullptr;  ///< the last evaluation's metrics (null without one)
};

/// No evaluation (the default of run()).
struct no_evaluation {
  template <class Model>
  nlohmann::json operator()(Model&) const { return nullptr; }
};

/// The training loop (see the file comment).
/// @tparam Model a differentiable model with named parameters that save_model can write
template <class Model>
  requires differentiable_model<Model> && has_named_parameters<Model> && checkpointable<Model>
class training_loop {
 public:
  using backend_type = model_backend_t<Model>;
  using scalar_type = model_scalar_t<Model>;
  using optimizer_type = any_optimizer<backend_type, scalar_type>;

  /// @throws rlhf::invalid_argument for an option outside its range
  training_loop(const optimizer_config& optimizer, loop_options options)
      : opt_config_(optimizer), options_(std::move(options)) {
    opt_config_.validate(options_.name);
    options_.validate();
  }

  const optimizer_config& optimizer_settings() const noexcept { return opt_config_; }
  const loop_options& options() const noexcept { return options_; }
  /// Sets the trainer's state function of the checkpoints (loop_options::trainer_state).
  void set_trainer_state(std::function<nlohmann::json(index_t step)> fn) { options_.trainer_state = std::move(fn); }
  /// Optimizer steps completed so far (restored by resume()).
  index_t completed_steps() const noexcept { return done_; }
  /// The processes of the run (loop_options::comm).
  const dist::any_communicator& comm() const noexcept { return options_.comm; }
  /// Σ over the processes of a local count (tokens, pairs): the normaliser a step function divides
  /// its loss sum by, so that P processes give the gradient of one process with the whole batch.
  double global_sum(double local) const { return options_.comm.sum(local); }

  /// Runs the optimizer steps [completed_steps(), total_steps): for each step s, zeroes the
  /// gradients, calls `step(model, s) -> step_output` (which accumulates the gradients of step
  /// s), clips, and updates at the learning rate the schedule of total_steps gives s. `eval(model)`
  /// returns a JSON object of held-out metrics (or null), every eval_every steps and after the last.
  /// @throws rlhf::numerical_error after max_bad_steps consecutive non-finite steps
  template <class StepFn, class EvalFn = no_evaluation>
  loop_result run(Model& model, index_t total_steps, StepFn&& step, EvalFn&& eval = {}) {
    RLHF_EXPECTS(total_steps >= 1, options_.name, ": the run has no step (total steps = ", total_steps,
                 "); give --steps or data for at least one batch");
    RLHF_EXPECTS(total_ == 0 || total_ == total_steps, options_.name, ": the checkpoint was written by a run of ",
                 total_, " steps but this run has ", total_steps,
                 "; resume with the same --steps / --epochs / --batch-size");
    total_ = total_steps;
    bind(model);
    share_weights(model);
    const bool root = options_.comm.is_root();
    const lr_schedule schedule = opt_config_.schedule_for(total_steps);
    loop_result result;
    result.first_step = done_;
    progress_bar bar(options_.name, static_cast<long>(total_steps), options_.progress && root);
    const auto start = std::chrono::steady_clock::now();
    index_t bad = 0;
    for (index_t s = done_; s < total_steps; ++s) {
      bool failed = false;
      const step_metrics m = apply(model, s, schedule, step, failed);
      bad = failed ? bad + 1 : 0;
      if (s == result.first_step) result.first_loss = m.loss;
      result.last_loss = m.loss;
      result.skipped_steps += m.skipped;
      ++result.steps;
      done_ = s + 1;
      if (options_.max_bad_steps > 0 && bad >= options_.max_bad_steps)
        RLHF_THROW(numerical_error, options_.name, ": step ", m.step, ": ", bad,
                   " steps in a row had a non-finite loss or gradient norm and were skipped; the run stops "
                   "here (lower --lr, set --max-grad-norm, or check the data)");
      char note[96];
      std::snprintf(note, sizeof note, "loss %.4f  %.0f tok/s", m.loss, m.tokens_per_second);
      bar.update(static_cast<long>(m.step), note, static_cast<long>(result.first_step));
      if (root && options_.json && (m.step % options_.log_every == 0 || m.step == total_steps))
        *options_.json << to_json(m).dump() << '\n' << std::flush;
      if (options_.on_step) options_.on_step(m);
      const bool last = m.step == total_steps;
      if (last || (options_.eval_every > 0 && m.step % options_.eval_every == 0)) {
        nlohmann::json e = eval(model);
        if (!e.is_null()) {
          result.last_eval = e;
          if (root && options_.json)
            *options_.json << nlohmann::json{{"step", m.step}, {"eval", e}}.dump() << '\n' << std::flush;
          if (options_.on_eval) options_.on_eval(m.step, e);
        }
      }
      if (options_.save_every > 0 && m.step % options_.save_every == 0)
        save_checkpoint(model, options_.checkpoint_dir / ("checkpoint-" + std::to_string(m.step)));
    }
    bar.finish();
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result;
  }

  /// One optimizer step s of a run of total_steps, without progress, logging, evaluation or
  /// checkpoints: zero, `step(model, s)`, clip, update at the schedule's lr. For a model trained
  /// in step with another one (PPO's critic, updated inside the policy's step function). The
  /// caller keeps the step count: s need not follow completed_steps().
  template <class StepFn>
  step_metrics update(Model& model, index_t s, index_t total_steps, StepFn&& step) {
    RLHF_EXPECTS(total_steps >= 1 && s >= 0 && s < total_steps, options_.name, ": step ", s,
                 " is outside the run of ", total_steps, " steps");
    total_ = total_steps;
    bind(model);
    bool failed = false;
    step_metrics m = apply(model, s, opt_config_.schedule_for(total_steps), step, failed);
    done_ = s + 1;
    return m;
  }

  /// Writes a checkpoint directory (atomically, as a whole): the model's directory files,
  /// optimizer.safetensors (the optimizer's state tensors under torch's names) and
  /// trainer_state.json (step, total steps, optimizer update count, seed, trainer state).
  /// Under data parallelism only rank 0 writes (every replica holds the same state).
  void save_checkpoint(Model& model, const std::filesystem::path& dir) {
    if (!options_.comm.is_root()) return;
    bind(model);
    io::staged_directory staged(dir);
    rlhf::detail::write_model_files(staged.path(), model, options_.head, nlohmann::json::array());
    auto state = optimizer_->state_tensors();
    std::vector<std::vector<float>> host;
    std::vector<io::tensor_ref> refs;
    host.reserve(state.size());
    for (const auto& t : state) {
      std::vector<scalar_type> values(static_cast<std::size_t>(t.value.size()));
      backend_type::to_host(std::span<scalar_type>(values), view<const scalar_type, typename backend_type::space>(t.value));
      host.emplace_back(values.begin(), values.end());
      std::vector<index_t> shp;
      for (int i = 0; i < t.value.rank(); ++i) shp.push_back(t.value.dim(i));
      refs.push_back({t.name, std::move(shp), std::span<const float>(host.back())});
    }
    io::save_safetensors(staged.path() / "optimizer.safetensors", refs, {{"optimizer", std::string(to_string(opt_config_.kind))}});
    nlohmann::json st{{"step", done_},
                      {"total_steps", total_},
                      {"optimizer", std::string(to_string(opt_config_.kind))},
                      {"optimizer_steps", optimizer_->steps()},
                      {"seed", options_.seed},
                      {"trainer", options_.trainer_state ? options_.trainer_state(done_) : nlohmann::json::object()}};
    io::write_atomically(staged.path() / "trainer_state.json", [&](std::ostream& os) { os << st.dump(2) << '\n'; });
    staged.commit();
  }

  /// Restores a checkpoint written by save_checkpoint into `model` and this loop: the weights,
  /// the optimizer state and the step; the next run() continues after it. Returns the trainer
  /// state the checkpoint holds.
  /// @throws rlhf::format_error naming the file for a checkpoint of another optimizer, model or
  ///         seed; rlhf::io_error when a file is missing
  nlohmann::json resume(Model& model, const std::filesystem::path& dir) {
    const auto st = detail::read_checkpoint_state(dir / "trainer_state.json");
    if (st.optimizer != to_string(opt_config_.kind))
      RLHF_THROW(format_error, (dir / "trainer_state.json").string(), ": the checkpoint's optimizer is ", st.optimizer,
                 " but this run uses ", to_string(opt_config_.kind), "; resume with the same --optimizer");
    if (st.seed != options_.seed)
      RLHF_THROW(format_error, (dir / "trainer_state.json").string(), ": the checkpoint's seed is ", st.seed,
                 " but this run's is ", options_.seed, "; resume with the same --seed");
    load_parameters(dir, model);
    bind(model);
    const io::safetensors_reader reader(dir / "optimizer.safetensors");
    for (auto& t : optimizer_->state_tensors()) {
      if (!reader.contains(t.name))
        RLHF_THROW(format_error, (dir / "optimizer.safetensors").string(), ": no optimizer state \"", t.name,
                   "\"; the checkpoint was written for another model or optimizer");
      std::vector<float> values(static_cast<std::size_t>(t.value.size()));
      reader.read_f32_into(t.name, values);
      const std::vector<scalar_type> converted(values.begin(), values.end());
      backend_type::from_host(t.value, std::span<const scalar_type>(converted));
    }
    optimizer_->set_steps(st.optimizer_steps);
    done_ = st.step;
    total_ = st.total_steps;
    return st.trainer;
  }

 private:
  template <class StepFn>
  step_metrics apply(Model& model, index_t s, const lr_schedule& schedule, StepFn& step, bool& failed) {
    const auto t0 = std::chrono::steady_clock::now();
    model.zero_grad();
    step_output out = step(model, s);
    if (options_.comm.size() > 1) reduce_step(model, out);
    step_metrics m;
    m.step = s + 1;
    m.total_steps = total_;
    m.loss = out.loss;
    m.tokens = out.tokens;
    m.processed_tokens = out.processed_tokens;
    m.metrics = std::move(out.metrics);
    m.lr = schedule(s);
    const clip_result clip = clip_grad_norm<backend_type>(optimizer_->parameters(), opt_config_.max_grad_norm);
    m.grad_norm = clip.norm;
    failed = !clip.finite || !std::isfinite(m.loss);
    m.skipped = failed || out.skip;
    if (!m.skipped) optimizer_->step(m.lr);
    m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    m.tokens_per_second = m.seconds > 0 ? static_cast<double>(m.processed_tokens) / m.seconds : 0.0;
    return m;
  }

  /// Every process starts from rank 0's weights (a no-op for one process).
  void share_weights(Model& model) {
    if (options_.comm.size() > 1) dist::broadcast<backend_type>(options_.comm, model.parameters(), 0);
  }

  /// Data parallelism: Σ the gradients over the processes (one flat buffer, the same bits on
  /// every process), Σ the losses and counts, metrics as means weighted by each process's count
  /// (plain means when no process counted anything), and skip when any process asks to.
  void reduce_step(Model& model, step_output& out) {
    dist::all_reduce_sum<backend_type>(options_.comm, model.gradients());
    nlohmann::json mine{{"loss", detail::finite_or_null(out.loss)},
                        {"tokens", out.tokens},
                        {"processed", out.processed_tokens},
                        {"skip", out.skip},
                        {"metrics", out.metrics}};
    const auto all = options_.comm.all_gather(mine.dump());
    const auto number = [](const nlohmann::json& v) {
      return v.is_number() ? v.get<double>() : std::numeric_limits<double>::quiet_NaN();
    };
    step_output sum;
    sum.metrics = nlohmann::json::object();
    std::vector<nlohmann::json> parts;
    parts.reserve(all.size());
    for (const auto& text : all) parts.push_back(nlohmann::json::parse(text));
    for (const auto& p : parts) {
      sum.loss += number(p["loss"]);
      sum.tokens += p["tokens"].get<index_t>();
      sum.processed_tokens += p["processed"].get<index_t>();
      sum.skip = sum.skip || p["skip"].get<bool>();
    }
    // Each metric: Σ_r w_r m_r / Σ_r w_r with w_r the process's own count (processes without
    // the metric or with w_r = 0 add nothing); when every weight is 0, the plain mean.
    struct mean_parts {
      double weighted = 0, weight = 0, plain = 0;
      int n = 0;
    };
    std::vector<std::pair<std::string, mean_parts>> acc;  // in the order the metrics first appear
    for (const auto& p : parts) {
      const double w = static_cast<double>(p["tokens"].get<index_t>());
      for (const auto& item : p["metrics"].items()) {
        const std::string& name = item.key();
        const nlohmann::json& v = item.value();
        if (!v.is_number() && !v.is_null()) continue;
        auto it = std::find_if(acc.begin(), acc.end(), [&](const auto& e) { return e.first == name; });
        if (it == acc.end()) it = acc.insert(acc.end(), {name, mean_parts{}});
        const double x = number(v);
        if (w > 0) it->second.weighted += w * x, it->second.weight += w;
        it->second.plain += x;
        ++it->second.n;
      }
    }
    for (const auto& [k, m] : acc) sum.metrics[k] = m.weight > 0 ? m.weighted / m.weight : m.plain / m.n;
    out = std::move(sum);
  }

  void bind(Model& model) {
    if (optimizer_) optimizer_->rebind(parameter_list(model));
    else optimizer_.emplace(parameter_list(model), opt_config_);
  }

  optimizer_config opt_config_;
  loop_options options_;
  std::optional<optimizer_type> optimizer_;
  index_t done_ = 0, total_ = 0;
};

}  // namespace rlhf::train
