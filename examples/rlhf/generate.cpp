// SPDX-License-Identifier: MIT
// rlhf generate: sample a response for every prompt (CLI.md output format).
#include <cstdio>

#include <rlhf/data.hpp>
#include <rlhf/decoding.hpp>
#include <rlhf/sampling.hpp>

#include "cli.hpp"
#include "model_dir.hpp"

namespace rlhf::cli {

namespace {

/// --sampler is checked while parsing, so a bad chain is named before the model is loaded.
CLI::Validator sampler_spec() {
  auto check = [](std::string& spec) -> std::string {
    try {
      (void)rlhf::sampling::any_sampler::parse(spec);
      return {};
    } catch (const rlhf::error& e) {
      std::string m = e.what();
      return m.rfind("sampler: ", 0) == 0 ? m.substr(9) : m;
    }
  };
  return CLI::Validator(check, "", "sampler");
}

}  // namespace

void add_generate_options(CLI::App& app, generate_options& o) {
  describe(app, "Each output line holds prompt, completion, completion_ids, completion_logprobs and\n"
                "stats {lm_calls, rm_calls, new_tokens, seconds, kl_to_ref}.");
  app.add_option("--model", o.model, "model directory (lm head)")->type_name("DIR")->required();
  app.add_option("--prompts", o.prompts, "JSONL records with prompt (or prompt_ids)")->type_name("FILE")->required();
  app.add_option("--out", o.out, "JSONL output, one object per prompt")->type_name("FILE")->required();
  app.add_option("--sampler", o.sampler,
                 "processor chain, e.g. \"temperature=0.7,top_k=40,top_p=0.9,min_p=0.05\" or \"greedy\"")
      ->type_name("SPEC")->check(sampler_spec());
  app.add_option("--guide", o.guide, "reward guidance (this version: none)")->type_name("none")->check(one_of({"none"}));
  app.add_option("--max-new-tokens", o.max_new_tokens, "tokens to generate at most (and at most the model's n_positions)")
      ->type_name("N")->check(range<std::int64_t>(1, 1 << 20));
  app.add_option("--min-new-tokens", o.min_new_tokens, "EOS is not sampled before this many tokens (<= --max-new-tokens)")
      ->type_name("N")->check(range<std::int64_t>(0, 1 << 20));
  app.add_option("--stop", o.stop, "stop string: the response ends once its text contains it (repeat for several)")
      ->type_name("TEXT")->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)->allow_extra_args(false)->default_str("");
  app.add_option("--batch-size", o.batch_size, "prompts decoded together with one KV cache")
      ->type_name("N")->check(range<std::int64_t>(1, 1 << 16));
  add_seed_option(app, o.seed, "random seed (same seed, same text, for any batch size and thread count)");
  add_threads_option(app, o.threads);
}

int run_generate(const generate_options& o) {
  if (o.guide != "none")
    throw usage_error("--guide: value " + o.guide + " not one of none (this version has no reward guidance)");
  set_threads(o.threads);
  check_output_file(o.out);
  const auto sampler = rlhf::sampling::any_sampler::parse(o.sampler);
  auto [model, tok] = open_policy(o.model);
  const auto prompts = rlhf::data::load_prompts(o.prompts, tok);

  rlhf::generate_options g;
  check_range("--max-new-tokens", o.max_new_tokens, index_t{1}, model.max_positions(), "the model's n_positions");
  check_range("--min-new-tokens", o.min_new_tokens, index_t{0}, o.max_new_tokens, "--max-new-tokens");
  g.max_new_tokens = o.max_new_tokens;
  g.min_new_tokens = o.min_new_tokens;
  g.eos_id = tok.eos_id();
  g.batch_size = o.batch_size;
  g.seed = o.seed;
  for (const auto& s : o.stop)
    if (!s.empty()) g.stop_strings.push_back(s);
  if (!g.stop_strings.empty()) g.detokenize = [&tok](std::span<const token_id> ids) { return tok.decode(ids); };
  std::vector<std::vector<token_id>> ids;
  for (const auto& p : prompts) ids.push_back(p.prompt_ids);
  rlhf::data::jsonl_writer out(o.out);  // opened first: a path that cannot be written fails before decoding
  const auto result = rlhf::generate(model, std::span<const std::vector<token_id>>(ids), sampler, g);

  const double per_token_seconds =
      result.stats.new_tokens > 0 ? result.stats.seconds / static_cast<double>(result.stats.new_tokens) : 0.0;
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    const auto& s = result.sequences[i];
    std::vector<token_id> text_ids = s.tokens;
    if (s.finish == rlhf::finish_reason::eos && !text_ids.empty()) text_ids.pop_back();
    // kl_to_ref: Σ_t log q(a_t) - log π(a_t), the one-sample estimate of KL(q || π) between the
    // distribution actually sampled (after the processor chain) and the model, which is the reference here.
    double kl = 0;
    for (std::size_t t = 0; t < s.tokens.size(); ++t) kl += s.sampling_logprobs[t] - s.model_logprobs[t];
    out.write({{"prompt", prompts[i].prompt_text},
               {"completion", tok.decode(text_ids)},
               {"completion_ids", s.tokens},
               {"completion_logprobs", s.model_logprobs},
               {"finish_reason", std::string(rlhf::to_string(s.finish))},
               {"stats",
                {{"lm_calls", static_cast<index_t>(s.tokens.size())},
                 {"rm_calls", 0},
                 {"new_tokens", static_cast<index_t>(s.tokens.size())},
                 {"seconds", per_token_seconds * static_cast<double>(s.tokens.size())},
                 {"kl_to_ref", kl}}}});
  }
  out.commit();
  std::fprintf(stderr, "rlhf generate: %zu prompts, %lld tokens in %.2fs (%.0f tokens/s, %lld batched LM calls) -> %s\n",
               prompts.size(), static_cast<long long>(result.stats.new_tokens), result.stats.seconds,
               result.stats.seconds > 0 ? static_cast<double>(result.stats.new_tokens) / result.stats.seconds : 0.0,
               static_cast<long long>(result.stats.lm_passes), o.out.c_str());
  return 0;
}

}  // namespace rlhf::cli
