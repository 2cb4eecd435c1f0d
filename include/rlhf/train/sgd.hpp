// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Stochastic gradient descent with momentum (Polyak 1964; Sutskever et al. 2013 for the
/// Nesterov form) exactly as torch.optim.SGD defines it, per tensor:
///   d = g + λ p                           (L2 weight decay, coupled as in torch)
///   b = d at the first step, else b = μ b + (1 - dampening) d
///   d = d + μ b (Nesterov) or d = b       (when μ > 0)
///   p ← p - lr · d
/// Default decay policy: no_bias_or_norm, as for AdamW.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "rlhf/backend/archetype.hpp"
#include "rlhf/backend/backend.hpp"
#include "rlhf/core/error.hpp"
#include "rlhf/model/parameter.hpp"
#include "rlhf/train/optimizer.hpp"

namespace rlhf::train {

/// Hyperparameters of rlhf::train::sgd.
struct sgd_config {
  double momentum = 0.0;      ///< μ; 0 = plain SGD (no momentum buffer)
  double dampening = 0.0;     ///< scales the new gradient in the momentum buffer
  bool nesterov = false;      ///< Nesterov momentum (needs μ > 0 and dampening 0)
  double weight_decay = 0.0;  ///< λ, L2 penalty added to the gradient
  decay_policy decay = decay_policy::no_bias_or_norm;

  /// @throws rlhf::invalid_argument naming the field outside its range
  void validate() const {
    RLHF_EXPECTS(momentum >= 0 && momentum < 1, "sgd: momentum must be in [0, 1) (got ", momentum, ")");
    RLHF_EXPECTS(dampening >= 0 && dampening <= 1, "sgd: dampening must be in [0, 1] (got ", dampening, ")");
    RLHF_EXPECTS(!nesterov || (momentum > 0 && dampening == 0),
                 "sgd: nesterov needs momentum > 0 and dampening = 0");
    RLHF_EXPECTS(weight_decay >= 0 && std::isfinite(weight_decay),
                 "sgd: weight_decay must be >= 0 (got ", weight_decay, ")");
  }
};

/// SGD with optional momentum over a list of named tensors (see the file comment).
/// @tparam Backend the `compute_backend` holding the tensors
/// @tparam T their scalar type
template <compute_backend Backend, class T = float>
class sgd : public detail::optimizer_base<Backend, T> {
  using base = detail::optimizer_base<Backend, T>;

 public:
  using typename base::parameter;
  using typename base::state_tensor;
  using space = typename Backend::space;
  explicit sgd(std::vector<parameter> params, const sgd_config& cfg = {})
      : base(std::move(params), (cfg.validate(), cfg.decay), "sgd"), config_(cfg) {
    index_t largest = 1;
    for (const auto& p : this->params_) {
      if (config_.momentum > 0) momentum_.emplace_back(p.value.extents());
      largest = std::max(largest, p.value.size());
    }
    scratch_ = typename Backend::template buffer<T>(shape{largest});
  }
  template <has_named_parameters Model>
  explicit sgd(Model& model, const sgd_config& cfg = {}) : sgd(parameter_list(model), cfg) {}

  /// One update from the current gradients with learning rate `lr` (>= 0, finite).
  void step(double lr) {
    RLHF_EXPECTS(lr >= 0 && std::isfinite(lr), "sgd::step: lr must be finite and >= 0 (got ", lr, ")");
    const T mu = static_cast<T>(config_.momentum);
    for (std::size_t i = 0; i < this->params_.size(); ++i) {
      auto& p = this->params_[i];
      const double wd = this->decayed_[i] ? config_.weight_decay : 0.0;
      view<const T, space> g = p.grad;
      if (wd == 0 && config_.momentum == 0) {  // the common case needs no copy
        Backend::axpy(p.value, static_cast<T>(-lr), g);
        continue;
      }
      // d = g + λ p in the scratch buffer (the model's gradient is left untouched).
      auto d = scratch_.view().slice(0, p.value.extents());
      Backend::copy(d, g);
      if (wd != 0) Backend::axpy(d, static_cast<T>(wd), view<const T, space>(p.value));
      if (config_.momentum > 0) {
        auto b = momentum_[i].view();
        if (this->t_ == 0) {
          Backend::copy(b, view<const T, space>(d));
        } else {
          Backend::scale(b, mu);
          Backend::axpy(b, static_cast<T>(1 - config_.dampening), view<const T, space>(d));
        }
        if (config_.nesterov)
          Backend::axpy(d, mu, view<const T, space>(b));
        else
          Backend::copy(d, view<const T, space>(b));
      }
      Backend::axpy(p.value, static_cast<T>(-lr), view<const T, space>(d));
    }
    ++this->t_;
  }
  const sgd_config& config() const noexcept { return config_; }
  /// The momentum buffers under torch.optim.SGD's state name, "momentum_buffer.<tensor>" (none
  /// without momentum).
  std::vector<state_tensor> state_tensors() {
    std::vector<state_tensor> r;
    for (std::size_t i = 0; i < momentum_.size(); ++i)
      r.push_back({"momentum_buffer." + this->params_[i].name, momentum_[i].view()});
    return r;
  }

 private:
  sgd_config config_;
  std::vector<typename Backend::template buffer<T>> momentum_;
  typename Backend::template buffer<T> scratch_{shape{1}};  // (largest tensor) d of the update
};

template <has_named_parameters Model>
sgd(Model&, const sgd_config& = {}) -> sgd<model_backend_t<Model>, model_scalar_t<Model>>;

static_assert(optimizer<sgd<backend::archetype>>);

}  // namespace rlhf::train
