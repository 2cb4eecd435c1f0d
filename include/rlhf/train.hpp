// SPDX-License-Identifier: MIT
#pragma once
/// @file Umbrella for train/: optimizers (AdamW, SGD), learning-rate schedules, gradient
/// clipping, gradient accumulation, and the SFT trainer.
#include "rlhf/train/accumulation.hpp"
#include "rlhf/train/adamw.hpp"
#include "rlhf/train/grad_clip.hpp"
#include "rlhf/train/optimizer.hpp"
#include "rlhf/train/schedule.hpp"
#include "rlhf/train/sft.hpp"
#include "rlhf/train/sgd.hpp"
