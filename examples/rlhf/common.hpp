// SPDX-License-Identifier: MIT
#pragma once
// Pieces every subcommand of the rlhf program shares: progress on stderr, JSON lines on stdout,
// threads, atomic JSONL output.
#include <chrono>
#include <cstdio>
#include <string>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "args.hpp"

namespace rlhf::cli {

/// Options every training command takes (CLI.md).
inline std::vector<option_spec> training_options(std::string steps_default = "0") {
  return {
      {"steps", "N", "optimizer steps (0 = as many as --epochs gives)", steps_default},
      {"epochs", "N", "passes over the data", "1"},
      {"batch-size", "N", "records per optimizer step", "8"},
      {"lr", "X", "peak learning rate", "3e-4"},
      {"optimizer", "adamw|sgd", "optimizer", "adamw"},
      {"weight-decay", "X", "decoupled weight decay (AdamW) / L2 (SGD)", "0"},
      {"max-grad-norm", "X", "clip the global gradient norm (0 = off)", "1"},
      {"warmup", "N", "linear warmup steps before cosine decay", "0"},
      {"shuffle", "", "shuffle records each epoch (file order otherwise)", ""},
      {"seed", "N", "random seed", "1"},
      {"threads", "N", "CPU threads (0 = all cores)", "0"},
      {"json", "", "print one JSON object per logging step on stdout", ""},
      {"log-every", "N", "log every N steps", "10"},
  };
}

/// Progress line with rate and ETA on stderr, only when stderr is a terminal.
class progress {
 public:
  explicit progress(std::string what, long total)
      : what_(std::move(what)), total_(total), tty_(isatty(fileno(stderr)) != 0),
        start_(std::chrono::steady_clock::now()) {}
  void update(long done, const std::string& extra = "") {
    if (!tty_) return;
    const double s = seconds();
    const double rate = s > 0 ? done / s : 0;
    const double eta = rate > 0 && total_ > 0 ? (total_ - done) / rate : 0;
    std::fprintf(stderr, "\r%s %ld/%ld  %.1f/s  ETA %.0fs  %s\033[K", what_.c_str(), done, total_, rate, eta,
                 extra.c_str());
    std::fflush(stderr);
  }
  void finish() {
    if (tty_) std::fprintf(stderr, "\n");
  }
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::string what_;
  long total_;
  bool tty_;
  std::chrono::steady_clock::time_point start_;
};

inline void print_json_line(const nlohmann::json& j) {
  std::fputs((j.dump() + "\n").c_str(), stdout);
  std::fflush(stdout);
}

}  // namespace rlhf::cli
