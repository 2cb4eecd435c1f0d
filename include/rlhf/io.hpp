// SPDX-License-Identifier: MIT
#pragma once
/// @file Umbrella for io/: atomic files, safetensors, .npy, tokenizers (byte, GPT-2 BPE, any), BPE training.
#include "rlhf/io/any_tokenizer.hpp"
#include "rlhf/io/atomic_file.hpp"
#include "rlhf/io/bpe_trainer.hpp"
#include "rlhf/io/byte_tokenizer.hpp"
#include "rlhf/io/gpt2_tokenizer.hpp"
#include "rlhf/io/load_tokenizer.hpp"
#include "rlhf/io/no_tokenizer.hpp"
#include "rlhf/io/npy.hpp"
#include "rlhf/io/safetensors.hpp"
#include "rlhf/io/tokenizer.hpp"
