// SPDX-License-Identifier: MIT
// rlhf generate: sample a response for every prompt, plainly or guided by a reward model
// (CLI.md output format; ALGORITHMS.md §5 for the methods).
#include <algorithm>
#include <cstdio>
#include <optional>
#include <sstream>
#include <string>

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

/// Which reward-model head each guide reads, and which guide options it takes.
struct guide_spec {
  std::string name;
  std::vector<rlhf::head_kind> heads;  // empty: no reward model
  std::vector<std::string> options;
};

const std::vector<guide_spec>& guides() {
  using rlhf::head_kind;
  static const std::vector<guide_spec> g{
      {"none", {}, {}},
      {"args", {head_kind::reward}, {"--k", "--w"}},
      {"pargs", {head_kind::reward}, {"--k", "--w"}},
      {"cd", {head_kind::value}, {"--k", "--w"}},
      {"cd-block", {head_kind::value}, {"--blocks", "--block-len"}},
      {"farma", {head_kind::token}, {"--w"}},
      {"genarm", {head_kind::lm}, {"--beta"}},
      {"cards",
       {head_kind::reward, head_kind::value},
       {"--segment-min", "--segment-max", "--entropy-threshold", "--target-reward", "--alpha", "--acceptance",
        "--soft-temperature", "--max-rejections"}},
      {"bon", {head_kind::reward, head_kind::value}, {"--n"}},
  };
  return g;
}

/// The guide options given on the command line (name, given?).
std::vector<std::pair<std::string, bool>> given_options(const generate_options& o) {
  return {{"--w", o.w.has_value()},
          {"--k", o.k.has_value()},
          {"--beta", o.beta.has_value()},
          {"--segment-min", o.segment_min.has_value()},
          {"--segment-max", o.segment_max.has_value()},
          {"--entropy-threshold", o.entropy_threshold.has_value()},
          {"--target-reward", o.target_reward.has_value()},
          {"--alpha", o.alpha.has_value()},
          {"--acceptance", o.acceptance.has_value()},
          {"--soft-temperature", o.soft_temperature.has_value()},
          {"--max-rejections", o.max_rejections.has_value()},
          {"--blocks", o.blocks.has_value()},
          {"--block-len", o.block_len.has_value()},
          {"--n", o.n.has_value()}};
}

/// Checks --guide against --reward and the guide options; returns its spec.
const guide_spec& check_guide(const generate_options& o) {
  const guide_spec* spec = nullptr;
  for (const auto& g : guides())
    if (g.name == o.guide) spec = &g;
  RLHF_ASSERT(spec != nullptr, "--guide was validated by the parser");
  if (spec->heads.empty() && !o.reward.empty())
    throw usage_error("--reward: --guide none uses no reward model; pass --guide args|pargs|cd|cd-block|farma|genarm|cards|bon");
  if (!spec->heads.empty() && o.reward.empty())
    throw usage_error("--guide " + o.guide + " needs --reward DIR (its reward model)");
  for (const auto& [name, given] : given_options(o))
    if (given && std::find(spec->options.begin(), spec->options.end(), name) == spec->options.end())
      throw usage_error(name + ": not an option of --guide " + o.guide +
                        (spec->options.empty() ? std::string(" (it takes none)")
                                               : " (it takes " + detail::join(spec->options, ", ") + ")"));
  return *spec;
}

/// The reward model directory, checked against the guide's heads and the LM's vocabulary.
rlhf::model_info open_reward_info(const generate_options& o, const guide_spec& spec, index_t lm_vocab) {
  if (!std::filesystem::is_directory(o.reward))
    RLHF_THROW(io_error, o.reward.string(), ": no such model directory (--reward; train one with rlhf reward)");
  auto info = rlhf::read_model_info(o.reward);
  if (std::find(spec.heads.begin(), spec.heads.end(), info.head) == spec.heads.end()) {
    std::vector<std::string> names;
    for (auto h : spec.heads) names.emplace_back(rlhf::to_string(h));
    RLHF_THROW(invalid_argument, "--reward: ", o.reward.string(), " holds a model with a ", rlhf::to_string(info.head),
               " head; --guide ", o.guide, " needs a ", detail::join(names, " or "), " head (rlhf reward --kind ",
               o.guide == "farma" ? "token" : o.guide == "genarm" ? "genarm" : o.guide.rfind("cd", 0) == 0 ? "value"
               : o.guide == "pargs" ? "prefix" : "sequence", ")");
  }
  const auto config = rlhf::read_gpt2_config(o.reward);
  if (config.vocab_size != lm_vocab)
    RLHF_THROW(invalid_argument, "--reward: vocabulary mismatch: ", o.reward.string(), " has vocab_size = ",
               config.vocab_size, " but the language model has ", lm_vocab,
               "; use a reward model trained with the language model's tokenizer");
  return info;
}

}  // namespace

void add_generate_options(CLI::App& app, generate_options& o) {
  describe(app, "Each output line holds prompt, completion, completion_ids, completion_logprobs, finish_reason and\n"
                "stats {lm_calls, rm_calls, lm_passes, rm_passes, new_tokens, seconds, kl_to_ref}, measured per\n"
                "sequence (kl_to_ref is null for CARDS, which has no per-token distribution).");
  app.add_option("--model", o.model, "model directory (lm head)")->type_name("DIR")->required();
  app.add_option("--prompts", o.prompts, "JSONL records with prompt (or prompt_ids)")->type_name("FILE")->required();
  app.add_option("--out", o.out, "JSONL output, one object per prompt")->type_name("FILE")->required();
  app.add_option("--sampler", o.sampler,
                 "processor chain, e.g. \"temperature=0.7,top_k=40,top_p=0.9,min_p=0.05\" or \"greedy\"; with a "
                 "token-level guide it runs on the guided logits")
      ->type_name("SPEC")->check(sampler_spec());
  std::vector<std::string> names;
  for (const auto& g : guides()) names.push_back(g.name);
  app.add_option("--guide", o.guide, "reward guidance: ARGS, PARGS, token-wise CD, block-wise CD, FaRMA, GenARM, CARDS, best-of-N")
      ->type_name(detail::join(names, "|"))->check(one_of(names));
  app.add_option("--reward", o.reward, "the guide's reward model: reward head (args, pargs, cards, bon), value head (cd, "
                                       "cd-block, cards, bon), token head (farma) or GenARM lm (genarm)")->type_name("DIR");
  app.add_option("--w", o.w, "args/pargs/cd: score = logit + w * r; farma: logit + w * R (default 1)")
      ->type_name("W")->check(range<double>(-1e6, 1e6));
  app.add_option("--k", o.k, "args/pargs/cd: candidates per token, the LM's top k (default 10)")
      ->type_name("K")->check(range<std::int64_t>(1, 1 << 20));
  app.add_option("--beta", o.beta, "genarm: samples pi_ref * pi_r^(beta_r / beta), beta_r from the reward LM's training "
                                   "(default 1)")->type_name("B")->check(positive<double>(1e6));
  app.add_option("--segment-min", o.segment_min, "cards: shortest segment (default 4)")
      ->type_name("N")->check(range<std::int64_t>(1, 1 << 20));
  app.add_option("--segment-max", o.segment_max, "cards: longest segment (default 64)")
      ->type_name("N")->check(range<std::int64_t>(1, 1 << 20));
  app.add_option("--entropy-threshold", o.entropy_threshold, "cards: a segment ends where the next-token entropy (nats) "
                                                             "exceeds this (default 3)")->type_name("H")->check(range<double>(0, 1e6));
  app.add_option("--target-reward", o.target_reward, "cards: r*, the acceptance threshold at the end of the budget "
                                                     "(default 1)")->type_name("R")->check(range<double>(-1e6, 1e6));
  app.add_option("--alpha", o.alpha, "cards: the threshold starts at (1 - alpha) r(prompt) + alpha r* (default 0.5)")
      ->type_name("A")->check(range<double>(0, 1));
  app.add_option("--acceptance", o.acceptance, "cards: hard (r >= threshold) or soft (probability exp((r - threshold) / T))")
      ->type_name("hard|soft")->check(one_of({"hard", "soft"}));
  app.add_option("--soft-temperature", o.soft_temperature, "cards: T of soft acceptance (default 1)")
      ->type_name("T")->check(positive<double>(1e6));
  app.add_option("--max-rejections", o.max_rejections, "cards: after this many rejections the best segment seen is taken "
                                                       "(default 20)")->type_name("N")->check(range<std::int64_t>(1, 1 << 20));
  app.add_option("--blocks", o.blocks, "cd-block: K continuations per block (default 4)")
      ->type_name("K")->check(range<std::int64_t>(1, 1 << 16));
  app.add_option("--block-len", o.block_len, "cd-block: M tokens per block (default 8)")
      ->type_name("M")->check(range<std::int64_t>(1, 1 << 20));
  app.add_option("--n", o.n, "bon: samples per prompt (default 4)")->type_name("N")->check(range<std::int64_t>(1, 1 << 16));
  app.add_option("--max-new-tokens", o.max_new_tokens, "tokens to generate at most (and at most the model's n_positions)")
      ->type_name("N")->check(range<std::int64_t>(1, 1 << 20));
  app.add_option("--min-new-tokens", o.min_new_tokens, "EOS is not sampled before this many tokens (<= --max-new-tokens)")
      ->type_name("N")->check(range<std::int64_t>(0, 1 << 20));
  app.add_option("--stop", o.stop, "stop string: the response ends once its text contains it (repeat for several)")
      ->type_name("TEXT")->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)->allow_extra_args(false)->default_str("");
  app.add_option("--batch-size", o.batch_size, "prompts decoded together with one KV cache (cd-block and bon: prompts, "
                                               "each holding K or N rows)")
      ->type_name("N")->check(range<std::int64_t>(1, 1 << 16));
  add_seed_option(app, o.seed, "random seed (same seed, same text, for any batch size and thread count)");
  add_threads_option(app, o.threads);
}

double generate_responses(const generate_options& o) {
  const auto& spec = check_guide(o);
  if (o.segment_min && o.segment_max && *o.segment_max < *o.segment_min)
    throw usage_error("--segment-max: value " + std::to_string(*o.segment_max) + " is below --segment-min " +
                      std::to_string(*o.segment_min));
  set_threads(o.threads);
  check_output_file(o.out);
  const auto sampler = rlhf::sampling::any_sampler::parse(o.sampler);
  auto [model, tok] = open_policy(o.model);
  std::optional<rlhf::model_info> rm_info;
  if (!spec.heads.empty()) rm_info = open_reward_info(o, spec, model.vocab_size());
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
  // Under mpirun each process decodes a contiguous shard of the prompts, sampling from the
  // prompts' own streams (the tokens of one process); rank 0 writes every record in prompt order.
  const auto& comm = rlhf::dist::world();
  const auto part = rlhf::dist::shard(ids.size(), comm.rank(), comm.size());
  g.first_index = part.first;
  const auto ps = std::span<const std::vector<token_id>>(ids).subspan(part.first, part.size());
  std::optional<rlhf::data::jsonl_writer> out;  // opened first: a path that cannot be written fails before decoding
  if (writes_outputs()) out.emplace(o.out);

  const auto scalar_rm = [&] {
    return load_model<rlhf::scalar_head>(o.reward, rm_info->head);
  };
  rlhf::guide::args_options args{.k = o.k.value_or(10), .w = o.w.value_or(1.0)};
  rlhf::generate_result result;
  const std::string& guide = o.guide;
  if (ps.empty()) {  // a process with no prompt of its own (more processes than prompts)
  } else if (guide == "none") {
    result = rlhf::generate(model, ps, sampler, g);
  } else if (guide == "args" || guide == "pargs" || guide == "cd") {
    auto rm = scalar_rm();
    rlhf::guided_decoder dec(model, rlhf::guide::args(rm, args), sampler);
    result = dec.generate(ps, g);
  } else if (guide == "farma") {
    auto rm = load_model<rlhf::token_reward_head>(o.reward, rlhf::head_kind::token);
    rlhf::guided_decoder dec(model, rlhf::guide::farma(rm, {.w = o.w.value_or(1.0)}), sampler);
    result = dec.generate(ps, g);
  } else if (guide == "genarm") {
    auto rm = load_model<rlhf::lm_head>(o.reward, rlhf::head_kind::lm);
    rlhf::guided_decoder dec(model, rlhf::guide::genarm(rm, {.beta = o.beta.value_or(1.0), .beta_r = genarm_beta_r(*rm_info)}),
                             sampler);
    result = dec.generate(ps, g);
  } else if (guide == "cd-block") {
    auto rm = scalar_rm();
    rlhf::block_cd_decoder dec(model, rm, sampler, {.blocks = o.blocks.value_or(4), .block_len = o.block_len.value_or(8)});
    result = dec.generate(ps, g);
  } else if (guide == "cards") {
    auto rm = scalar_rm();
    const rlhf::cards_options c{
        .segment_min = o.segment_min.value_or(std::min<std::int64_t>(4, o.segment_max.value_or(64))),
        .segment_max = o.segment_max.value_or(std::max<std::int64_t>(64, o.segment_min.value_or(4))),
        .entropy_threshold = o.entropy_threshold.value_or(3.0),
        .target_reward = o.target_reward.value_or(1.0),
        .alpha = o.alpha.value_or(0.5),
        .acceptance = o.acceptance.value_or("hard") == "soft" ? rlhf::cards_acceptance::soft : rlhf::cards_acceptance::hard,
        .temperature = o.soft_temperature.value_or(1.0),
        .max_rejections = o.max_rejections.value_or(20)};
    rlhf::cards_decoder dec(model, rm, sampler, c);
    result = dec.generate(ps, g);
  } else {  // bon
    auto rm = scalar_rm();
    rlhf::best_of_n_decoder dec(model, rm, sampler, {.n = o.n.value_or(4)});
    result = dec.generate(ps, g);
  }

  std::string mine;  // this process's records, one JSON line each
  for (std::size_t i = 0; i < ps.size(); ++i) {
    const auto& s = result.sequences[i];
    std::vector<token_id> text_ids = s.tokens;
    if (s.finish == rlhf::finish_reason::eos && !text_ids.empty()) text_ids.pop_back();
    const auto& st = s.stats;
    const nlohmann::json record{{"prompt", prompts[part.first + i].prompt_text},
               {"completion", tok.decode(text_ids)},
               {"completion_ids", s.tokens},
               {"completion_logprobs", s.model_logprobs},
               {"finish_reason", std::string(rlhf::to_string(s.finish))},
               {"stats",
                {{"lm_calls", st.lm_calls},
                 {"rm_calls", st.rm_calls},
                 {"lm_passes", st.lm_passes},
                 {"rm_passes", st.rm_passes},
                 {"new_tokens", st.new_tokens},
                 {"seconds", st.seconds},
                 {"kl_to_ref", st.kl_to_ref ? nlohmann::json(*st.kl_to_ref) : nlohmann::json(nullptr)}}}};
    mine += rlhf::data::to_jsonl_line(record) + '\n';
  }
  // The records of every process, in rank order (= prompt order), and the totals of the run; its
  // wall time is the slowest process's.
  const nlohmann::json totals{{"new_tokens", result.stats.new_tokens}, {"lm_passes", result.stats.lm_passes},
                              {"rm_passes", result.stats.rm_passes}, {"seconds", result.stats.seconds}};
  const auto records = comm.all_gather(mine);
  result.stats = {};
  for (const auto& text : comm.all_gather(totals.dump())) {
    const auto t = nlohmann::json::parse(text);
    result.stats.new_tokens += t["new_tokens"].get<index_t>();
    result.stats.lm_passes += t["lm_passes"].get<index_t>();
    result.stats.rm_passes += t["rm_passes"].get<index_t>();
    result.stats.seconds = std::max(result.stats.seconds, t["seconds"].get<double>());
  }
  if (out) {
    for (const auto& text : records) {
      std::istringstream lines(text);
      for (std::string line; std::getline(lines, line);) out->write_line(line);
    }
    out->commit();
  }
  std::fprintf(stderr,
               "rlhf generate: --guide %s, %zu prompts, %lld tokens in %.2fs (%.0f tokens/s, %lld LM and %lld RM batched "
               "passes) -> %s\n",
               guide.c_str(), prompts.size(), static_cast<long long>(result.stats.new_tokens), result.stats.seconds,
               result.stats.seconds > 0 ? static_cast<double>(result.stats.new_tokens) / result.stats.seconds : 0.0,
               static_cast<long long>(result.stats.lm_passes), static_cast<long long>(result.stats.rm_passes),
               o.out.c_str());
  return result.stats.seconds;
}

int run_generate(const generate_options& o) {
  generate_responses(o);
  return 0;
}

}  // namespace rlhf::cli
