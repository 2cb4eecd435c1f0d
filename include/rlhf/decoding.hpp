// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Umbrella for decoding/: `rlhf::generate` (batched sampling with a KV-cache session).
#include "rlhf/decoding/generate.hpp"
