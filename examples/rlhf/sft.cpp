// SPDX-License-Identifier: MIT
// rlhf sft: supervised fine-tuning (loss on response tokens only, CLI.md).
#include <cstdio>

#include <rlhf/data.hpp>
#include <rlhf/train.hpp>

#include "commands.hpp"
#include "common.hpp"
#include "model_dir.hpp"

namespace rlhf::cli {

int run_sft(int argc, char** argv) {
  auto specs = training_options();
  specs.insert(specs.begin(), {
      {"model", "DIR", "model directory to start from (lm head)", "", true},
      {"data", "FILE", "JSONL records with prompt + completion (or prompt_ids + completion_ids)", "", true},
      {"out", "DIR", "model directory to write (may equal --model; written atomically)", "", true},
      {"eval-data", "FILE", "held-out JSONL records: mean NLL per response token before and after", ""},
      {"grad-accum", "N", "micro-batches per optimizer step", "1"},
      {"max-length", "N", "longest sequence (0 = the model's n_positions)", "0"},
      {"min-lr", "X", "floor of the cosine decay", "0"},
      {"schedule", "cosine|constant", "learning-rate schedule after warmup", "cosine"},
      {"momentum", "X", "SGD momentum", "0"},
  });
  options opt("sft", specs);
  opt.parse(argc, argv, 2);
  if (opt.flag("help")) {
    std::fputs(opt.help("Fine-tunes an lm-head model on prompt/completion records; the loss is the sum of response-token\n"
                        "negative log-likelihoods divided by the response tokens of the batch.").c_str(), stdout);
    return 0;
  }
  set_threads(opt.integer("threads", 0, 1024));
  rlhf::train::sft_config cfg;
  cfg.steps = opt.integer("steps", 0, INT32_MAX);
  cfg.epochs = opt.integer("epochs", 1, INT32_MAX);
  cfg.batch_size = opt.integer("batch-size", 1, 1 << 20);
  cfg.grad_accum = opt.integer("grad-accum", 1, 1 << 20);
  cfg.lr = opt.real("lr", 0, 10, true);
  cfg.optimizer = opt.choice("optimizer", {"adamw", "sgd"}) == "sgd" ? rlhf::train::optimizer_kind::sgd : rlhf::train::optimizer_kind::adamw;
  cfg.weight_decay = opt.real("weight-decay", 0, 10);
  cfg.max_grad_norm = opt.real("max-grad-norm", 0, 1e30);
  cfg.warmup = opt.integer("warmup", 0, INT32_MAX);
  cfg.min_lr = opt.real("min-lr", 0, 10);
  cfg.momentum = opt.real("momentum", 0, 0.9999);
  cfg.schedule = opt.choice("schedule", {"cosine", "constant"}) == "constant" ? rlhf::train::schedule_kind::constant
                                                                             : rlhf::train::schedule_kind::cosine;
  cfg.shuffle = opt.flag("shuffle");
  cfg.seed = static_cast<std::uint64_t>(opt.integer("seed", 0, INT64_MAX));
  cfg.max_length = opt.integer("max-length", 0, INT32_MAX);
  const long log_every = opt.integer("log-every", 1, INT32_MAX);
  const bool json = opt.flag("json");

  const std::filesystem::path model_dir = opt.str("model"), out = opt.str("out");
  auto model = load_model<rlhf::lm_head>(model_dir, rlhf::head_kind::lm);
  const auto tok = load_checked_tokenizer(model_dir, model.vocab_size());
  cfg.pad_id = tok.eos_id();
  const auto data = rlhf::data::load_sft(opt.str("data"), tok);
  std::vector<rlhf::data::sft_example> eval;
  if (!opt.str("eval-data").empty()) eval = rlhf::data::load_sft(opt.str("eval-data"), tok);

  rlhf::train::sft_trainer<policy_t> trainer(model, cfg);
  const index_t max_len = trainer.config().max_length;
  double eval_before = 0;
  if (!eval.empty()) eval_before = rlhf::train::evaluate_nll(model, eval, cfg.batch_size, max_len).mean_nll;
  const auto total = trainer.planned_steps(static_cast<index_t>(data.size()));
  progress bar("sft", static_cast<long>(total));
  const auto result = trainer.train(data, [&](const rlhf::train::sft_step_metrics& m) {
    char extra[96];
    std::snprintf(extra, sizeof extra, "loss %.4f  %.0f tok/s", m.loss, m.tokens_per_second);
    bar.update(static_cast<long>(m.step), extra);
    if (json && (m.step % log_every == 0 || m.step == m.total_steps)) print_json_line(rlhf::train::to_json(m));
  });
  bar.finish();

  nlohmann::json run = {{"command", "sft"},        {"data", opt.str("data")},     {"steps", result.steps},
                        {"lr", cfg.lr},            {"batch_size", cfg.batch_size}, {"first_loss", result.first_loss},
                        {"last_loss", result.last_loss}, {"seconds", result.seconds}};
  if (!eval.empty()) {
    const double eval_after = rlhf::train::evaluate_nll(model, eval, cfg.batch_size, max_len).mean_nll;
    run["eval_nll_before"] = eval_before;
    run["eval_nll_after"] = eval_after;
    std::fprintf(stderr, "rlhf sft: held-out NLL per response token %.4f -> %.4f\n", eval_before, eval_after);
  }
  auto history = rlhf::read_model_info(model_dir).history;
  history.push_back(run);
  std::filesystem::create_directories(out);
  rlhf::save_model(out, model, rlhf::head_kind::lm, history);
  copy_tokenizer_files(model_dir, out);
  std::fprintf(stderr, "rlhf sft: %lld steps, loss %.4f -> %.4f, %.1fs; wrote %s\n",
               static_cast<long long>(result.steps), result.first_loss, result.last_loss, result.seconds, out.c_str());
  if (json) print_json_line({{"event", "done"}, {"run", run}});
  return 0;
}

}  // namespace rlhf::cli
