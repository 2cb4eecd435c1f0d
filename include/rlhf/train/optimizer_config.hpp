// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The optimizer settings every trainer shares (CLI.md: `--optimizer adamw|sgd`, `--lr`,
/// `--weight-decay`, `--max-grad-norm`, warmup and schedule, gradient accumulation) and the
/// optimizer they make: `any_optimizer`, AdamW or SGD chosen at run time, with its state
/// tensors for checkpoints.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "rlhf/backend/archetype.hpp"
#include "rlhf/backend/backend.hpp"
#include "rlhf/core/error.hpp"
#include "rlhf/train/adamw.hpp"
#include "rlhf/train/optimizer.hpp"
#include "rlhf/train/schedule.hpp"
#include "rlhf/train/sgd.hpp"

namespace rlhf::train {

enum class optimizer_kind { adamw, sgd };

inline std::string_view to_string(optimizer_kind k) noexcept { return k == optimizer_kind::sgd ? "sgd" : "adamw"; }

/// Optimizer, learning-rate schedule, clipping and accumulation of one training run.
struct optimizer_config {
  optimizer_kind kind = optimizer_kind::adamw;
  double lr = 1e-4;                ///< peak learning rate
  schedule_kind schedule = schedule_kind::cosine;
  index_t warmup = 0;              ///< linear warmup steps
  double min_lr = 0.0;             ///< floor of the cosine decay
  double weight_decay = 0.0;       ///< AdamW: decoupled; SGD: L2 (bias and LayerNorm never decayed)
  double max_grad_norm = 1.0;      ///< global-norm clipping; 0 = off
  index_t grad_accum = 1;          ///< micro-batches per optimizer step
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  ///< AdamW
  double momentum = 0.0;           ///< SGD

  /// @throws rlhf::invalid_argument naming the option (as `who: --option`) and its range
  void validate(std::string_view who = "train") const {
    RLHF_EXPECTS(lr > 0 && std::isfinite(lr), who, ": --lr must be > 0 (got ", lr, ")");
    RLHF_EXPECTS(warmup >= 0, who, ": --warmup must be >= 0 (got ", warmup, ")");
    RLHF_EXPECTS(min_lr >= 0 && min_lr <= lr, who, ": --min-lr must be in [0, lr] (got ", min_lr, ")");
    RLHF_EXPECTS(weight_decay >= 0 && std::isfinite(weight_decay), who, ": --weight-decay must be >= 0 (got ",
                 weight_decay, ")");
    RLHF_EXPECTS(max_grad_norm >= 0 && std::isfinite(max_grad_norm), who,
                 ": --max-grad-norm must be >= 0 (0 turns clipping off; got ", max_grad_norm, ")");
    RLHF_EXPECTS(grad_accum >= 1, who, ": --grad-accum must be >= 1 (got ", grad_accum, ")");
    if (kind == optimizer_kind::adamw)
      adamw_config{beta1, beta2, eps, weight_decay}.validate();
    else
      sgd_config{.momentum = momentum, .weight_decay = weight_decay}.validate();
  }
  /// The schedule of a run of `total_steps` optimizer steps.
  lr_schedule schedule_for(index_t total_steps) const {
    const lr_schedule s{schedule, lr, warmup, std::max<index_t>(total_steps, 1), min_lr};
    s.validate();
    return s;
  }
};

/// AdamW or SGD, as an optimizer_config chose (see the file comment).
template <compute_backend Backend, class T = float>
class any_optimizer {
 public:
  using parameter = named_parameter<typename Backend::space, T>;
  using state_tensor = typename detail::optimizer_base<Backend, T>::state_tensor;

  any_optimizer(std::vector<parameter> params, const optimizer_config& cfg) : impl_(make(std::move(params), cfg)) {}

  void step(double lr) {
    std::visit([&](auto& o) { o.step(lr); }, impl_);
  }
  std::int64_t steps() const noexcept {
    return std::visit([](const auto& o) { return o.steps(); }, impl_);
  }
  void set_steps(std::int64_t t) {
    std::visit([&](auto& o) { o.set_steps(t); }, impl_);
  }
  void rebind(std::vector<parameter> params) {
    std::visit([&](auto& o) { o.rebind(std::move(params)); }, impl_);
  }
  std::vector<state_tensor> state_tensors() {
    return std::visit([](auto& o) { return o.state_tensors(); }, impl_);
  }
  const std::vector<parameter>& parameters() const noexcept {
    return std::visit([](const auto& o) -> const std::vector<parameter>& { return o.parameters(); }, impl_);
  }
  optimizer_kind kind() const noexcept { return impl_.index() == 1 ? optimizer_kind::sgd : optimizer_kind::adamw; }

 private:
  using variant = std::variant<adamw<Backend, T>, sgd<Backend, T>>;
  static variant make(std::vector<parameter> params, const optimizer_config& cfg) {
    cfg.validate();
    if (cfg.kind == optimizer_kind::sgd)
      return variant(std::in_place_index<1>, std::move(params),
                     sgd_config{.momentum = cfg.momentum, .weight_decay = cfg.weight_decay});
    return variant(std::in_place_index<0>, std::move(params), adamw_config{cfg.beta1, cfg.beta2, cfg.eps, cfg.weight_decay});
  }
  variant impl_;
};

static_assert(optimizer<any_optimizer<backend::archetype>>);

}  // namespace rlhf::train
