// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Clipping by the global L2 norm of all gradients (Pascanu et al. 2013, "On the difficulty of
/// training recurrent neural networks", Algorithm 1), as torch.nn.utils.clip_grad_norm_:
///   n = √(Σ_tensors Σ g²);  if n > max_norm: g ← g · max_norm / (n + 1e-6).
/// The norm is accumulated in double (the backend's sum_squares). A NaN or infinite norm leaves
/// the gradients as they are and is reported, so the trainer can skip the step instead of
/// writing NaN into the weights (a numerical outcome, not an exception: house style §8.8).
#include <cmath>
#include <ranges>
#include <type_traits>

#include "rlhf/backend/backend.hpp"
#include "rlhf/core/error.hpp"
#include "rlhf/train/optimizer.hpp"

namespace rlhf::train {

/// What clip_grad_norm saw and did.
struct clip_result {
  double norm = 0.0;     ///< global L2 norm before clipping
  bool finite = true;    ///< false: NaN/inf gradients; nothing was scaled; skip this step
  bool clipped = false;  ///< the gradients were scaled down
  double scale = 1.0;    ///< the factor applied (1 when not clipped)
};

/// Global gradient norm of `params` (a range of named_parameter), clipped to `max_norm`
/// (0 = no clipping, the norm is still measured). Returns the pre-clip norm.
/// @tparam Backend the `compute_backend` holding the gradients
template <compute_backend Backend, std::ranges::range Params>
clip_result clip_grad_norm(const Params& params, double max_norm) {
  RLHF_EXPECTS(max_norm >= 0 && !std::isnan(max_norm),
               "clip_grad_norm: max_grad_norm must be >= 0 (0 turns clipping off; got ", max_norm, ")");
  double sq = 0.0;
  for (const auto& p : params) {
    using value_t = std::remove_const_t<typename std::remove_cvref_t<decltype(p.grad)>::value_type>;
    sq += Backend::sum_squares(view<const value_t, typename Backend::space>(p.grad));
  }
  clip_result r;
  r.norm = std::sqrt(sq);
  r.finite = std::isfinite(r.norm);
  if (!r.finite || max_norm == 0 || r.norm <= max_norm) return r;
  r.scale = max_norm / (r.norm + 1e-6);
  r.clipped = true;
  for (const auto& p : params) {
    using value_t = std::remove_const_t<typename std::remove_cvref_t<decltype(p.grad)>::value_type>;
    Backend::scale(p.grad, static_cast<value_t>(r.scale));
  }
  return r;
}

/// The same over every tensor of `model`.
template <has_named_parameters Model>
clip_result clip_grad_norm(Model& model, double max_norm) {
  return clip_grad_norm<model_backend_t<Model>>(parameter_list(model), max_norm);
}

}  // namespace rlhf::train
