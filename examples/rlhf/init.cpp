// SPDX-License-Identifier: MIT
// rlhf init: a randomly initialised GPT-2-family model directory.
#include <cstdio>

#include "commands.hpp"
#include "common.hpp"
#include "model_dir.hpp"

namespace rlhf::cli {

int run_init(int argc, char** argv) {
  options opt("init", {
      {"out", "DIR", "model directory to create", "", true},
      {"config", "FILE.json", "GPT-2 config.json (vocab_size, n_positions, n_embd, n_layer, n_head); default: the tiny model", ""},
      {"tokenizer", "byte|DIR", "byte tokenizer, or a directory holding GPT-2 vocab.json + merges.txt", "byte"},
      {"head", "lm|reward|value|token", "output head", "lm"},
      {"seed", "N", "initialisation seed", "1"},
  });
  opt.parse(argc, argv, 2);
  if (opt.flag("help")) {
    std::fputs(opt.help("Random-initialises a model directory (config.json, model.safetensors, rlhf.json).").c_str(), stdout);
    return 0;
  }
  const auto head = rlhf::parse_head_kind(opt.choice("head", {"lm", "reward", "value", "token"}));
  const auto seed = static_cast<std::uint64_t>(opt.integer("seed", 0, INT64_MAX));
  const std::filesystem::path out = opt.str("out");

  rlhf::io::any_tokenizer tok;
  const std::string tok_arg = opt.str("tokenizer");
  if (tok_arg != "byte") {
    if (!std::filesystem::exists(std::filesystem::path(tok_arg) / "vocab.json"))
      throw usage_error("rlhf init: --tokenizer " + tok_arg + " has no vocab.json (give 'byte' or a GPT-2 tokenizer directory)");
    tok = rlhf::io::load_tokenizer(tok_arg);
  }
  rlhf::gpt2_config cfg;
  cfg.vocab_size = tok.vocab_size();
  cfg.n_positions = 128;
  if (opt.has("config") && !opt.str("config").empty()) {
    cfg = rlhf::read_gpt2_config(opt.str("config"));
    if (cfg.vocab_size < tok.vocab_size())
      throw usage_error("rlhf init: " + opt.str("config") + " has vocab_size " + std::to_string(cfg.vocab_size) +
                        " but the tokenizer has " + std::to_string(tok.vocab_size()) + " ids; raise vocab_size");
  }
  cfg.validate();
  std::filesystem::create_directories(out);
  const nlohmann::json history = nlohmann::json::array({{{"command", "init"}, {"seed", seed}}});
  auto save = [&](const auto& model) { rlhf::save_model(out, model, head, history); };
  switch (head) {
    case rlhf::head_kind::lm: save(gpt2<rlhf::lm_head>(cfg, seed)); break;
    case rlhf::head_kind::reward:
    case rlhf::head_kind::value: save(gpt2<rlhf::scalar_head>(cfg, seed)); break;
    case rlhf::head_kind::token: save(gpt2<rlhf::token_reward_head>(cfg, seed)); break;
  }
  if (tok_arg != "byte") copy_tokenizer_files(tok_arg, out);
  std::fprintf(stderr, "rlhf init: wrote %s (%s head, vocab %lld, %lld layers, d %lld)\n", out.c_str(),
               std::string(rlhf::to_string(head)).c_str(), static_cast<long long>(cfg.vocab_size),
               static_cast<long long>(cfg.n_layer), static_cast<long long>(cfg.n_embd));
  return 0;
}

}  // namespace rlhf::cli
