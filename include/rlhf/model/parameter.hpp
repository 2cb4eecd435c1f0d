// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Named parameter tensors: one arena for values, one for gradients, and a table of
/// (name, shape, offset) derived once, from which sizes, views, checkpoint I/O and test
/// messages all follow (llm.c's ParameterTensors, made type-safe).
#include <string>
#include <type_traits>
#include <vector>

#include "rlhf/core/view.hpp"

namespace rlhf {

/// One entry of a model's parameter table. Names are Hugging Face GPT-2's (CLI.md), e.g.
/// "h.0.attn.c_attn.weight"; `value` and `grad` view the model's arenas. `T` is float except in
/// the double-precision instantiations that gradient checks use.
template <class Space, class T = float>
struct named_parameter {
  std::string name;
  view<T, Space> value;
  view<T, Space> grad;
};

/// The compute backend of a model: its `backend_type` member alias (every model has one; the
/// optimizers and checkpoints copy through it).
template <class M>
using model_backend_t = typename std::remove_cvref_t<M>::backend_type;

}  // namespace rlhf
