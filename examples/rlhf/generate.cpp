// SPDX-License-Identifier: MIT
// rlhf generate: sample a response for every prompt (CLI.md output format).
#include <cstdio>

#include <rlhf/data.hpp>
#include <rlhf/decoding.hpp>
#include <rlhf/sampling.hpp>

#include "commands.hpp"
#include "common.hpp"
#include "model_dir.hpp"

namespace rlhf::cli {

int run_generate(int argc, char** argv) {
  options opt("generate", {
      {"model", "DIR", "model directory (lm head)", "", true},
      {"prompts", "FILE", "JSONL records with prompt (or prompt_ids)", "", true},
      {"out", "FILE", "JSONL output, one object per prompt", "", true},
      {"sampler", "SPEC", "processor chain, e.g. \"temperature=0.7,top_k=40,top_p=0.9,min_p=0.05\" or \"greedy\"",
       "temperature=1"},
      {"guide", "none", "reward guidance (this version: none)", "none"},
      {"max-new-tokens", "N", "tokens to generate at most", "48"},
      {"min-new-tokens", "N", "EOS is not sampled before this many tokens", "0"},
      {"stop", "TEXT", "stop string (the response ends once its text contains it)", ""},
      {"batch-size", "N", "prompts decoded together with one KV cache", "16"},
      {"seed", "N", "random seed (same seed, same text, for any batch size and thread count)", "1"},
      {"threads", "N", "CPU threads (0 = all cores)", "0"},
  });
  opt.parse(argc, argv, 2);
  if (opt.flag("help")) {
    std::fputs(opt.help("Samples a response for every prompt. Each output line holds prompt, completion, completion_ids,\n"
                        "completion_logprobs and stats {lm_calls, rm_calls, new_tokens, seconds, kl_to_ref}.").c_str(),
               stdout);
    return 0;
  }
  if (opt.str("guide") != "none")
    throw usage_error("rlhf generate: --guide " + opt.str("guide") +
                      " is not available in this version; the allowed value is none");
  set_threads(opt.integer("threads", 0, 1024));
  const auto sampler = rlhf::sampling::any_sampler::parse(opt.str("sampler"));
  const std::filesystem::path model_dir = opt.str("model");
  auto model = load_model<rlhf::lm_head>(model_dir, rlhf::head_kind::lm);
  const auto tok = load_checked_tokenizer(model_dir, model.vocab_size());
  const auto prompts = rlhf::data::load_prompts(opt.str("prompts"), tok);

  rlhf::generate_options g;
  g.max_new_tokens = opt.integer("max-new-tokens", 1, model.max_positions());
  g.min_new_tokens = opt.integer("min-new-tokens", 0, g.max_new_tokens);
  g.eos_id = tok.eos_id();
  g.batch_size = opt.integer("batch-size", 1, 1 << 16);
  g.seed = static_cast<std::uint64_t>(opt.integer("seed", 0, INT64_MAX));
  if (!opt.str("stop").empty()) {
    g.stop_strings = {opt.str("stop")};
    g.detokenize = [&](std::span<const token_id> ids) { return tok.decode(ids); };
  }
  std::vector<std::vector<token_id>> ids;
  for (const auto& p : prompts) ids.push_back(p.prompt_ids);
  const auto result = rlhf::generate(model, std::span<const std::vector<token_id>>(ids), sampler, g);

  rlhf::data::jsonl_writer out(opt.str("out"));
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
               static_cast<long long>(result.stats.lm_calls), opt.str("out").c_str());
  return 0;
}

}  // namespace rlhf::cli
