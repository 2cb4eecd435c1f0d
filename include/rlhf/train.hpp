// SPDX-License-Identifier: MIT
#pragma once
/// @file Umbrella for train/: optimizers (AdamW, SGD) and the optimizer config every trainer
/// shares, learning-rate schedules, gradient clipping and accumulation, the training loop with
/// progress, JSON logs, evaluation and resumable checkpoints, the SFT trainer, the reward-model
/// trainer (sequence and PARGS prefix kinds), the CD value trainer, FaRMA and GenARM token reward
/// trainers, the DPO family, and the online trainers (PPO with a critic, RLOO, GRPO).
#include "rlhf/train/accumulation.hpp"
#include "rlhf/train/adamw.hpp"
#include "rlhf/train/dataset_loop.hpp"
#include "rlhf/train/dpo.hpp"
#include "rlhf/train/farma.hpp"
#include "rlhf/train/genarm.hpp"
#include "rlhf/train/grad_clip.hpp"
#include "rlhf/train/grpo.hpp"
#include "rlhf/train/optimizer.hpp"
#include "rlhf/train/optimizer_config.hpp"
#include "rlhf/train/policy_model.hpp"
#include "rlhf/train/ppo.hpp"
#include "rlhf/train/progress.hpp"
#include "rlhf/train/reward.hpp"
#include "rlhf/train/rloo.hpp"
#include "rlhf/train/rollout.hpp"
#include "rlhf/train/schedule.hpp"
#include "rlhf/train/sft.hpp"
#include "rlhf/train/sgd.hpp"
#include "rlhf/train/training_loop.hpp"
#include "rlhf/train/value.hpp"
