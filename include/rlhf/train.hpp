// SPDX-License-Identifier: MIT
#pragma once
/// @file Umbrella for train/: optimizers (AdamW, SGD) and the optimizer config every trainer
/// shares, learning-rate schedules, gradient clipping and accumulation, the training loop with
/// progress, JSON logs, evaluation and resumable checkpoints, the SFT trainer, the reward-model
/// trainer (sequence and PARGS prefix kinds) and the CD value trainer.
#include "rlhf/train/accumulation.hpp"
#include "rlhf/train/adamw.hpp"
#include "rlhf/train/dataset_loop.hpp"
#include "rlhf/train/grad_clip.hpp"
#include "rlhf/train/optimizer.hpp"
#include "rlhf/train/optimizer_config.hpp"
#include "rlhf/train/progress.hpp"
#include "rlhf/train/reward.hpp"
#include "rlhf/train/schedule.hpp"
#include "rlhf/train/sft.hpp"
#include "rlhf/train/sgd.hpp"
#include "rlhf/train/training_loop.hpp"
#include "rlhf/train/value.hpp"
