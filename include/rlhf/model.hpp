// SPDX-License-Identifier: MIT
#pragma once
/// @file Umbrella for model/: the model concepts, named parameters, the GPT-2 config, the
/// GPT-2-family transformer with its heads and KV-cache sessions, the tabular LM, and model
/// directories (config.json + model.safetensors + rlhf.json).
#include "rlhf/model/checkpoint.hpp"
#include "rlhf/model/compatibility.hpp"
#include "rlhf/model/concepts.hpp"
#include "rlhf/model/from_pretrained.hpp"
#include "rlhf/model/gpt2_config.hpp"
#include "rlhf/model/heads.hpp"
#include "rlhf/model/kv_session.hpp"
#include "rlhf/model/parameter.hpp"
#include "rlhf/model/response_log_probs.hpp"
#include "rlhf/model/sequence_rewards.hpp"
#include "rlhf/model/tabular_model.hpp"
#include "rlhf/model/transformer.hpp"
