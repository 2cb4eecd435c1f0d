// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Umbrella for objective/: pure host-side losses, divergences and advantage estimators on
/// per-sequence and per-token numbers, each with its analytic gradient (docs/objectives.md).
#include "rlhf/objective/concepts.hpp"
#include "rlhf/objective/real_span.hpp"

// preference losses (policy types, namespace rlhf::loss) and their batch forms
#include "rlhf/objective/conservative_loss.hpp"
#include "rlhf/objective/hinge_loss.hpp"
#include "rlhf/objective/ipo_loss.hpp"
#include "rlhf/objective/robust_loss.hpp"
#include "rlhf/objective/sigmoid_loss.hpp"
#include "rlhf/objective/pairwise_loss.hpp"
#include "rlhf/objective/ranking_loss.hpp"

// divergences (policy types, namespace rlhf::divergences) and KL estimators
#include "rlhf/objective/alpha_divergence.hpp"
#include "rlhf/objective/forward_kl.hpp"
#include "rlhf/objective/js_divergence.hpp"
#include "rlhf/objective/kl_estimator.hpp"
#include "rlhf/objective/reverse_kl.hpp"

// DPO family and the closed-form optimum
#include "rlhf/objective/dpo_loss.hpp"
#include "rlhf/objective/kl_optimum.hpp"

// PPO and critic-free policy gradients
#include "rlhf/objective/adaptive_kl.hpp"
#include "rlhf/objective/gae.hpp"
#include "rlhf/objective/grpo.hpp"
#include "rlhf/objective/kl_loss.hpp"
#include "rlhf/objective/kl_penalty.hpp"
#include "rlhf/objective/ppo_clip_loss.hpp"
#include "rlhf/objective/rloo.hpp"
#include "rlhf/objective/value_loss.hpp"
#include "rlhf/objective/whiten.hpp"

// FaRMA
#include "rlhf/objective/max_consistency_loss.hpp"

// run-time selection for command lines
#include "rlhf/objective/parse.hpp"
