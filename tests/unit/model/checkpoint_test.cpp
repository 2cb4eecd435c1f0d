// SPDX-License-Identifier: MIT
// Model directories: config.json reading, save → load bit-identical round trips, staging
// (an existing checkpoint is never half-overwritten), tensor lookup rules and bad input.
#include <catch2/catch.hpp>

#include <cstring>
#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "rlhf/backend.hpp"
#include "rlhf/model/checkpoint.hpp"
#include "rlhf/model/tabular_model.hpp"
#include "rlhf/model/transformer.hpp"

namespace fs = std::filesystem;

namespace {

// A fresh empty directory under the system temp dir, removed at the end of the test.
struct temp_dir {
  fs::path path;
  explicit temp_dir(const std::string& name) {
    path = fs::temp_directory_path() / ("rlhf_checkpoint_test_" + name + "_" + std::to_string(::getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

void write_text(const fs::path& p, const std::string& s) {
  std::ofstream os(p, std::ios::binary);
  os << s;
}

// A safetensors file written byte by byte (16-bit dtypes, which save_safetensors never writes).
void write_raw_safetensors(const fs::path& p, const std::string& name, const char* dtype,
                           const std::vector<std::uint16_t>& halves, const std::vector<int>& shape) {
  std::string header = "{\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":[";
  for (std::size_t i = 0; i < shape.size(); ++i) header += (i ? "," : "") + std::to_string(shape[i]);
  header += "],\"data_offsets\":[0," + std::to_string(2 * halves.size()) + "]}}";
  while (header.size() % 8) header += ' ';
  std::ofstream os(p, std::ios::binary);
  std::uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) os.put(static_cast<char>((n >> (8 * i)) & 0xff));
  os << header;
  for (std::uint16_t h : halves) {
    os.put(static_cast<char>(h & 0xff));
    os.put(static_cast<char>(h >> 8));
  }
}

std::vector<std::string> hidden_entries(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().starts_with(".")) out.push_back(e.path().filename().string());
  return out;
}

using tab = rlhf::tabular_lm<rlhf::backend::eigen>;

}  // namespace

TEST_CASE("read_gpt2_config reads Hugging Face GPT-2 config.json files", "[model][checkpoint][config]") {
  temp_dir d("config");
  // distilgpt2's config.json, abridged.
  write_text(d.path / "config.json", R"({"_num_labels": 1, "activation_function": "gelu_new",
    "architectures": ["GPT2LMHeadModel"], "attn_pdrop": 0.1, "bos_token_id": 50256, "embd_pdrop": 0.1,
    "eos_token_id": 50256, "initializer_range": 0.02, "layer_norm_epsilon": 1e-05, "model_type": "gpt2",
    "n_ctx": 1024, "n_embd": 768, "n_head": 12, "n_inner": null, "n_layer": 6, "n_positions": 1024,
    "resid_pdrop": 0.1, "vocab_size": 50257})");
  auto c = rlhf::read_gpt2_config(d.path);
  CHECK(c.vocab_size == 50257);
  CHECK(c.n_layer == 6);
  CHECK(c.n_embd == 768);
  CHECK(c.n_head == 12);
  CHECK(c.n_positions == 1024);
  CHECK(c.layer_norm_epsilon == 1e-5f);

  // Missing keys take GPT-2's defaults; n_ctx stands in for n_positions.
  write_text(d.path / "config.json", R"({"n_embd": 64, "n_head": 4, "n_ctx": 128})");
  c = rlhf::read_gpt2_config(d.path);
  CHECK(c.vocab_size == 50257);
  CHECK(c.n_layer == 12);
  CHECK(c.n_positions == 128);
  CHECK(c.n_embd == 64);

  // Round trip through config_to_json.
  const rlhf::gpt2_config tiny{.vocab_size = 11, .n_positions = 8, .n_embd = 8, .n_layer = 2, .n_head = 2};
  write_text(d.path / "config.json", rlhf::config_to_json(tiny).dump());
  c = rlhf::read_gpt2_config(d.path / "config.json");
  CHECK(c.vocab_size == 11);
  CHECK(c.n_layer == 2);
  CHECK(c.n_positions == 8);
  CHECK(rlhf::config_to_json(tiny)["architectures"][0] == "GPT2LMHeadModel");
  CHECK(rlhf::config_to_json(tiny, rlhf::head_kind::reward)["architectures"][0] == "GPT2ForSequenceClassification");

  auto expect_format_error = [&](const std::string& json, const char* needle) {
    write_text(d.path / "config.json", json);
    INFO(json);
    CHECK_THROWS_AS(rlhf::read_gpt2_config(d.path), rlhf::format_error);
    CHECK_THROWS_WITH(rlhf::read_gpt2_config(d.path), Catch::Contains(needle) && Catch::Contains("config.json"));
  };
  expect_format_error(R"({"n_embd": "768"})", "\"n_embd\" must be an integer");
  expect_format_error(R"({"n_layer": 2.5})", "\"n_layer\"");
  expect_format_error(R"({"layer_norm_epsilon": "small"})", "\"layer_norm_epsilon\"");
  expect_format_error(R"({"activation_function": "relu"})", "activation_function");
  expect_format_error(R"({"model_type": "llama"})", "llama");
  expect_format_error(R"({"n_embd": 64, "n_head": 5})", "n_head");
  expect_format_error(R"({"n_inner": 100})", "n_inner");
  expect_format_error(R"({"vocab_size": -3})", "vocab_size");
  expect_format_error(R"({"n_embd": 64,)", "not valid JSON");
  expect_format_error(R"([1, 2])", "object");
  fs::remove(d.path / "config.json");
  CHECK_THROWS_AS(rlhf::read_gpt2_config(d.path), rlhf::io_error);
}

TEST_CASE("save_model then load_parameters gives bit-identical tabular_lm logits", "[model][checkpoint]") {
  temp_dir d("roundtrip");
  const fs::path dir = d.path / "nested" / "model";  // created by save_model
  tab a({.vocab_size = 6, .context = rlhf::tabular_context::bandit, .n_contexts = 3, .init_std = 1.7}, 11);
  const nlohmann::json history = nlohmann::json::array({{{"stage", "sft"}, {"steps", 3}}});
  rlhf::save_model(dir, a, rlhf::head_kind::lm, history);
  CHECK(fs::exists(dir / "config.json"));
  CHECK(fs::exists(dir / "model.safetensors"));
  CHECK(hidden_entries(dir).empty());  // the staging directory is gone

  CHECK(rlhf::read_model_type(dir) == "tabular");
  const auto cfg = rlhf::read_tabular_config(dir);
  CHECK(cfg.vocab_size == 6);
  CHECK(cfg.n_contexts == 3);
  CHECK(cfg.context == rlhf::tabular_context::bandit);
  const auto info = rlhf::read_model_info(dir);
  CHECK(info.head == rlhf::head_kind::lm);
  CHECK(info.history == history);
  const rlhf::io::safetensors_reader reader(dir / "model.safetensors");
  CHECK(reader.metadata().at("format") == "pt");
  CHECK(reader.info("logits.weight").shape == std::vector<rlhf::index_t>{3, 6});

  tab b(cfg);
  const auto report = rlhf::load_parameters(dir, b);
  CHECK(report.loaded == std::vector<std::string>{"logits.weight"});
  CHECK(report.unexpected.empty());
  const auto ta = a.logits_table(), tb = b.logits_table();
  CHECK(std::memcmp(ta.data(), tb.data(), ta.size() * sizeof(float)) == 0);

  // The double instantiation saves F32 and reads it back widened.
  rlhf::tabular_lm<rlhf::backend::eigen, double> wide(cfg);
  rlhf::load_parameters(dir, wide);
  const auto tw = wide.logits_table();
  for (std::size_t i = 0; i < tw.size(); ++i) CHECK(tw.data()[i] == static_cast<double>(ta.data()[i]));
}

TEST_CASE("save_model over an existing checkpoint replaces it whole and keeps other files", "[model][checkpoint]") {
  temp_dir d("overwrite");
  tab first({.vocab_size = 4, .init_std = 1.0}, 1), second({.vocab_size = 4, .init_std = 1.0}, 2);
  rlhf::save_model(d.path, first, rlhf::head_kind::lm);
  write_text(d.path / "vocab.json", "{}");
  rlhf::save_model(d.path, second, rlhf::head_kind::reward, nlohmann::json::array({1, 2}));
  tab back({.vocab_size = 4});
  rlhf::load_parameters(d.path, back);
  const auto t2 = second.logits_table(), tb = back.logits_table();
  CHECK(std::memcmp(t2.data(), tb.data(), t2.size() * sizeof(float)) == 0);
  CHECK(rlhf::read_model_info(d.path).head == rlhf::head_kind::reward);
  CHECK(fs::exists(d.path / "vocab.json"));
  CHECK(hidden_entries(d.path).empty());

  // A save that fails (a parameter table with a repeated name) leaves the checkpoint intact.
  struct broken_model {
    using backend_type = rlhf::backend::eigen;
    rlhf::host_buffer<float> w{rlhf::shape{4, 4}}, g{rlhf::shape{4, 4}};
    rlhf::tabular_config cfg{.vocab_size = 4};
    const rlhf::tabular_config& config() const { return cfg; }
    std::vector<rlhf::named_parameter<rlhf::host_space>> named_parameters() {
      return {{"logits.weight", w.view(), g.view()}, {"logits.weight", w.view(), g.view()}};
    }
  } broken;
  CHECK_THROWS_AS(rlhf::save_model(d.path, broken, rlhf::head_kind::lm), rlhf::error);
  tab again({.vocab_size = 4});
  rlhf::load_parameters(d.path, again);
  const auto ta = again.logits_table();
  CHECK(std::memcmp(t2.data(), ta.data(), t2.size() * sizeof(float)) == 0);
  CHECK(rlhf::read_model_info(d.path).history == nlohmann::json::array({1, 2}));
  CHECK(hidden_entries(d.path).empty());

  // A file where the directory should be.
  write_text(d.path / "not_a_dir", "x");
  CHECK_THROWS_AS(rlhf::save_model(d.path / "not_a_dir", first, rlhf::head_kind::lm), rlhf::io_error);
}

TEST_CASE("load_parameters: prefixes, ignored buffers, F16/BF16, and errors naming tensor, shapes and config.json",
          "[model][checkpoint]") {
  temp_dir d("load");
  // "transformer." prefix, plus buffers that are ignored and one unexpected tensor.
  std::vector<float> w(4 * 4), bias(3, 1.0f);
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = 0.25f * static_cast<float>(i) - 1.0f;
  const std::vector<rlhf::io::tensor_ref> refs{{"transformer.logits.weight", {4, 4}, w},
                                               {"h.0.attn.bias", {3}, bias},
                                               {"lm_head.weight", {3}, bias},
                                               {"score.weight", {1, 3}, bias}};
  rlhf::io::save_safetensors(d.path / "model.safetensors", refs);
  tab m({.vocab_size = 4});
  const auto report = rlhf::load_parameters(d.path, m);
  CHECK(report.unexpected == std::vector<std::string>{"score.weight"});
  const auto t = m.logits_table();
  for (std::size_t i = 0; i < w.size(); ++i) CHECK(t.data()[i] == w[i]);

  // Shape mismatch names the tensor, both shapes, the file and config.json.
  tab wrong({.vocab_size = 5});
  CHECK_THROWS_AS(rlhf::load_parameters(d.path, wrong), rlhf::format_error);
  CHECK_THROWS_WITH(rlhf::load_parameters(d.path, wrong),
                    Catch::Contains("transformer.logits.weight") && Catch::Contains("[4, 4]") &&
                        Catch::Contains("[5, 5]") && Catch::Contains("config.json") &&
                        Catch::Contains("model.safetensors"));

  // Missing tensor names it; allow_missing lets it keep its value.
  const std::vector<rlhf::io::tensor_ref> other{{"wte.weight", {4, 4}, w}};
  rlhf::io::save_safetensors(d.path / "model.safetensors", other);
  CHECK_THROWS_WITH(rlhf::load_parameters(d.path, m), Catch::Contains("\"logits.weight\""));
  const auto r2 = rlhf::load_parameters(d.path, m, {.allow_missing = {"logits.weight"}});
  CHECK(r2.missing == std::vector<std::string>{"logits.weight"});
  CHECK(r2.unexpected == std::vector<std::string>{"wte.weight"});

  // F16 and BF16 are widened exactly: 1, -2, 0.5, 1.25.
  tab small({.vocab_size = 2});
  write_raw_safetensors(d.path / "model.safetensors", "logits.weight", "F16", {0x3C00, 0xC000, 0x3800, 0x3D00}, {2, 2});
  rlhf::load_parameters(d.path, small);
  auto s = small.logits_table();
  CHECK(s(0, 0) == 1.0f);
  CHECK(s(0, 1) == -2.0f);
  CHECK(s(1, 0) == 0.5f);
  CHECK(s(1, 1) == 1.25f);
  write_raw_safetensors(d.path / "model.safetensors", "logits.weight", "BF16", {0x3F80, 0xC000, 0x3F00, 0x3FA0}, {2, 2});
  tab small2({.vocab_size = 2});
  rlhf::load_parameters(d.path, small2);
  s = small2.logits_table();
  CHECK(s(0, 0) == 1.0f);
  CHECK(s(0, 1) == -2.0f);
  CHECK(s(1, 1) == 1.25f);

  fs::remove(d.path / "model.safetensors");
  CHECK_THROWS_AS(rlhf::load_parameters(d.path, m), rlhf::io_error);
  write_text(d.path / "rlhf.json", R"({"head": "critic"})");
  CHECK_THROWS_WITH(rlhf::read_model_info(d.path), Catch::Contains("rlhf.json") && Catch::Contains("critic"));
  write_text(d.path / "rlhf.json", R"({"head": "value", "history": 3})");
  CHECK_THROWS_AS(rlhf::read_model_info(d.path), rlhf::format_error);
  CHECK(rlhf::read_model_info(d.path / "nowhere").head == rlhf::head_kind::lm);
}

TEST_CASE("a transformer checkpoint round-trips bit for bit under Hugging Face GPT-2 names",
          "[model][checkpoint][transformer]") {
  using lm_t = rlhf::transformer<rlhf::backend::eigen, rlhf::lm_head>;
  using rm_t = rlhf::transformer<rlhf::backend::eigen, rlhf::scalar_head>;
  temp_dir d("transformer");
  const rlhf::gpt2_config cfg{.vocab_size = 11, .n_positions = 8, .n_embd = 8, .n_layer = 2, .n_head = 2};
  lm_t a(cfg, 3);
  rlhf::save_model(d.path / "lm", a, rlhf::head_kind::lm);
  const rlhf::io::safetensors_reader reader(d.path / "lm" / "model.safetensors");
  CHECK(reader.info("wte.weight").shape == std::vector<rlhf::index_t>{11, 8});
  CHECK(reader.info("wpe.weight").shape == std::vector<rlhf::index_t>{8, 8});
  CHECK(reader.info("h.1.attn.c_attn.weight").shape == std::vector<rlhf::index_t>{8, 24});
  CHECK(reader.info("h.1.mlp.c_proj.weight").shape == std::vector<rlhf::index_t>{32, 8});
  CHECK(reader.contains("ln_f.bias"));

  const auto read = rlhf::read_gpt2_config(d.path / "lm");
  CHECK(read.n_layer == 2);
  CHECK(read.vocab_size == 11);
  lm_t b(read, /*another seed*/ 99);
  rlhf::token_batch batch;
  batch.tokens = xt::xtensor<rlhf::token_id, 2>{{1, 5, 7, 2, 9, 10}, {3, 3, 0, 0, 0, 0}};
  batch.lengths = xt::xtensor<std::int32_t, 1>{6, 2};
  batch.response_mask = xt::ones<std::uint8_t>({2, 6});
  const auto before = b.next_token_logits(batch);
  const auto report = rlhf::load_parameters(d.path / "lm", b);
  CHECK(report.unexpected.empty());
  const auto la = a.next_token_logits(batch), lb = b.next_token_logits(batch);
  CHECK(std::memcmp(la.data(), lb.data(), la.size() * sizeof(float)) == 0);
  CHECK(std::memcmp(before.data(), lb.data(), la.size() * sizeof(float)) != 0);

  // A reward model saved with its score head; loading an LM from it ignores score.weight, and a
  // reward model starts from an LM checkpoint only when score.weight may be missing.
  rm_t rm(cfg, 4);
  rlhf::save_model(d.path / "rm", rm, rlhf::head_kind::reward);
  CHECK(rlhf::read_model_info(d.path / "rm").head == rlhf::head_kind::reward);
  CHECK(rlhf::read_gpt2_config(d.path / "rm").n_embd == 8);
  lm_t from_rm(cfg, 5);
  CHECK(rlhf::load_parameters(d.path / "rm", from_rm).unexpected == std::vector<std::string>{"score.weight"});
  rm_t from_lm(cfg, 6);
  CHECK_THROWS_WITH(rlhf::load_parameters(d.path / "lm", from_lm), Catch::Contains("score.weight"));
  CHECK(rlhf::load_parameters(d.path / "lm", from_lm, {.allow_missing = {"score.weight"}}).missing.size() == 1);

  // A model of another width: the error names the tensor, both shapes and config.json.
  lm_t wide({.vocab_size = 11, .n_positions = 8, .n_embd = 16, .n_layer = 2, .n_head = 2}, 1);
  CHECK_THROWS_WITH(rlhf::load_parameters(d.path / "lm", wide),
                    Catch::Contains("wte.weight") && Catch::Contains("[11, 8]") && Catch::Contains("[11, 16]") &&
                        Catch::Contains("config.json"));
}

TEST_CASE("load_parameters refuses a NaN or inf weight, naming the tensor and the element", "[model][checkpoint]") {
  temp_dir d("nonfinite");
  tab a({.vocab_size = 6, .init_std = 1.0}, 3);
  for (const std::uint32_t bits : {0x7FC00000u, 0x7F800000u, 0xFF800000u}) {  // NaN, +inf, -inf
    rlhf::save_model(d.path, a, rlhf::head_kind::lm);
    // Overwrite element 5 of logits.weight (the only tensor) in place.
    const fs::path file = d.path / "model.safetensors";
    std::string bytes = rlhf::io::read_file(file);
    std::uint64_t header = 0;
    for (int i = 7; i >= 0; --i) header = (header << 8) | static_cast<unsigned char>(bytes[static_cast<std::size_t>(i)]);
    std::memcpy(bytes.data() + 8 + header + 5 * sizeof(float), &bits, sizeof bits);
    write_text(file, bytes);
    tab b({.vocab_size = 6});
    CHECK_THROWS_AS(rlhf::load_parameters(d.path, b), rlhf::numerical_error);
    CHECK_THROWS_WITH(rlhf::load_parameters(d.path, b), Catch::Contains("\"logits.weight\"") &&
                                                          Catch::Contains("at element 5 of 36") &&
                                                          Catch::Contains("load an earlier checkpoint"));
  }
}
