// SPDX-License-Identifier: MIT
// rlhf dpo: the DPO family (CLI.md) — any preference loss x any divergence, chosen at run time,
// with rlhf::train::dpo_trainer<policy, any_preference_loss, any_divergence> on the shared loop.
// The reference is a model evaluated on the fly (--ref), the per-token log-probs `rlhf logprobs`
// wrote for the same data (--ref-logprobs: the reference need not be loaded), or none
// (--reference-free).
#include <cmath>
#include <cstdio>
#include <limits>

#include <rlhf/data.hpp>
#include <rlhf/objective/parse.hpp>
#include <rlhf/train.hpp>
#include <rlhf/train/dpo.hpp>

#include "cli.hpp"
#include "comparisons.hpp"
#include "model_dir.hpp"
#include "training.hpp"

namespace rlhf::cli {

void add_dpo_options(CLI::App& app, dpo_options& o) {
  constexpr std::int64_t int_max = std::numeric_limits<std::int32_t>::max();
  describe(app, "Direct preference optimisation: the policy is trained on preferences (or k-wise rankings) through\n"
                "the implicit reward beta * log(pi/pi_ref); --loss and --divergence pick the family member.");
  app.add_option("--policy", o.policy, "policy model directory to start from (lm head; usually the SFT model)")
      ->type_name("DIR")->required();
  app.add_option("--ref", o.ref, "reference model directory (lm head; default: --policy as loaded)")->type_name("DIR");
  app.add_option("--ref-logprobs", o.ref_logprobs,
                 "per-token reference log-probs of --data, as `rlhf logprobs --model REF --data DATA` writes them")
      ->type_name("FILE");
  app.add_flag("--reference-free", o.reference_free, "no reference: log pi_ref = 0");
  app.add_option("--data", o.data, "JSONL preferences (prompt, chosen, rejected) or rankings (prompt, responses, ties)")
      ->type_name("FILE")->required();
  app.add_option("--eval-data", o.eval_data, "held-out preferences or rankings: DPO metrics before and after")
      ->type_name("FILE");
  app.add_option("--out", o.out, "model directory to write (written atomically)")->type_name("DIR")->required();
  app.add_option("--loss", o.loss, "preference loss")->check(one_of({"sigmoid", "hinge", "ipo", "conservative", "robust"}));
  app.add_option("--divergence", o.divergence, "f-divergence to the reference: reverse_kl|forward_kl|js|alpha:A")
      ->type_name("NAME");
  app.add_option("--beta", o.beta, "strength of the divergence")->type_name("X")->check(positive<double>());
  app.add_option("--label-smoothing", o.label_smoothing, "flip rate of conservative and robust [0 - 0.5)")
      ->type_name("X");
  app.add_flag("--length-normalised", o.length_normalised, "log-ratios per response token instead of summed");
  app.add_option("--max-length", o.max_length, "longest sequence (0 = the policy's n_positions)")
      ->type_name("N")->check(range<std::int64_t>(0, int_max));
  add_training_options(app, o.train);
}

namespace {

using dpo_t = rlhf::train::dpo_trainer<policy_t, rlhf::any_preference_loss, rlhf::any_divergence>;

/// --ref-logprobs: the per-token arrays of `rlhf logprobs`, summed per response (or averaged),
/// with their token counts (checked against the data by the trainer).
rlhf::train::reference_log_probs read_reference_log_probs(const std::filesystem::path& file, std::size_t records,
                                                          bool length_normalised) {
  auto pre = rlhf::data::load_response_log_probs(file, {.length_normalised = length_normalised});
  if (pre.sums.size() != records)
    RLHF_THROW(invalid_argument, file.string(), " holds ", pre.sums.size(), " records but --data has ", records,
               "; write it with rlhf logprobs from the same data file");
  return {.sums = std::move(pre.sums), .tokens = std::move(pre.tokens)};
}

}  // namespace

int run_dpo(const dpo_options& o) {
  set_threads(o.train.threads);
  if (!(o.label_smoothing >= 0.0 && o.label_smoothing < 0.5))
    throw usage_error("--label-smoothing: value " + number_text(o.label_smoothing) + " not in range [0 - 0.5)");
  const int refs = (!o.ref.empty()) + (!o.ref_logprobs.empty()) + (o.reference_free ? 1 : 0);
  if (refs > 1) throw usage_error("give one of --ref, --ref-logprobs and --reference-free");
  output_directory out(o.out);
  auto [policy, tok] = open_policy(o.policy);
  const auto loss = rlhf::parse_preference_loss(o.loss, o.label_smoothing);
  const auto div = rlhf::parse_divergence(o.divergence);
  const auto data = load_comparisons(o.data, tok);
  std::vector<rlhf::data::ranking_example> eval;
  if (!o.eval_data.empty()) eval = load_comparisons(o.eval_data, tok);

  const training_options& t = o.train;
  const rlhf::train::dpo_config cfg{.optimizer = optimizer_settings(t),
                                    .steps = t.steps,
                                    .epochs = t.epochs,
                                    .batch_size = t.batch_size,
                                    .seed = t.seed,
                                    .shuffle = t.shuffle,
                                    .max_length = o.max_length,
                                    .pad_id = pad_id_of(tok),
                                    .beta = o.beta,
                                    .reference_free = o.reference_free,
                                    .length_normalised = o.length_normalised};
  dpo_t trainer(cfg, loss, div, loop_settings(t, "dpo", o.out, rlhf::head_kind::lm));
  if (!t.resume.empty()) trainer.resume(policy, t.resume);

  nlohmann::json run = {{"command", "dpo"},     {"data", o.data.string()}, {"loss", o.loss},
                        {"divergence", o.divergence}, {"beta", o.beta}};
  rlhf::train::loop_result result;
  const auto report = [&](auto&&... ref) {
    if (!eval.empty()) run["eval_before"] = rlhf::train::to_json(trainer.evaluate(policy, eval, ref...));
    result = trainer.train(policy, data, ref..., [&](policy_t& m) {
      return eval.empty() ? nlohmann::json(nullptr) : rlhf::train::to_json(trainer.evaluate(m, eval, ref...));
    });
  };
  if (o.reference_free) {
    report();
  } else if (!o.ref_logprobs.empty()) {
    if (!eval.empty()) throw usage_error("--eval-data needs --ref (the held-out reference log-probs are not in --ref-logprobs)");
    const auto pre = read_reference_log_probs(o.ref_logprobs, data.size(), o.length_normalised);
    report(pre);
  } else {
    // The reference: --ref, or the policy as loaded (the usual DPO start, pi = pi_ref).
    auto [ref, ref_tok] = open_policy(o.ref.empty() ? o.policy : o.ref);
    if (!o.ref.empty()) rlhf::expect_same_tokenizer(o.policy, o.ref);
    (void)ref_tok;
    report(ref);
  }
  run["steps"] = result.steps;
  run["first_loss"] = result.first_loss;
  run["last_loss"] = result.last_loss;
  run["seconds"] = result.seconds;
  if (!result.last_eval.is_null()) run["eval_after"] = result.last_eval;
  auto history = rlhf::read_model_info(o.policy).history;
  history.push_back(run);
  if (writes_outputs()) rlhf::save_model(o.out, policy, rlhf::head_kind::lm, history, {.extra_files = rlhf::io::tokenizer_files(o.policy)});
  out.keep();
  std::fprintf(stderr, "rlhf dpo: %lld steps, loss %.4f -> %.4f, %.1fs; wrote %s\n",
               static_cast<long long>(result.steps), result.first_loss, result.last_loss, result.seconds, o.out.c_str());
  if (!result.last_eval.is_null())
    std::fprintf(stderr, "rlhf dpo: held-out reward accuracy %.3f -> %.3f\n",
                 run["eval_before"]["rewards/accuracies"].get<double>(),
                 result.last_eval["rewards/accuracies"].get<double>());
  if (t.json) print_json_line({{"event", "done"}, {"run", run}});
  return 0;
}

}  // namespace rlhf::cli
