// SPDX-License-Identifier: MIT
// A custom trainer on the shared training loop, in about 20 lines (docs/architecture.md): a
// value model regressed on per-token targets, ½ (V(s, a^{≤t}) − y_t)², the CD-FUDGE loss of
// ALGORITHMS.md §5. The loop supplies AdamW, the schedule, clipping, skipped steps, progress,
// JSON logs and checkpoints; the trainer supplies only the gradient of one step.
#include <cstdio>
#include <vector>

#include <rlhf/rlhf.hpp>

template <class Model>
  requires rlhf::value_model<Model> && rlhf::differentiable_model<Model>
rlhf::train::loop_result fit_values(Model& model, const rlhf::token_batch& batch, const xt::xtensor<float, 2>& target,
                                    rlhf::index_t steps) {
  rlhf::train::training_loop<Model> loop({.lr = 0.1, .schedule = rlhf::train::schedule_kind::constant},
                                         {.name = "values", .head = rlhf::head_kind::value});
  return loop.run(model, steps, [&](Model& m, rlhf::index_t) {
    const rlhf::data::response_view view(batch);  // the response tokens: where the loss counts
    const auto v = view.gather(m.forward(batch)), y = view.gather(target);
    xt::xtensor<double, 2> d = v - y;              // ∂/∂v of ½ Σ (v − y)², then the mean
    const double n = static_cast<double>(view.total());
    m.backward(view.scatter<float>(xt::xtensor<double, 2>(d / n)));
    return rlhf::train::step_output{.loss = 0.5 * xt::sum(d * d)() / n, .tokens = view.total()};
  });
}

int main() {
  using model_t = rlhf::tabular_value_model<rlhf::backend::default_backend>;
  model_t model({.vocab_size = 4});
  rlhf::token_batch batch;
  batch.tokens = {{0, 1, 2, 3}, {0, 3, 3, 1}};
  batch.lengths = {4, 4};
  batch.response_mask = {{0, 1, 1, 1}, {0, 1, 1, 1}};
  const xt::xtensor<float, 2> target = {{0, 0.5f, -1, 2}, {0, 2, 2, 0.5f}};  // V(state) = target at every state
  const auto r = fit_values(model, batch, target, 200);
  std::printf("value regression: loss %.4f -> %.6f in %lld steps\n", r.first_loss, r.last_loss,
              static_cast<long long>(r.steps));
  return r.last_loss < 1e-4 ? 0 : 1;
}
