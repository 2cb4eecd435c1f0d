// SPDX-License-Identifier: MIT
#pragma once
/// @file Umbrella for data/: token batches and their validation, JSONL datasets, collation,
/// batching, and response views (sequence-aligned model outputs <-> response-aligned numbers).
#include "rlhf/data/batching.hpp"
#include "rlhf/data/collate.hpp"
#include "rlhf/data/datasets.hpp"
#include "rlhf/data/jsonl.hpp"
#include "rlhf/data/response_log_probs.hpp"
#include "rlhf/data/response_view.hpp"
#include "rlhf/data/token_batch.hpp"
#include "rlhf/data/validate_batch.hpp"
