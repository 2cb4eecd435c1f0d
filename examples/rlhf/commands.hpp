// SPDX-License-Identifier: MIT
#pragma once
// One function per subcommand, each in its own translation unit.
namespace rlhf::cli {
int run_init(int argc, char** argv);
int run_sft(int argc, char** argv);
int run_logprobs(int argc, char** argv);
int run_generate(int argc, char** argv);
int run_data(int argc, char** argv);
}  // namespace rlhf::cli
