// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// AdamW (Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization", Algorithm 2) with
/// Adam's bias correction (Kingma & Ba 2015, Algorithm 1): per tensor, at step t = 1, 2, …
///   m ← β1 m + (1 - β1) g,  v ← β2 v + (1 - β2) g²,
///   p ← p - lr · ( (m / (1 - β1^t)) / (√(v / (1 - β2^t)) + ε) + λ p ),
/// the form of torch.optim.AdamW (decay scaled by lr). State m, v lives in backend buffers,
/// one pair per tensor; the update is the backend's adamw_update kernel.
///
/// Default decay policy: no_bias_or_norm (the Hugging Face Trainer's: biases and LayerNorm
/// weights are not decayed). Weight decay itself defaults to 0, as in TRL's SFT/DPO configs.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "rlhf/backend/archetype.hpp"
#include "rlhf/backend/backend.hpp"
#include "rlhf/core/error.hpp"
#include "rlhf/model/parameter.hpp"
#include "rlhf/train/optimizer.hpp"

namespace rlhf::train {

/// Hyperparameters of rlhf::train::adamw (the learning rate comes with each step, from a schedule).
struct adamw_config {
  double beta1 = 0.9;          ///< β1, decay of the first moment
  double beta2 = 0.999;        ///< β2, decay of the second moment
  double eps = 1e-8;           ///< ε added to √v̂
  double weight_decay = 0.0;   ///< λ, decoupled decay (scaled by lr, as torch.optim.AdamW)
  decay_policy decay = decay_policy::no_bias_or_norm;  ///< tensors λ applies to

  /// @throws rlhf::invalid_argument naming the field outside its range
  void validate() const {
    RLHF_EXPECTS(beta1 >= 0 && beta1 < 1, "adamw: beta1 must be in [0, 1) (got ", beta1, ")");
    RLHF_EXPECTS(beta2 >= 0 && beta2 < 1, "adamw: beta2 must be in [0, 1) (got ", beta2, ")");
    RLHF_EXPECTS(eps > 0 && std::isfinite(eps), "adamw: eps must be > 0 (got ", eps, ")");
    RLHF_EXPECTS(weight_decay >= 0 && std::isfinite(weight_decay),
                 "adamw: weight_decay must be >= 0 (got ", weight_decay, ")");
  }
};

/// AdamW over a list of named tensors (see the file comment for the update).
/// @tparam Backend the `compute_backend` holding the tensors
/// @tparam T their scalar type (float; double for exact tests)
template <compute_backend Backend, class T = float>
class adamw : public detail::optimizer_base<Backend, T> {
  using base = detail::optimizer_base<Backend, T>;

 public:
  using typename base::parameter;
  using typename base::state_tensor;
  /// Takes views of the tensors (their owner must outlive the optimizer, or rebind() it).
  explicit adamw(std::vector<parameter> params, const adamw_config& cfg = {})
      : base(std::move(params), (cfg.validate(), cfg.decay), "adamw"), config_(cfg) {
    for (const auto& p : this->params_) {
      m_.emplace_back(p.value.extents());
      v_.emplace_back(p.value.extents());
    }
  }
  /// All tensors of `model` (its named_parameters()).
  template <has_named_parameters Model>
  explicit adamw(Model& model, const adamw_config& cfg = {}) : adamw(parameter_list(model), cfg) {}

  /// One update from the current gradients with learning rate `lr` (>= 0, finite).
  void step(double lr) {
    RLHF_EXPECTS(lr >= 0 && std::isfinite(lr), "adamw::step: lr must be finite and >= 0 (got ", lr, ")");
    ++this->t_;
    for (std::size_t i = 0; i < this->params_.size(); ++i) {
      const auto& p = this->params_[i];
      const double wd = this->decayed_[i] ? config_.weight_decay : 0.0;
      Backend::adamw_update(p.value, view<const T, typename Backend::space>(p.grad), m_[i].view(), v_[i].view(),
                            static_cast<T>(lr), static_cast<T>(config_.beta1), static_cast<T>(config_.beta2),
                            static_cast<T>(config_.eps), static_cast<T>(wd), this->t_);
    }
  }
  const adamw_config& config() const noexcept { return config_; }
  /// First and second moment of tensor i.
  view<const T, typename Backend::space> first_moment(std::size_t i) const { return m_.at(i).view(); }
  view<const T, typename Backend::space> second_moment(std::size_t i) const { return v_.at(i).view(); }
  /// The moments under torch.optim.AdamW's state names, "exp_avg.<tensor>" and "exp_avg_sq.<tensor>".
  std::vector<state_tensor> state_tensors() {
    std::vector<state_tensor> r;
    for (std::size_t i = 0; i < this->params_.size(); ++i) {
      r.push_back({"exp_avg." + this->params_[i].name, m_[i].view()});
      r.push_back({"exp_avg_sq." + this->params_[i].name, v_[i].view()});
    }
    return r;
  }

 private:
  adamw_config config_;
  std::vector<typename Backend::template buffer<T>> m_, v_;
};

template <has_named_parameters Model>
adamw(Model&, const adamw_config& = {}) -> adamw<model_backend_t<Model>, model_scalar_t<Model>>;

static_assert(optimizer<adamw<backend::archetype>>);

}  // namespace rlhf::train
