// SPDX-License-Identifier: MIT
#pragma once
/// @file Umbrella for core/: errors, views, the counter-based RNG, stable scalar math.
#include "rlhf/config.hpp"
#include "rlhf/core/error.hpp"
#include "rlhf/core/math.hpp"
#include "rlhf/core/rng.hpp"
#include "rlhf/core/view.hpp"
