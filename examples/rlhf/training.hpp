// SPDX-License-Identifier: MIT
#pragma once
// What every training command hands the library from its shared options: the optimizer
// settings (rlhf::train::optimizer_config) and how the training loop reports and saves
// (rlhf::train::loop_options: --json on stdout, progress on stderr, --eval-every, --save-every
// into OUT/checkpoint-N).
#include <filesystem>
#include <iostream>
#include <string>

#include <rlhf/model/checkpoint.hpp>
#include <rlhf/train/optimizer_config.hpp>
#include <rlhf/train/training_loop.hpp>

#include "commands.hpp"

namespace rlhf::cli {

inline rlhf::train::optimizer_config optimizer_settings(const training_options& t) {
  return {.kind = t.optimizer == optimizer_name::sgd ? rlhf::train::optimizer_kind::sgd : rlhf::train::optimizer_kind::adamw,
          .lr = t.lr,
          .schedule = t.schedule == schedule_name::constant ? rlhf::train::schedule_kind::constant
                                                            : rlhf::train::schedule_kind::cosine,
          .warmup = t.warmup,
          .min_lr = t.min_lr,
          .weight_decay = t.weight_decay,
          .max_grad_norm = t.max_grad_norm,
          .grad_accum = t.grad_accum,
          .momentum = t.momentum};
}

inline rlhf::train::loop_options loop_settings(const training_options& t, std::string name,
                                               const std::filesystem::path& out, rlhf::head_kind head) {
  return {.name = std::move(name),
          .log_every = t.log_every,
          .json = t.json ? &std::cout : nullptr,
          .eval_every = t.eval_every,
          .save_every = t.save_every,
          .checkpoint_dir = out,
          .head = head,
          .seed = t.seed};
}

}  // namespace rlhf::cli
