// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Umbrella for decoding/: the decode loop and `rlhf::generate` (plain sampling), token-level
/// reward guidance (`guided_decoder` with guide::none, args / pargs / cd, farma, genarm) and the
/// segment- and sequence-level decoders (cards_decoder, block_cd_decoder, best_of_n_decoder).
#include "rlhf/decoding/args.hpp"
#include "rlhf/decoding/best_of_n.hpp"
#include "rlhf/decoding/block_cd.hpp"
#include "rlhf/decoding/cards.hpp"
#include "rlhf/decoding/decode_loop.hpp"
#include "rlhf/decoding/farma.hpp"
#include "rlhf/decoding/generate.hpp"
#include "rlhf/decoding/genarm.hpp"
#include "rlhf/decoding/guided_decoder.hpp"
