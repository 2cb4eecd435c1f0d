// SPDX-License-Identifier: MIT
// Models built from other models (a reward model, a critic and a token reward model from an SFT
// model), composition checks, whole-directory saves, and directories without a tokenizer.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <span>
#include <vector>

#include "../io/temp_dir.hpp"
#include "rlhf/backend.hpp"
#include "rlhf/io/load_tokenizer.hpp"
#include "rlhf/model/checkpoint.hpp"
#include "rlhf/model/compatibility.hpp"
#include "rlhf/model/from_pretrained.hpp"
#include "rlhf/model/transformer.hpp"

namespace {
using B = rlhf::backend::eigen;
const rlhf::gpt2_config cfg{.vocab_size = 12, .n_positions = 10, .n_embd = 16, .n_layer = 2, .n_head = 2};

rlhf::token_batch batch() {
  rlhf::token_batch b;
  b.tokens = xt::xtensor<rlhf::token_id, 2>{{1, 5, 7, 2}, {3, 3, 0, 0}};
  b.lengths = {4, 2};
  b.response_mask = xt::zeros<std::uint8_t>({2, 4});
  return b;
}

template <class M>
std::vector<float> tensor(M& m, const std::string& name) {
  for (const auto& p : m.named_parameters())
    if (p.name == name) {
      std::vector<float> h(static_cast<std::size_t>(p.value.size()));
      B::to_host(std::span<float>(h), rlhf::view<const float, rlhf::host_space>(p.value));
      return h;
    }
  FAIL("no tensor " << name);
  return {};
}
}  // namespace

TEST_CASE("a reward model, critic and token reward model start from an SFT model's directory",
          "[model][from_pretrained]") {
  rlhf::test::temp_dir dir;
  rlhf::transformer<B, rlhf::lm_head> sft(cfg, 3);
  rlhf::save_model(dir / "sft", sft, rlhf::head_kind::lm);

  auto rm = rlhf::from_pretrained<B, rlhf::scalar_head>(dir / "sft", 8);
  CHECK(rm.created == std::vector<std::string>{"score.weight"});
  CHECK(rm.ignored.empty());
  for (const char* name : {"wte.weight", "h.1.mlp.c_proj.weight", "ln_f.bias"}) CHECK(tensor(rm.model, name) == tensor(sft, name));
  const auto score = tensor(rm.model, "score.weight");
  double ss = 0;
  for (float x : score) ss += double(x) * x;
  CHECK(std::sqrt(ss / static_cast<double>(score.size())) == Approx(0.02).epsilon(0.5));  // GPT-2's N(0, 0.02)

  // The token reward model is the SFT model read without softmax: its rewards are the SFT logits.
  auto token = rlhf::from_pretrained<B, rlhf::token_reward_head>(dir / "sft");
  CHECK(token.created.empty());
  const auto rewards = token.model.score_tokens(batch());
  const auto logits = sft.next_token_logits(batch());
  REQUIRE(rewards.shape() == logits.shape());
  CHECK(std::equal(rewards.begin(), rewards.end(), logits.begin()));

  // An LM from a reward model's directory keeps the trunk and says what it left out.
  rlhf::save_model(dir / "rm", rm.model, rlhf::head_kind::reward);
  auto back = rlhf::from_pretrained<B, rlhf::lm_head>(dir / "rm");
  CHECK(back.ignored == std::vector<std::string>{"score.weight"});
  CHECK(tensor(back.model, "wte.weight") == tensor(sft, "wte.weight"));
}

TEST_CASE("models of different vocabularies or tokenizers are refused naming both", "[model][compatibility]") {
  rlhf::transformer<B, rlhf::lm_head> lm(cfg, 1);
  auto other = cfg;
  other.vocab_size = 13;
  rlhf::transformer<B, rlhf::scalar_head> rm(other, 1);
  CHECK_THROWS_WITH(rlhf::expect_same_vocabulary(lm, "policy", rm, "reward model"),
                    Catch::Contains("policy has vocab_size 12") && Catch::Contains("reward model has 13"));
  rlhf::expect_same_vocabulary(lm, "policy", lm, "reference");

  rlhf::test::temp_dir dir;
  std::filesystem::create_directories(dir / "a");
  std::filesystem::create_directories(dir / "b");
  rlhf::expect_same_tokenizer(dir / "a", dir / "b");  // both byte-level
  const std::filesystem::path gpt2 = std::filesystem::path(RLHF_TEST_DATA_DIR) / "gpt2_tiny";
  CHECK_THROWS_WITH(rlhf::expect_same_tokenizer(dir / "a", gpt2),
                    Catch::Contains("different tokenizers") && Catch::Contains("vocab.json"));
  rlhf::expect_same_tokenizer(gpt2, gpt2);
}

TEST_CASE("save_model replaces a directory as a whole and carries the files it does not write",
          "[model][checkpoint]") {
  rlhf::test::temp_dir dir;
  rlhf::transformer<B, rlhf::lm_head> first(cfg, 1), second(cfg, 2);
  const auto out = dir / "model";
  rlhf::save_model(out, first, rlhf::head_kind::lm);
  dir.write("model/notes.txt", "kept");
  std::filesystem::create_directories(out / "checkpoint-5");
  dir.write("model/checkpoint-5/trainer_state.json", "{}");
  const auto tok = dir.write("vocab.json", "{}");
  rlhf::save_model(out, second, rlhf::head_kind::lm, nlohmann::json::array(), {.extra_files = {tok}});
  CHECK(std::filesystem::exists(out / "notes.txt"));
  CHECK(std::filesystem::exists(out / "checkpoint-5" / "trainer_state.json"));
  CHECK(std::filesystem::exists(out / "vocab.json"));
  rlhf::transformer<B, rlhf::lm_head> loaded(cfg, 9);
  rlhf::load_parameters(out, loaded);
  CHECK(tensor(loaded, "wte.weight") == tensor(second, "wte.weight"));
  // Nothing of the staging is left beside the directory.
  for (const auto& e : std::filesystem::directory_iterator(dir.path()))
    CHECK(e.path().filename().string().find(".tmp-") == std::string::npos);
  // keep_existing = false: exactly the new files.
  rlhf::save_model(out, second, rlhf::head_kind::lm, nlohmann::json::array(), {.keep_existing = false});
  CHECK_FALSE(std::filesystem::exists(out / "notes.txt"));
  CHECK(std::filesystem::exists(out / "config.json"));
}

TEST_CASE("a model directory may declare no tokenizer: ids only, text refused naming the fix", "[model][tokenizer]") {
  rlhf::test::temp_dir dir;
  std::filesystem::create_directories(dir / "ids");
  rlhf::io::write_no_tokenizer(dir / "ids", 50000);
  const auto tok = rlhf::io::load_tokenizer(dir / "ids");
  CHECK(tok.vocab_size() == 50000);
  CHECK(tok.eos_id() == -1);
  CHECK_THROWS_WITH(tok.encode("hello"), Catch::Contains("declares no tokenizer") && Catch::Contains("prompt_ids"));
  const std::vector<rlhf::token_id> ids{7, 49999};
  CHECK(tok.decode(ids) == "<7><49999>");
  CHECK(rlhf::io::tokenizer_files(dir / "ids").size() == 1);
}
