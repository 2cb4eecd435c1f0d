// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// What every optimizer shares: the parameter list it updates (a model's named_parameters(),
/// one entry per tensor, so that state and weight decay are per tensor), which tensors weight
/// decay applies to, and how the backend and scalar type of a model are found.
#include <concepts>
#include <cstdint>
#include <ranges>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "rlhf/backend/backend.hpp"
#include "rlhf/model/parameter.hpp"

namespace rlhf::train {

/// Which tensors weight decay applies to (by Hugging Face GPT-2 tensor name).
enum class decay_policy {
  all,              ///< every tensor (torch.optim.AdamW applied to model.parameters())
  no_bias_or_norm,  ///< not biases (`*.bias`) nor LayerNorm weights (`ln_*`): the HF Trainer default
  matrices_only,    ///< as no_bias_or_norm, and not the embeddings (`wte`, `wpe`) either
};

/// True when weight decay applies to the tensor `name` under `policy`.
inline bool decays(std::string_view name, decay_policy policy) noexcept {
  if (policy == decay_policy::all) return true;
  // Strip an optional "transformer." prefix so HF names with and without it agree.
  if (name.starts_with("transformer.")) name.remove_prefix(12);
  if (name.ends_with(".bias")) return false;
  // A LayerNorm tensor has a path segment "ln_1", "ln_2", "ln_f" (GPT-2) or contains "norm".
  if (name.starts_with("ln_") || name.find(".ln_") != std::string_view::npos ||
      name.find("norm") != std::string_view::npos)
    return false;
  if (policy == decay_policy::matrices_only &&
      (name.starts_with("wte.") || name.starts_with("wpe.")))
    return false;
  return true;
}

/// A model whose tensors an optimizer can update: named_parameters() returns a range of
/// rlhf::named_parameter (name, value view, gradient view) in the model's backend space.
template <class M>
concept has_named_parameters = requires(M& m) {
  { m.named_parameters() } -> std::ranges::range;
};

namespace detail {
template <class M>
struct model_backend {};
template <class M>
  requires requires { typename M::backend_type; }
struct model_backend<M> {
  using type = typename M::backend_type;
};
template <class M>
  requires(!requires { typename M::backend_type; } && requires { typename M::backend; })
struct model_backend<M> {
  using type = typename M::backend;
};
}  // namespace detail

/// The compute backend of a model (its `backend_type`, or `backend`, member alias).
template <class M>
using model_backend_t = typename detail::model_backend<std::remove_cvref_t<M>>::type;

/// The entry type of a model's parameter list (rlhf::named_parameter<space, T>).
template <has_named_parameters M>
using model_parameter_t =
    std::ranges::range_value_t<decltype(std::declval<std::remove_cvref_t<M>&>().named_parameters())>;

/// The scalar type of a model's parameters (float, or double in gradient checks).
template <has_named_parameters M>
using model_scalar_t =
    std::remove_const_t<typename decltype(std::declval<model_parameter_t<M>&>().value)::value_type>;

/// The parameter list of `m` as a vector (views into the model: it must outlive the optimizer).
template <has_named_parameters M>
auto parameter_list(M& m) {
  std::vector<model_parameter_t<M>> out;
  for (auto&& p : m.named_parameters()) out.push_back(p);
  return out;
}

/// An optimizer: `step(lr)` applies one update from the current gradients at learning rate lr;
/// `steps()` counts the updates applied.
template <class O>
concept optimizer = requires(O& o, const O& co, double lr) {
  o.step(lr);
  { co.steps() } -> std::convertible_to<std::int64_t>;
};

}  // namespace rlhf::train
