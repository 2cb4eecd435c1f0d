// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// What every optimizer shares: the parameter list it updates (a model's named_parameters(),
/// one entry per tensor, so that state and weight decay are per tensor), which tensors weight
/// decay applies to, and how the backend and scalar type of a model are found.
#include <concepts>
#include <cstdint>
#include <string>
#include <ranges>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "rlhf/backend/backend.hpp"
#include "rlhf/core/error.hpp"
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

namespace detail {
/// What AdamW and SGD share: the parameter list they update, which tensors weight decay applies
/// to, the number of updates applied, and their state tensors for checkpoints.
template <compute_backend Backend, class T>
class optimizer_base {
 public:
  using space = typename Backend::space;
  using parameter = named_parameter<space, T>;
  /// A state tensor of the optimizer ("exp_avg.<parameter>", ...), as checkpoints save it.
  struct state_tensor {
    std::string name;
    view<T, space> value;
  };

  /// Updates applied so far (t of AdamW's bias correction).
  std::int64_t steps() const noexcept { return t_; }
  /// Restores the update count of a checkpoint (with the state tensors).
  void set_steps(std::int64_t t) {
    RLHF_EXPECTS(t >= 0, who_, ": the update count must be >= 0 (got ", t, ")");
    t_ = t;
  }
  const std::vector<parameter>& parameters() const noexcept { return params_; }
  /// Whether weight decay applies to tensor i (the decay policy on its name).
  bool decayed(std::size_t i) const { return decayed_.at(i); }

  /// Points the optimizer at `params`: the same tensors (names and shapes, in order) as before,
  /// e.g. the same model after it moved or was reloaded. Trainers rebind on every call so that
  /// no optimizer outlives the views of a model it was not given again.
  /// @throws rlhf::invalid_argument naming the first tensor that differs
  void rebind(std::vector<parameter> params) {
    RLHF_EXPECTS(params.size() == params_.size(), who_, ": rebinding ", params.size(), " tensors to an optimizer of ",
                 params_.size(), "; pass the parameters of the model it was built for");
    for (std::size_t i = 0; i < params.size(); ++i)
      RLHF_EXPECTS(params[i].name == params_[i].name && params[i].value.extents() == params_[i].value.extents(),
                   who_, ": tensor ", i, " is '", params[i].name, "' but the optimizer was built for '", params_[i].name,
                   "' of the same shape; pass the parameters of the model it was built for");
    params_ = std::move(params);
  }

 protected:
  optimizer_base(std::vector<parameter> params, decay_policy decay, const char* who)
      : params_(std::move(params)), who_(who) {
    for (const auto& p : params_) {
      RLHF_EXPECTS(p.value.extents() == p.grad.extents(), who_, ": parameter '", p.name,
                   "' has a gradient of another shape than its value");
      decayed_.push_back(decays(p.name, decay));
    }
  }

  std::vector<parameter> params_;
  std::vector<bool> decayed_;
  std::int64_t t_ = 0;
  const char* who_;
};
}  // namespace detail

/// An optimizer: `step(lr)` applies one update from the current gradients at learning rate lr;
/// `steps()` counts the updates applied.
template <class O>
concept optimizer = requires(O& o, const O& co, double lr) {
  o.step(lr);
  { co.steps() } -> std::convertible_to<std::int64_t>;
};

}  // namespace rlhf::train
