// SPDX-License-Identifier: MIT
// The rlhf program (CLI.md): every stage of the recipe on files. Bad input exits with status 2
// and a one-line message naming the input; anything else unexpected exits with 1.
#include <cstdio>
#include <exception>
#include <string>

#include <rlhf/core/error.hpp>

#include "commands.hpp"

namespace {
constexpr const char* usage =
    "usage: rlhf <command> [options]   (rlhf <command> --help for its options)\n"
    "commands:\n"
    "  init       random-initialise a model directory\n"
    "  sft        supervised fine-tuning on prompt/completion records\n"
    "  logprobs   per-token log-probabilities of every response of every record\n"
    "  generate   sample responses (temperature, top-k, top-p, min-p, ...)\n"
    "  data       write the built-in review task's data files\n";
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(usage, stderr);
    return 2;
  }
  const std::string cmd = argv[1];
  try {
    if (cmd == "init") return rlhf::cli::run_init(argc, argv);
    if (cmd == "sft") return rlhf::cli::run_sft(argc, argv);
    if (cmd == "logprobs") return rlhf::cli::run_logprobs(argc, argv);
    if (cmd == "generate") return rlhf::cli::run_generate(argc, argv);
    if (cmd == "data") return rlhf::cli::run_data(argc, argv);
    if (cmd == "--help" || cmd == "-h" || cmd == "help") {
      std::fputs(usage, stdout);
      return 0;
    }
    std::fprintf(stderr, "rlhf: unknown command '%s'\n%s", cmd.c_str(), usage);
    return 2;
  } catch (const rlhf::internal_error& e) {
    std::fprintf(stderr, "rlhf %s: %s\n", cmd.c_str(), e.what());
    return 1;
  } catch (const rlhf::error& e) {
    std::fprintf(stderr, "rlhf %s: %s\n", cmd.c_str(), e.what());
    return 2;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "rlhf %s: out of memory; use a smaller --batch-size or model\n", cmd.c_str());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rlhf %s: unexpected error: %s\n", cmd.c_str(), e.what());
    return 1;
  }
}
