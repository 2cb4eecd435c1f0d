// SPDX-License-Identifier: MIT
#pragma once
/// @file Umbrella for data/: token batches, JSONL datasets, collation, batching.
#include "rlhf/data/batching.hpp"
#include "rlhf/data/collate.hpp"
#include "rlhf/data/datasets.hpp"
#include "rlhf/data/jsonl.hpp"
#include "rlhf/data/token_batch.hpp"
