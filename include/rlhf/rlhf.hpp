// SPDX-License-Identifier: MIT
#pragma once
/// @file The whole library for the configured default backend.
#include "rlhf/core.hpp"
#include "rlhf/backend.hpp"
#include "rlhf/data.hpp"
#include "rlhf/io.hpp"
#include "rlhf/model.hpp"
#include "rlhf/objective.hpp"
#include "rlhf/sampling.hpp"
#include "rlhf/decoding.hpp"
#include "rlhf/train.hpp"
