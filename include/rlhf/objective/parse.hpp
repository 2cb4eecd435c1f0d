// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Run-time selection of the shipped preference losses and divergences, for command lines
/// (`--loss sigmoid|hinge|ipo|conservative|robust`, `--divergence reverse_kl|forward_kl|js|alpha:A`).
///
/// The result is a std::variant of the policy types; `std::visit` hands the concrete type to a
/// template (e.g. rlhf::dpo_loss), so the per-pair code stays statically dispatched.
#include <charconv>
#include <string>
#include <string_view>
#include <variant>

#include "rlhf/objective/alpha_divergence.hpp"
#include "rlhf/objective/conservative_loss.hpp"
#include "rlhf/objective/forward_kl.hpp"
#include "rlhf/objective/hinge_loss.hpp"
#include "rlhf/objective/ipo_loss.hpp"
#include "rlhf/objective/js_divergence.hpp"
#include "rlhf/objective/reverse_kl.hpp"
#include "rlhf/objective/robust_loss.hpp"
#include "rlhf/objective/sigmoid_loss.hpp"

namespace rlhf {

/// One of the shipped preference losses.
using any_preference_loss = std::variant<loss::sigmoid, loss::hinge, loss::ipo, loss::conservative, loss::robust>;
/// One of the shipped divergences.
using any_divergence =
    std::variant<divergences::reverse_kl, divergences::forward_kl, divergences::js, divergences::alpha>;

/// Builds the loss named `name` ("sigmoid", "hinge", "ipo", "conservative", "robust").
/// @param epsilon label smoothing / flip rate ε of conservative and robust (`--label-smoothing`).
/// @param margin  m of sigmoid (`--margin`) and δ of hinge (where 0 means SLiC's default 1).
/// @throws rlhf::invalid_argument naming the allowed names, or from the loss's constructor.
inline any_preference_loss parse_preference_loss(std::string_view name, double epsilon = 0.1, double margin = 0.0) {
  if (name == "sigmoid") return loss::sigmoid{margin};
  if (name == "hinge") return loss::hinge{margin == 0.0 ? 1.0 : margin};
  if (name == "ipo") return loss::ipo{};
  if (name == "conservative") return loss::conservative{epsilon};
  if (name == "robust") return loss::robust{epsilon};
  RLHF_THROW(invalid_argument, "unknown preference loss '", std::string(name),
             "'; use sigmoid, hinge, ipo, conservative or robust");
}

/// Builds the divergence `spec`: "reverse_kl", "forward_kl", "js" or "alpha:A" (e.g. "alpha:0.5").
/// @throws rlhf::invalid_argument naming the allowed forms, or when A is not a number ∉ {0, 1}.
inline any_divergence parse_divergence(std::string_view spec) {
  if (spec == "reverse_kl") return divergences::reverse_kl{};
  if (spec == "forward_kl") return divergences::forward_kl{};
  if (spec == "js") return divergences::js{};
  if (spec.starts_with("alpha:")) {
    const std::string_view num = spec.substr(6);
    double a = 0.0;
    const auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), a);
    RLHF_EXPECTS(ec == std::errc{} && end == num.data() + num.size() && !num.empty(), "divergence '",
                 std::string(spec), "': '", std::string(num), "' is not a number; write e.g. alpha:0.5");
    return divergences::alpha{a};
  }
  RLHF_THROW(invalid_argument, "unknown divergence '", std::string(spec),
             "'; use reverse_kl, forward_kl, js or alpha:A (e.g. alpha:0.5)");
}

}  // namespace rlhf
