// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Umbrella for sampling/: candidates, the logit_processor / selector / sampler concepts, the
/// processors (temperature, top_k, top_p, min_p, typical, repetition_penalty,
/// frequency_penalty, logit_bias), the selectors (greedy, categorical), the compile-time chain,
/// the runtime any_sampler and sample_row (model and sampling log-probs). See docs/sampling.md.
#include "rlhf/sampling/any_sampler.hpp"
#include "rlhf/sampling/candidates.hpp"
#include "rlhf/sampling/categorical.hpp"
#include "rlhf/sampling/chain.hpp"
#include "rlhf/sampling/concepts.hpp"
#include "rlhf/sampling/frequency_penalty.hpp"
#include "rlhf/sampling/greedy.hpp"
#include "rlhf/sampling/logit_bias.hpp"
#include "rlhf/sampling/min_p.hpp"
#include "rlhf/sampling/repetition_penalty.hpp"
#include "rlhf/sampling/sample_row.hpp"
#include "rlhf/sampling/temperature.hpp"
#include "rlhf/sampling/top_k.hpp"
#include "rlhf/sampling/top_p.hpp"
#include "rlhf/sampling/typical.hpp"
