// SPDX-License-Identifier: MIT
// The reward–KL frontier (Rafailov et al. 2023, Fig. 2; ALGORITHMS.md §3–4) on a bandit, drawn to
// frontier.svg (and frontier.csv) in the working directory or the directory given as argv[1].
//
// For every β the best policy is π*_β = π_ref exp(r/β)/Z_β; the curve β ↦ (KL(π*_β ‖ π_ref),
// E_{π*_β} r) is the frontier, and no policy lies above it: for every π and every β,
//     E_π r − β KL(π ‖ π_ref) ≤ β log Z_β      (equality only at π*_β).
// PPO (the true reward, a k1 KL penalty of coefficient β) and DPO (the same β, on 200 preference
// pairs per prompt sampled from π_ref and labelled by Bradley–Terry noise, as human labels would
// be) are trained at four values of β. Exits 0 when every point is under the frontier and PPO,
// which sees the reward itself, ends within 0.01 nats of π*_β. DPO on 200 sampled pairs lands
// under the frontier too, but to the right of π*_β at small β: with finite data its implicit
// reward overfits the sampled labels, so it moves further from π_ref than β alone asks for.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <rlhf/rlhf.hpp>
#include <rlhf/train/dpo.hpp>
#include <rlhf/train/ppo.hpp>

#include "bandit.hpp"

namespace {

using bandit_t = example::bandit<>;
using lm_t = bandit_t::lm_t;
struct point {
  double beta, reward, kl;
};

/// DPO on pairs drawn from π_ref with labels drawn from P(a ≻ b) = σ(r(a) − r(b)).
lm_t dpo(const bandit_t& b, double beta) {
  std::vector<example::soft_pair> pairs;
  const rlhf::counter_rng rng(17, 0);
  std::uint64_t c = 0;
  const auto draw = [&](rlhf::index_t s) {  // a ~ π_ref(·|s) by inversion
    double u = rng.uniform(c++);
    for (rlhf::token_id a = 0; a < b.actions; ++a)
      if ((u -= std::exp(b.ref[s][a])) < 0) return a;
    return static_cast<rlhf::token_id>(b.actions - 1);
  };
  for (rlhf::token_id s = 0; s < b.prompts; ++s)
    while (pairs.size() < static_cast<std::size_t>(200 * (s + 1))) {
      const rlhf::token_id x = draw(s), y = draw(s);
      if (x == y) continue;
      const bool x_wins = rng.uniform(c++) < 1.0 / (1.0 + std::exp(b.reward[s][y] - b.reward[s][x]));
      pairs.push_back({{s}, {x_wins ? x : y}, {x_wins ? y : x}});
    }
  lm_t policy = b.reference(), ref = b.reference();
  rlhf::train::dpo_trainer<lm_t, rlhf::loss::sigmoid, rlhf::divergences::reverse_kl> trainer(
      {.optimizer = {.lr = 0.05, .min_lr = 1e-4, .max_grad_norm = 0.0}, .steps = 400,
       .batch_size = static_cast<rlhf::index_t>(pairs.size()), .beta = beta},
      rlhf::loss::sigmoid{}, rlhf::divergences::reverse_kl{}, {.progress = false});
  trainer.train(policy, pairs, ref);
  return policy;
}

/// PPO with the gold reward and a k1 penalty β log(π/π_ref) in it; a tabular critic.
lm_t ppo(const bandit_t& b, double beta) {
  lm_t policy = b.reference(), ref = b.reference();
  rlhf::tabular_critic<rlhf::backend::default_backend> critic(
      {.vocab_size = b.actions, .context = rlhf::tabular_context::bandit, .n_contexts = b.prompts, .max_positions = 4});
  std::vector<std::vector<rlhf::token_id>> prompts;
  for (int i = 0; i < 128; ++i)
    for (const auto& p : b.prompt_ids()) prompts.push_back(p);
  const auto gold = b.gold();
  rlhf::train::ppo_trainer<lm_t, decltype(critic), decltype(gold)> trainer(
      {.optimizer = {.lr = 0.05, .min_lr = 0.0, .max_grad_norm = 0.0}, .rollouts = 150,
       .prompts_per_rollout = static_cast<rlhf::index_t>(prompts.size()), .samples_per_prompt = 1,
       .max_new_tokens = 1, .generation_batch = 512, .kl_coef = beta, .estimator = rlhf::kl_estimator::k1, .seed = 7},
      {.lambda = 1.0, .critic_optimizer = {.lr = 0.1, .max_grad_norm = 0.0}}, {.progress = false});
  trainer.train(policy, critic, ref, gold, prompts, rlhf::sampling::any_sampler::parse(""));
  return policy;
}

/// A minimal SVG scatter/line plot: KL on x, reward on y.
void write_svg(const std::filesystem::path& path, const std::vector<point>& frontier, const std::vector<point>& dpo_pts,
               const std::vector<point>& ppo_pts) {
  double xmax = 0, ymin = 1e9, ymax = -1e9;
  for (const auto* v : {&frontier, &dpo_pts, &ppo_pts})
    for (const auto& p : *v) xmax = std::max(xmax, p.kl), ymin = std::min(ymin, p.reward), ymax = std::max(ymax, p.reward);
  const auto X = [&](double kl) { return 60 + 500 * kl / xmax; };
  const auto Y = [&](double r) { return 340 - 300 * (r - ymin) / (ymax - ymin); };
  std::ofstream f(path);
  f << "<svg xmlns='http://www.w3.org/2000/svg' width='600' height='400' font-family='sans-serif' font-size='12'>\n"
    << "<rect width='600' height='400' fill='white'/><path d='M60 40 V340 H560' stroke='black' fill='none'/>\n"
    << "<text x='250' y='380'>KL(pi || pi_ref), nats (0 to " << xmax << ")</text>"
    << "<text x='8' y='30'>E[r] (" << ymin << " to " << ymax << ")</text>\n<polyline fill='none' stroke='gray' points='";
  for (const auto& p : frontier) f << X(p.kl) << ',' << Y(p.reward) << ' ';
  f << "'/>\n";
  for (const auto& p : dpo_pts) f << "<circle cx='" << X(p.kl) << "' cy='" << Y(p.reward) << "' r='5' fill='#1f77b4'/>\n";
  for (const auto& p : ppo_pts) f << "<rect x='" << X(p.kl) - 4 << "' y='" << Y(p.reward) - 4 << "' width='8' height='8' fill='#d62728'/>\n";
  f << "<text x='400' y='300' fill='gray'>frontier pi*_beta</text><text x='400' y='315' fill='#1f77b4'>DPO (sampled pairs)</text>"
    << "<text x='400' y='330' fill='#d62728'>PPO (gold reward)</text>\n</svg>\n";
}

}  // namespace

int main(int argc, char** argv) {
  const std::filesystem::path dir = argc > 1 ? argv[1] : ".";
  const auto b = bandit_t::make();
  const auto log_z = [&](double beta) {  // mean over prompts of β log Z_β
    double v = 0;
    for (rlhf::index_t s = 0; s < b.prompts; ++s) v += beta * rlhf::kl_optimum(b.ref[s], b.reward[s], beta).log_partition;
    return v / static_cast<double>(b.prompts);
  };
  std::vector<point> frontier, dpo_pts, ppo_pts;
  std::vector<double> grid;
  for (int i = 0; i <= 60; ++i) grid.push_back(0.05 * std::pow(400.0, i / 60.0));  // β from 0.05 to 20
  for (double beta : grid) {
    const auto [r, kl] = b.reward_and_kl([&](rlhf::index_t s) { return b.optimum(s, beta); });
    frontier.push_back({beta, r, kl});
  }
  bool ok = true;
  std::ofstream csv(dir / "frontier.csv");
  csv << "method,beta,reward,kl\n";
  std::printf("method  beta   E[r]    KL      KL to pi*_beta\n");
  for (double beta : {0.25, 0.5, 1.0, 2.0}) {
    const auto optimum = [&](rlhf::index_t s) { return b.optimum(s, beta); };
    for (const char* method : {"dpo", "ppo"}) {
      const lm_t m = std::string(method) == "dpo" ? dpo(b, beta) : ppo(b, beta);
      const auto [r, kl] = b.reward_and_kl([&](rlhf::index_t s) { return bandit_t::row(m, s); });
      const double gap = b.kl_to(m, optimum);
      (std::string(method) == "dpo" ? dpo_pts : ppo_pts).push_back({beta, r, kl});
      csv << method << ',' << beta << ',' << r << ',' << kl << '\n';
      std::printf("%-6s %5.2f  %6.3f  %6.3f  %.2e\n", method, beta, r, kl, gap);
      for (double g : grid) ok = ok && r - g * kl <= log_z(g) + 1e-9;  // under the frontier
      if (std::string(method) == "ppo") ok = ok && gap <= 0.01;
    }
  }
  for (const auto& p : frontier) csv << "frontier," << p.beta << ',' << p.reward << ',' << p.kl << '\n';
  write_svg(dir / "frontier.svg", frontier, dpo_pts, ppo_pts);
  std::printf("wrote %s and %s\n", (dir / "frontier.svg").c_str(), (dir / "frontier.csv").c_str());
  return ok ? 0 : 1;
}
