// SPDX-License-Identifier: MIT
// rlhf init: a randomly initialised GPT-2-family model directory.
#include <cstdio>
#include <filesystem>
#include <string>

#include <unistd.h>

#include <rlhf/io/load_tokenizer.hpp>

#include "cli.hpp"
#include "model_dir.hpp"

namespace rlhf::cli {

void add_init_options(CLI::App& app, init_options& o) {
  describe(app, "Writes config.json, model.safetensors and rlhf.json.");
  app.add_option("--out", o.out, "model directory to create")->type_name("DIR")->required();
  app.add_option("--config", o.config,
                 "GPT-2 config.json (vocab_size, n_positions, n_embd, n_layer, n_head); default: the tiny model")
      ->type_name("FILE.json");
  app.add_option("--tokenizer", o.tokenizer,
                 "byte tokenizer, none (token ids only, any vocab_size), or a directory holding GPT-2 vocab.json + "
                 "merges.txt")
      ->type_name("byte|none|DIR");
  app.add_option("--head", o.head, "output head")->type_name("lm|reward|value|token")
      ->check(one_of({"lm", "reward", "value", "token"}));
  add_seed_option(app, o.seed, "initialisation seed");
}

int run_init(const init_options& o) {
  const auto head = rlhf::parse_head_kind(o.head);
  rlhf::io::any_tokenizer tok;
  const bool none = o.tokenizer == "none";
  if (none && o.config.empty())
    throw usage_error("--tokenizer none needs --config FILE.json: without a tokenizer, vocab_size comes from the config");
  if (o.tokenizer != "byte" && !none) {
    if (!std::filesystem::exists(std::filesystem::path(o.tokenizer) / "vocab.json"))
      throw usage_error("--tokenizer " + o.tokenizer + " has no vocab.json (give 'byte' or a GPT-2 tokenizer directory)");
    tok = rlhf::io::load_tokenizer(o.tokenizer);
  }
  rlhf::gpt2_config cfg;
  cfg.vocab_size = tok.vocab_size();
  cfg.n_positions = 128;
  if (!o.config.empty()) {
    cfg = rlhf::read_gpt2_config(o.config);
    if (!none && cfg.vocab_size < tok.vocab_size())
      throw usage_error(o.config.string() + " has vocab_size " + std::to_string(cfg.vocab_size) +
                        " but the tokenizer has " + std::to_string(tok.vocab_size()) + " ids; raise vocab_size");
  }
  cfg.validate();
  output_directory out(o.out);
  const nlohmann::json history = nlohmann::json::array({{{"command", "init"}, {"seed", o.seed}}});
  // The tokenizer files go in with the weights, in the one atomic step of save_model.
  rlhf::save_options files;
  std::filesystem::path declared;
  if (none) {
    declared = std::filesystem::temp_directory_path() / ("rlhf-init-" + std::to_string(::getpid()));
    std::filesystem::create_directories(declared);
    rlhf::io::write_no_tokenizer(declared, cfg.vocab_size);
    files.extra_files = rlhf::io::tokenizer_files(declared);
  } else if (o.tokenizer != "byte") {
    files.extra_files = rlhf::io::tokenizer_files(o.tokenizer);
  }
  auto save = [&](const auto& model) { rlhf::save_model(o.out, model, head, history, files); };
  switch (head) {
    case rlhf::head_kind::lm: save(gpt2<rlhf::lm_head>(cfg, o.seed)); break;
    case rlhf::head_kind::reward:
    case rlhf::head_kind::value: save(gpt2<rlhf::scalar_head>(cfg, o.seed)); break;
    case rlhf::head_kind::token: save(gpt2<rlhf::token_reward_head>(cfg, o.seed)); break;
  }
  if (!declared.empty()) std::filesystem::remove_all(declared);
  out.keep();
  std::fprintf(stderr, "rlhf init: wrote %s (%s head, vocab %lld, %lld layers, d %lld)\n", o.out.c_str(),
               std::string(rlhf::to_string(head)).c_str(), static_cast<long long>(cfg.vocab_size),
               static_cast<long long>(cfg.n_layer), static_cast<long long>(cfg.n_embd));
  return 0;
}

}  // namespace rlhf::cli
