// SPDX-License-Identifier: MIT
// rlhf sft: supervised fine-tuning (loss on response tokens only, CLI.md).
#include <algorithm>
#include <cstdio>
#include <limits>

#include <rlhf/data.hpp>
#include <rlhf/train.hpp>

#include "cli.hpp"
#include "model_dir.hpp"
#include "training.hpp"

namespace rlhf::cli {

void add_sft_options(CLI::App& app, sft_options& o) {
  constexpr std::int64_t int_max = std::numeric_limits<std::int32_t>::max();
  describe(app, "Fine-tunes an lm-head model on prompt/completion records; the loss is the sum of response-token\n"
                "negative log-likelihoods divided by the response tokens of the batch.");
  app.add_option("--model", o.model, "model directory to start from (lm head)")->type_name("DIR")->required();
  app.add_option("--data", o.data, "JSONL records with prompt + completion (or prompt_ids + completion_ids)")
      ->type_name("FILE")->required();
  app.add_option("--out", o.out, "model directory to write (may equal --model; written atomically)")
      ->type_name("DIR")->required();
  app.add_option("--eval-data", o.eval_data, "held-out JSONL records: mean NLL per response token before and after")
      ->type_name("FILE");
  app.add_option("--max-length", o.max_length, "longest sequence (0 = the model's n_positions)")
      ->type_name("N")->check(range<std::int64_t>(0, int_max));
  add_training_options(app, o.train);
}

namespace {

struct sft_run {
  index_t steps = 0;
  double first_loss = 0, last_loss = 0, seconds = 0;
  double eval_before = 0, eval_after = 0;
};

// The one place the command meets the trainer: rlhf::train::sft_trainer on the shared loop,
// configured from the shared training options.
sft_run train(policy_t& model, const sft_options& o, token_id pad_id, const std::vector<rlhf::data::sft_example>& data,
              const std::vector<rlhf::data::sft_example>& eval) {
  const training_options& t = o.train;
  const rlhf::train::sft_config cfg{.optimizer = optimizer_settings(t),
                                    .steps = t.steps,
                                    .epochs = t.epochs,
                                    .batch_size = t.batch_size,
                                    .seed = t.seed,
                                    .shuffle = t.shuffle,
                                    .max_length = o.max_length,
                                    .pad_id = pad_id};
  rlhf::train::sft_trainer<policy_t> trainer(cfg, loop_settings(t, "sft", o.out, rlhf::head_kind::lm));
  const index_t max_len = trainer.max_length(model);
  sft_run run;
  const auto held_out = [&](policy_t& m) {
    return rlhf::train::evaluate_nll(m, eval, cfg.batch_size, max_len).mean_nll;
  };
  if (!t.resume.empty()) trainer.resume(model, t.resume);
  if (!eval.empty()) run.eval_before = held_out(model);
  const auto result = trainer.train(model, data, [&](policy_t& m) {
    return eval.empty() ? nlohmann::json(nullptr) : nlohmann::json{{"eval_nll", held_out(m)}};
  });
  if (!eval.empty()) run.eval_after = result.last_eval.at("eval_nll").get<double>();
  run.steps = result.steps;
  run.first_loss = result.first_loss;
  run.last_loss = result.last_loss;
  run.seconds = result.seconds;
  return run;
}

}  // namespace

int run_sft(const sft_options& o) {
  set_threads(o.train.threads);
  output_directory out(o.out);
  auto [model, tok] = open_policy(o.model);
  const auto data = rlhf::data::load_sft(o.data, tok);
  std::vector<rlhf::data::sft_example> eval;
  if (!o.eval_data.empty()) eval = rlhf::data::load_sft(o.eval_data, tok);

  const sft_run result = train(model, o, pad_id_of(tok), data, eval);

  nlohmann::json run = {{"command", "sft"},         {"data", o.data.string()},     {"steps", result.steps},
                        {"lr", o.train.lr},         {"batch_size", o.train.batch_size}, {"first_loss", result.first_loss},
                        {"last_loss", result.last_loss}, {"seconds", result.seconds}};
  if (!eval.empty()) {
    run["eval_nll_before"] = result.eval_before;
    run["eval_nll_after"] = result.eval_after;
    std::fprintf(stderr, "rlhf sft: held-out NLL per response token %.4f -> %.4f\n", result.eval_before,
                 result.eval_after);
  }
  auto history = rlhf::read_model_info(o.model).history;
  history.push_back(run);
  if (writes_outputs()) rlhf::save_model(o.out, model, rlhf::head_kind::lm, history, {.extra_files = rlhf::io::tokenizer_files(o.model)});
  out.keep();
  std::fprintf(stderr, "rlhf sft: %lld steps, loss %.4f -> %.4f, %.1fs; wrote %s\n",
               static_cast<long long>(result.steps), result.first_loss, result.last_loss, result.seconds,
               o.out.c_str());
  if (o.train.json) print_json_line({{"event", "done"}, {"run", run}});
  return 0;
}

}  // namespace rlhf::cli
