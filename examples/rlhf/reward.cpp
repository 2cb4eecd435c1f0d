// SPDX-License-Identifier: MIT
// rlhf reward: a Bradley-Terry reward model (CLI.md) trained on preference pairs or k-wise
// rankings with rlhf::train::reward_trainer on the shared training loop (--kind sequence; --kind
// prefix trains it on PARGS prefixes), a FaRMA token reward model (--kind token,
// rlhf::train::farma_trainer: L1 on full sequences alternated with the L2 max-consistency loss),
// a GenARM reward LM (--kind genarm, rlhf::train::genarm_trainer: BT on summed response
// log-probs), or a CD-FUDGE value model regressed on scored responses with
// rlhf::train::value_trainer (--kind value); from a model with the kind's head (--model) or from
// an SFT model (--init): its trunk under a new score.weight, or, for token and genarm, the whole
// model (the token head is the tied LM head read without softmax).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <type_traits>

#include <rlhf/data.hpp>
#include <rlhf/io/load_tokenizer.hpp>
#include <rlhf/model/from_pretrained.hpp>
#include <rlhf/train/farma.hpp>
#include <rlhf/train/genarm.hpp>
#include <rlhf/train/reward.hpp>
#include <rlhf/train/value.hpp>

#include "cli.hpp"
#include "comparisons.hpp"
#include "model_dir.hpp"
#include "training.hpp"

namespace rlhf::cli {

void add_reward_options(CLI::App& app, reward_options& o) {
  constexpr std::int64_t int_max = std::numeric_limits<std::int32_t>::max();
  describe(app, "Trains a reward model r(s, a) read at the last token: -log sigma(r(chosen) - r(rejected) - margin)\n"
                "(or another preference loss) averaged over the pairs of a batch, plus center * (r+ + r-)^2.\n"
                "Rankings (responses best first, optional ties) use every untied pair, in one forward pass.\n"
                "--kind prefix (PARGS): the same on both responses cut to a common random prefix length (same label).\n"
                "--kind token (FaRMA): a token reward head R(s, a<i) in R^V (the tied LM head without softmax),\n"
                "r(s, a<=i) = R(s, a<i)[a_i]; L1 = the preference loss at the last token alternated with\n"
                "L2 = 1/2 mean_i (r(s, a<=i) - max_v R(s, a<=i)[v])^2 over the chosen responses' prefixes: an L2 step\n"
                "after every --l2-every L1 steps, or with --rounds N, N rounds of (an L1 epoch, an L2 epoch).\n"
                "--kind genarm (GenARM): a reward LM with r(s, a) = beta_r * sum_t log pi_r(a_t | s, a<t), trained with\n"
                "the preference loss (DPO without a reference); saved as an lm model (rlhf score --genarm reads it).\n"
                "--kind value (CD-FUDGE): V(s, a<=i) at every prefix regressed on the reward of scored responses\n"
                "(prompt, completion, reward): 1/2 (V - r)^2 averaged over the response tokens of a batch.");
  auto* model = app.add_option("--model", o.model, "model directory to continue, with the kind's head (rlhf init --head reward; "
                                                   "--head value for --kind value, --head token for token, an lm model for genarm)")
                    ->type_name("DIR");
  app.add_option("--init", o.init, "SFT model directory (lm head): its trunk under a new score.weight; token, genarm: the whole model")
      ->type_name("DIR")->excludes(model);
  app.add_option("--data", o.data, "JSONL preferences (prompt, chosen, rejected) or rankings (prompt, responses, ties); --kind value: scored responses (prompt, completion, reward)")
      ->type_name("FILE")->required();
  app.add_option("--out", o.out, "reward model directory to write (written atomically)")->type_name("DIR")->required();
  app.add_option("--eval-data", o.eval_data, "held-out records of the --data kind: accuracy and margin (prefix: by response fraction; value: R2) before and after")
      ->type_name("FILE");
  app.add_option("--kind", o.kind, "reward model kind")->type_name("sequence|prefix|token|genarm|value")
      ->check(one_of({"sequence", "prefix", "token", "genarm", "value"}));
  app.add_option("--loss", o.loss, "preference loss")->type_name("sigmoid|hinge|ipo|conservative|robust")
      ->check(one_of({"sigmoid", "hinge", "ipo", "conservative", "robust"}));
  app.add_option("--margin", o.margin, "margin m of -log sigma(delta - m) (Llama 2), added to a record's own margin")
      ->type_name("X")->check(range(-1e3, 1e3));
  app.add_option("--center", o.center, "reward centring coefficient lambda of lambda (r+ + r-)^2")
      ->type_name("X")->check(range(0.0, 1e3));
  app.add_option("--label-smoothing", o.label_smoothing, "epsilon of the conservative and robust losses")
      ->type_name("X")->check(range(0.0, 0.4999));
  app.add_option("--beta", o.beta, "beta of the IPO loss (gap target 1/(2 beta))")->type_name("X")->check(positive(1e6));
  app.add_option("--max-length", o.max_length, "longest sequence (0 = the model's n_positions)")
      ->type_name("N")->check(range<std::int64_t>(0, int_max));
  app.add_option("--l2-every", o.l2_every, "--kind token, step alternation: one L2 step after every N L1 steps")
      ->type_name("N")->check(range<std::int64_t>(1, int_max));
  app.add_option("--rounds", o.rounds, "--kind token: N rounds of (an L1 epoch, an L2 epoch) (the reference's alternation; "
                                       "0 = the step alternation of --l2-every)")
      ->type_name("N")->check(range<std::int64_t>(0, int_max));
  app.add_flag("--stop-gradient-max", o.stop_gradient_max, "--kind token: L2's max_v R target is a constant");
  app.add_option("--l2-weight", o.l2_weight, "--kind token: weight of L2")->type_name("X")->check(positive(1e6));
  app.add_option("--beta-r", o.beta_r, "--kind genarm: beta_r of r = beta_r * sum of the response log-probs")
      ->type_name("X")->check(positive(1e6));
  add_training_options(app, o.train);
}

namespace {
using reward_t = gpt2<rlhf::scalar_head>;
using token_reward_t = gpt2<rlhf::token_reward_head>;
using genarm_t = gpt2<rlhf::lm_head>;

/// The model a reward command trains: --model (a directory with the kind's head) or --init (an
/// SFT model: its trunk under a new score.weight for a scalar head; the whole model for a token
/// head, whose tied projection needs no tensor of its own, and for GenARM's reward LM), and its
/// tokenizer.
template <class Head>
model_and_tokenizer<Head> starting_model(const reward_options& o, rlhf::head_kind head) {
  const auto& source = o.model.empty() ? o.init : o.model;
  gpt2<Head> model = [&] {
    if (!o.model.empty()) return load_model<Head>(o.model, head);
    if constexpr (std::is_same_v<Head, rlhf::lm_head>) {
      return load_model<rlhf::lm_head>(o.init, rlhf::head_kind::lm);  // GenARM: the reward LM starts as the SFT model
    } else if constexpr (std::is_same_v<Head, rlhf::token_reward_head>) {
      // The token head is the SFT model's tied LM head read without softmax: R starts as its logits.
      // Only an lm model has that meaning (a reward or value model's trunk was trained for score.weight).
      if (!std::filesystem::is_directory(o.init))
        RLHF_THROW(io_error, o.init.string(), ": no such model directory (give an SFT model to --init)");
      if (const auto h = rlhf::read_model_info(o.init).head; h != rlhf::head_kind::lm)
        RLHF_THROW(invalid_argument, "--init ", o.init.string(), " holds a model with a ", rlhf::to_string(h),
                   " head; --kind token starts from an SFT model (lm head), or continues a token model with --model");
      return std::move(rlhf::from_pretrained<backend_t, rlhf::token_reward_head>(o.init, o.train.seed).model);
    } else {
      auto started = rlhf::from_pretrained<backend_t, rlhf::scalar_head>(o.init, o.train.seed);
      for (const auto& name : started.created)
        std::fprintf(stderr, "rlhf reward: %s is new (not in %s): initialised N(0, 0.02)\n", name.c_str(), o.init.c_str());
      return std::move(started.model);
    }
  }();
  auto tok = load_checked_tokenizer(source, model.vocab_size());
  return {std::move(model), std::move(tok)};
}

/// Saves the trained model with its run appended to the source's history; prints the summary.
template <class Model>
void finish(const reward_options& o, output_directory& out, const Model& model, rlhf::head_kind head,
            nlohmann::json run, const rlhf::train::loop_result& result) {
  const auto& source = o.model.empty() ? o.init : o.model;
  run["steps"] = result.steps;
  run["first_loss"] = result.first_loss;
  run["last_loss"] = result.last_loss;
  run["seconds"] = result.seconds;
  auto history = rlhf::read_model_info(source).history;
  history.push_back(run);
  if (writes_outputs()) rlhf::save_model(o.out, model, head, history, {.extra_files = rlhf::io::tokenizer_files(source)});
  out.keep();
  std::fprintf(stderr, "rlhf reward: %lld steps, loss %.4f -> %.4f, %.1fs; wrote %s\n",
               static_cast<long long>(result.steps), result.first_loss, result.last_loss, result.seconds, o.out.c_str());
  if (o.train.json) print_json_line({{"event", "done"}, {"run", run}});
}

/// The preference settings every pairwise kind (sequence, prefix, token's L1, genarm) shares.
rlhf::train::reward_config preference_settings(const reward_options& o, const rlhf::io::any_tokenizer& tok) {
  const training_options& t = o.train;
  return {.optimizer = optimizer_settings(t),
          .steps = t.steps,
          .epochs = t.epochs,
          .batch_size = t.batch_size,
          .seed = t.seed,
          .shuffle = t.shuffle,
          .max_length = o.max_length,
          .pad_id = pad_id_of(tok),
          .loss = o.loss,
          .margin = o.margin,
          .center = o.center,
          .label_smoothing = o.label_smoothing,
          .beta = o.beta,
          .prefix = o.kind == "prefix"};
}

/// --kind sequence | prefix: Bradley-Terry on pairs or rankings (prefix: on PARGS prefixes, with
/// the held-out accuracy by response fraction).
int run_preference_model(const reward_options& o) {
  output_directory out(o.out);
  auto [model, tok] = starting_model<rlhf::scalar_head>(o, rlhf::head_kind::reward);
  const auto data = load_comparisons(o.data, tok);
  std::vector<rlhf::data::ranking_example> eval;
  if (!o.eval_data.empty()) eval = load_comparisons(o.eval_data, tok);

  const training_options& t = o.train;
  const bool prefix = o.kind == "prefix";
  const rlhf::train::reward_config cfg = preference_settings(o, tok);
  rlhf::train::reward_trainer<reward_t> trainer(cfg, loop_settings(t, "reward", o.out, rlhf::head_kind::reward));
  const auto held_out = [&](reward_t& m) {
    auto j = rlhf::train::to_json(
        rlhf::train::evaluate_reward(m, eval, cfg.batch_size, trainer.max_length(m), trainer.objective(), cfg.pad_id));
    if (prefix) {
      auto by_fraction = rlhf::train::to_json(
          rlhf::train::evaluate_prefix_reward(m, eval, cfg.batch_size, trainer.max_length(m), cfg.pad_id));
      by_fraction.erase("pairs");
      j.update(by_fraction);
    }
    return j;
  };
  if (!t.resume.empty()) trainer.resume(model, t.resume);
  nlohmann::json run = {{"command", "reward"}, {"kind", o.kind}, {"loss", o.loss}, {"data", o.data.string()}};
  if (!eval.empty()) run["eval_before"] = held_out(model);
  const auto result = trainer.train(model, data, [&](reward_t& m) {
    return eval.empty() ? nlohmann::json(nullptr) : held_out(m);
  });
  if (!eval.empty()) {
    run["eval_after"] = result.last_eval;
    std::fprintf(stderr, "rlhf reward: held-out accuracy %.3f -> %.3f\n", run["eval_before"]["accuracy"].get<double>(),
                 result.last_eval["accuracy"].get<double>());
    if (prefix)
      std::fprintf(stderr, "rlhf reward: held-out prefix accuracy at 25/50/75/100%% of the responses: %.3f %.3f %.3f %.3f\n",
                   result.last_eval["prefix_accuracy/25"].get<double>(), result.last_eval["prefix_accuracy/50"].get<double>(),
                   result.last_eval["prefix_accuracy/75"].get<double>(), result.last_eval["prefix_accuracy/100"].get<double>());
  }
  finish(o, out, model, rlhf::head_kind::reward, std::move(run), result);
  return 0;
}

/// --kind value: a CD-FUDGE value model regressed on the scored responses of --data.
int run_value_model(const reward_options& o) {
  output_directory out(o.out);
  auto [model, tok] = starting_model<rlhf::scalar_head>(o, rlhf::head_kind::value);
  const auto data = rlhf::data::load_scored(o.data, tok);
  std::vector<rlhf::data::scored_example> eval;
  if (!o.eval_data.empty()) eval = rlhf::data::load_scored(o.eval_data, tok);
  const training_options& t = o.train;
  const rlhf::train::value_config cfg{.optimizer = optimizer_settings(t),
                                      .steps = t.steps,
                                      .epochs = t.epochs,
                                      .batch_size = t.batch_size,
                                      .seed = t.seed,
                                      .shuffle = t.shuffle,
                                      .max_length = o.max_length,
                                      .pad_id = pad_id_of(tok)};
  rlhf::train::value_trainer<reward_t> trainer(cfg, loop_settings(t, "value", o.out, rlhf::head_kind::value));
  const auto held_out = [&](reward_t& m) {
    return rlhf::train::to_json(rlhf::train::evaluate_value(m, eval, cfg.batch_size, trainer.max_length(m), cfg.pad_id));
  };
  if (!t.resume.empty()) trainer.resume(model, t.resume);
  nlohmann::json run = {{"command", "reward"}, {"kind", o.kind}, {"data", o.data.string()}};
  if (!eval.empty()) run["eval_before"] = held_out(model);
  const auto result = trainer.train(model, data, [&](reward_t& m) {
    return eval.empty() ? nlohmann::json(nullptr) : held_out(m);
  });
  if (!eval.empty()) {
    run["eval_after"] = result.last_eval;
    std::fprintf(stderr, "rlhf reward: held-out R2 of the last-token value %.3f -> %.3f\n",
                 run["eval_before"]["r2"].get<double>(), result.last_eval["r2"].get<double>());
  }
  finish(o, out, model, rlhf::head_kind::value, std::move(run), result);
  return 0;
}

/// --kind token: a FaRMA token reward model, L1 (the preference loss at the last token) alternated
/// with L2 (max-consistency over the chosen responses' prefixes); saved with head kind "token".
int run_token_model(const reward_options& o) {
  if (o.rounds > 0 && o.l2_every != 1)
    throw usage_error("--l2-every " + std::to_string(o.l2_every) + " is the step alternation's period, but --rounds " +
                      std::to_string(o.rounds) + " selects the epoch alternation; give one of them");
  if (o.rounds > 0 && o.train.steps != 0)
    throw usage_error("--steps is the length of the step alternation; with --rounds the run is --rounds rounds of "
                      "(an L1 epoch, an L2 epoch): drop --steps or --rounds");
  output_directory out(o.out);
  auto [model, tok] = starting_model<rlhf::token_reward_head>(o, rlhf::head_kind::token);
  const auto data = load_comparisons(o.data, tok);
  std::vector<rlhf::data::ranking_example> eval;
  if (!o.eval_data.empty()) eval = load_comparisons(o.eval_data, tok);

  const training_options& t = o.train;
  rlhf::train::farma_config cfg;
  cfg.l1 = preference_settings(o, tok);
  cfg.alternation = o.rounds > 0 ? rlhf::train::farma_alternation::epoch : rlhf::train::farma_alternation::step;
  cfg.l2_every = o.l2_every;
  cfg.rounds = std::max<std::int64_t>(o.rounds, 1);
  cfg.stop_gradient_max = o.stop_gradient_max;
  cfg.l2_weight = o.l2_weight;
  rlhf::train::farma_trainer<token_reward_t> trainer(cfg, loop_settings(t, "farma", o.out, rlhf::head_kind::token));
  const auto held_out = [&](token_reward_t& m) {
    return rlhf::train::to_json(rlhf::train::evaluate_farma(m, eval, cfg.l1.batch_size, trainer.max_length(m),
                                                            trainer.objective(), cfg.l1.pad_id));
  };
  if (!t.resume.empty()) trainer.resume(model, t.resume);
  nlohmann::json run = {{"command", "reward"}, {"kind", o.kind}, {"loss", o.loss}, {"data", o.data.string()},
                        {"alternation", rlhf::train::to_string(cfg.alternation)}};
  if (cfg.alternation == rlhf::train::farma_alternation::epoch) run["rounds"] = cfg.rounds;
  else run["l2_every"] = cfg.l2_every;
  if (!eval.empty()) run["eval_before"] = held_out(model);
  const auto result = trainer.train(model, data, [&](token_reward_t& m) {
    return eval.empty() ? nlohmann::json(nullptr) : held_out(m);
  });
  if (!eval.empty()) {
    run["eval_after"] = result.last_eval;
    std::fprintf(stderr, "rlhf reward: held-out accuracy %.3f -> %.3f, consistency error %.4f -> %.4f\n",
                 run["eval_before"]["accuracy"].get<double>(), result.last_eval["accuracy"].get<double>(),
                 run["eval_before"]["consistency_error"].get<double>(), result.last_eval["consistency_error"].get<double>());
  }
  finish(o, out, model, rlhf::head_kind::token, std::move(run), result);
  return 0;
}

/// --kind genarm: a GenARM reward LM, r = beta_r * the summed response log-probs, trained with the
/// preference loss; saved as an lm model (head kind "lm").
int run_genarm_model(const reward_options& o) {
  output_directory out(o.out);
  auto [model, tok] = starting_model<rlhf::lm_head>(o, rlhf::head_kind::lm);
  const auto data = load_comparisons(o.data, tok);
  std::vector<rlhf::data::ranking_example> eval;
  if (!o.eval_data.empty()) eval = load_comparisons(o.eval_data, tok);

  const training_options& t = o.train;
  const rlhf::train::genarm_config cfg{.reward = preference_settings(o, tok), .beta_r = o.beta_r};
  rlhf::train::genarm_trainer<genarm_t> trainer(cfg, loop_settings(t, "genarm", o.out, rlhf::head_kind::lm));
  const auto held_out = [&](genarm_t& m) {
    return rlhf::train::to_json(rlhf::train::evaluate_genarm(m, eval, cfg.reward.batch_size, trainer.max_length(m),
                                                             cfg.beta_r, trainer.objective(), cfg.reward.pad_id));
  };
  if (!t.resume.empty()) trainer.resume(model, t.resume);
  nlohmann::json run = {{"command", "reward"}, {"kind", o.kind}, {"loss", o.loss}, {"data", o.data.string()},
                        {"beta_r", cfg.beta_r}};
  if (!eval.empty()) run["eval_before"] = held_out(model);
  const auto result = trainer.train(model, data, [&](genarm_t& m) {
    return eval.empty() ? nlohmann::json(nullptr) : held_out(m);
  });
  if (!eval.empty()) {
    run["eval_after"] = result.last_eval;
    std::fprintf(stderr, "rlhf reward: held-out accuracy %.3f -> %.3f\n", run["eval_before"]["accuracy"].get<double>(),
                 result.last_eval["accuracy"].get<double>());
  }
  finish(o, out, model, rlhf::head_kind::lm, std::move(run), result);
  return 0;
}

}  // namespace

int run_reward(const reward_options& o) {
  if (o.model.empty() == o.init.empty()) throw usage_error("give --model DIR (a model with the kind's head) or --init DIR (an SFT model)");
  if (o.kind != "token" && (o.l2_every != 1 || o.rounds != 0 || o.stop_gradient_max || o.l2_weight != 1.0))
    throw usage_error("--l2-every, --rounds, --stop-gradient-max and --l2-weight are FaRMA's options; they need --kind token");
  if (o.kind != "genarm" && o.beta_r != 1.0) throw usage_error("--beta-r is GenARM's option; it needs --kind genarm");
  set_threads(o.train.threads);
  if (o.kind == "token") return run_token_model(o);
  if (o.kind == "genarm") return run_genarm_model(o);
  return o.kind == "value" ? run_value_model(o) : run_preference_model(o);
}

}  // namespace rlhf::cli
