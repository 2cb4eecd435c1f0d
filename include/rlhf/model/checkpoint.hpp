// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Model directories in the Hugging Face layout (CLI.md "Model directories"):
///   config.json        GPT-2's keys (vocab_size, n_positions, n_embd, n_layer, n_head,
///                      layer_norm_epsilon, activation_function "gelu_new") plus "architectures"
///                      and "model_type", as transformers writes them; a tabular_lm writes its
///                      own keys with model_type "tabular".
///   model.safetensors  F32 tensors under Hugging Face GPT-2 names (F32, F16, BF16 are read).
///   rlhf.json          optional: {"head": "lm"|"reward"|"value"|"token", "history": [...]}.
/// save_model stages the whole directory beside the target and swaps it in at once: an
/// interrupted or failed save leaves an existing model directory as it was, and the files it
/// does not write (vocab.json, merges.txt) are carried over unchanged.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <ranges>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "rlhf/config.hpp"
#include "rlhf/core/error.hpp"
#include "rlhf/core/limits.hpp"
#include "rlhf/core/view.hpp"
#include "rlhf/io/atomic_file.hpp"
#include "rlhf/io/safetensors.hpp"
#include "rlhf/model/gpt2_config.hpp"
#include "rlhf/model/parameter.hpp"
#include "rlhf/model/tabular_model.hpp"

namespace rlhf {

/// What a model directory's network computes at its output (rlhf.json "head").
enum class head_kind { lm, reward, value, token };

inline std::string_view to_string(head_kind h) noexcept {
  switch (h) {
    case head_kind::lm: return "lm";
    case head_kind::reward: return "reward";
    case head_kind::value: return "value";
    case head_kind::token: return "token";
  }
  return "lm";
}

/// "lm" | "reward" | "value" | "token". @throws rlhf::invalid_argument naming the allowed values
inline head_kind parse_head_kind(std::string_view s) {
  for (head_kind h : {head_kind::lm, head_kind::reward, head_kind::value, head_kind::token})
    if (s == to_string(h)) return h;
  RLHF_THROW(invalid_argument, "head kind '", s, "' is not one of lm, reward, value, token");
}

// ---- config.json ----

/// config.json of a GPT-2 model as transformers writes it (tied LM head, no dropout in rlhf).
inline nlohmann::json config_to_json(const gpt2_config& c, head_kind head = head_kind::lm) {
  const bool seq_cls = head == head_kind::reward || head == head_kind::value;
  nlohmann::json j{{"architectures", {seq_cls ? "GPT2ForSequenceClassification" : "GPT2LMHeadModel"}},
                   {"model_type", "gpt2"},
                   {"vocab_size", c.vocab_size},
                   {"n_positions", c.n_positions},
                   {"n_ctx", c.n_positions},
                   {"n_embd", c.n_embd},
                   {"n_layer", c.n_layer},
                   {"n_head", c.n_head},
                   {"n_inner", nullptr},
                   {"layer_norm_epsilon", c.layer_norm_epsilon},
                   {"activation_function", "gelu_new"},
                   {"resid_pdrop", 0.0},
                   {"embd_pdrop", 0.0},
                   {"attn_pdrop", 0.0},
                   {"initializer_range", 0.02},
                   {"tie_word_embeddings", true},
                   {"torch_dtype", "float32"}};
  if (seq_cls) {  // one output label, as GPT2ForSequenceClassification with num_labels = 1
    j["id2label"] = {{"0", "LABEL_0"}};
    j["label2id"] = {{"LABEL_0", 0}};
  }
  return j;
}

/// config.json of a tabular_lm (model_type "tabular"; a custom context function is not
/// serialisable: loading such a model needs the same function again).
inline nlohmann::json config_to_json(const tabular_config& c, head_kind = head_kind::lm) {
  return nlohmann::json{{"architectures", {"TabularLM"}},
                        {"model_type", "tabular"},
                        {"vocab_size", c.vocab_size},
                        {"n_contexts", c.contexts()},
                        {"context", std::string(to_string(c.context))},
                        {"max_positions", c.max_positions},
                        {"init_std", c.init_std}};
}

namespace detail {

inline std::filesystem::path config_path(const std::filesystem::path& p) {
  std::error_code ec;
  return std::filesystem::is_directory(p, ec) ? p / "config.json" : p;
}

inline nlohmann::json read_json_object(const std::filesystem::path& file) {
  const std::string text = io::read_file(file);
  if (const auto max_depth = limits::max_json_depth(); limits::json_depth(text, max_depth) > max_depth)
    RLHF_THROW(format_error, file.string(), ": JSON nested deeper than ", max_depth,
               " levels (the limit; RLHF_MAX_JSON_DEPTH raises it); a config is a flat object");
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded())
    RLHF_THROW(format_error, file.string(), ": not valid JSON; rewrite it or regenerate the model directory");
  if (!j.is_object()) RLHF_THROW(format_error, file.string(), ": the top level must be a JSON object");
  return j;
}

// Key reader for config files: a missing key gives `fallback`; a present key of another JSON
// type is a format_error naming the file and the key.
struct json_keys {
  const nlohmann::json& j;
  const std::filesystem::path& file;

  index_t integer(const char* key, index_t fallback) const {
    const auto it = j.find(key);
    if (it == j.end() || it->is_null()) return fallback;
    if (!it->is_number_integer())
      RLHF_THROW(format_error, file.string(), ": key \"", key, "\" must be an integer (got ", it->dump(), ")");
    return it->get<index_t>();
  }
  double number(const char* key, double fallback) const {
    const auto it = j.find(key);
    if (it == j.end() || it->is_null()) return fallback;
    if (!it->is_number())
      RLHF_THROW(format_error, file.string(), ": key \"", key, "\" must be a number (got ", it->dump(), ")");
    return it->get<double>();
  }
  std::string string(const char* key, const std::string& fallback) const {
    const auto it = j.find(key);
    if (it == j.end() || it->is_null()) return fallback;
    if (!it->is_string())
      RLHF_THROW(format_error, file.string(), ": key \"", key, "\" must be a string (got ", it->dump(), ")");
    return it->get<std::string>();
  }
};

}  // namespace detail

/// The model_type of a model directory's config.json ("gpt2", "tabular"; "gpt2" when absent).
inline std::string read_model_type(const std::filesystem::path& dir) {
  const auto file = detail::config_path(dir);
  const auto j = detail::read_json_object(file);
  return detail::json_keys{j, file}.string("model_type", "gpt2");
}

/// GPT-2 hyperparameters from `dir`/config.json (or from `dir` itself when it is a file).
/// Missing keys take GPT-2's defaults (transformers' GPT2Config: vocab 50257, 1024 positions,
/// 768 channels, 12 layers, 12 heads, ε 1e-5); `n_ctx` stands in for a missing `n_positions`.
/// @throws rlhf::io_error when the file is missing; rlhf::format_error naming the file and the
///         key for bad JSON, a wrong type, an out-of-range value or an unsupported architecture
inline gpt2_config read_gpt2_config(const std::filesystem::path& dir) {
  const auto file = detail::config_path(dir);
  const auto j = detail::read_json_object(file);
  const detail::json_keys k{j, file};
  const std::string type = k.string("model_type", "gpt2");
  if (type != "gpt2")
    RLHF_THROW(format_error, file.string(), ": model_type \"", type,
               "\" is not supported; rlhf reads GPT-2-family checkpoints (model_type \"gpt2\")");
  gpt2_config c;
  c.vocab_size = k.integer("vocab_size", 50257);
  c.n_positions = k.integer("n_positions", k.integer("n_ctx", 1024));
  c.n_embd = k.integer("n_embd", 768);
  c.n_layer = k.integer("n_layer", 12);
  c.n_head = k.integer("n_head", 12);
  c.layer_norm_epsilon = static_cast<float>(k.number("layer_norm_epsilon", 1e-5));
  // GPT-2's tanh approximation under its three transformers names; anything else (e.g. the
  // exact erf "gelu") would silently change every activation, so it is refused.
  const std::string act = k.string("activation_function", "gelu_new");
  if (act != "gelu_new" && act != "gelu_pytorch_tanh" && act != "gelu_fast")
    RLHF_THROW(format_error, file.string(), ": key \"activation_function\" is \"", act,
               "\"; rlhf implements GPT-2's tanh GELU (\"gelu_new\") only");
  const index_t inner = k.integer("n_inner", 4 * c.n_embd);
  if (inner != 4 * c.n_embd)
    RLHF_THROW(format_error, file.string(), ": key \"n_inner\" is ", inner, "; rlhf supports 4 * n_embd (",
               4 * c.n_embd, ") or null");
  try {
    c.validate();
  } catch (const invalid_argument& e) {
    RLHF_THROW(format_error, file.string(), ": ", e.what());
  }
  return c;
}

/// tabular_lm shape from `dir`/config.json (model_type "tabular").
/// @throws rlhf::format_error as read_gpt2_config
inline tabular_config read_tabular_config(const std::filesystem::path& dir) {
  const auto file = detail::config_path(dir);
  const auto j = detail::read_json_object(file);
  const detail::json_keys k{j, file};
  const std::string type = k.string("model_type", "");
  if (type != "tabular")
    RLHF_THROW(format_error, file.string(), ": model_type is \"", type, "\", not \"tabular\"");
  if (!j.contains("vocab_size"))
    RLHF_THROW(format_error, file.string(), ": key \"vocab_size\" is missing");
  tabular_config c;
  c.vocab_size = k.integer("vocab_size", 0);
  c.n_contexts = k.integer("n_contexts", 0);
  c.max_positions = k.integer("max_positions", c.max_positions);
  c.init_std = k.number("init_std", 0.0);
  const std::string ctx = k.string("context", "bigram");
  if (ctx == "bigram") c.context = tabular_context::bigram;
  else if (ctx == "bandit") c.context = tabular_context::bandit;
  else if (ctx == "custom") c.context = tabular_context::custom;
  else
    RLHF_THROW(format_error, file.string(), ": key \"context\" is \"", ctx, "\"; use bigram, bandit or custom");
  try {
    c.validate();
  } catch (const invalid_argument& e) {
    RLHF_THROW(format_error, file.string(), ": ", e.what());
  }
  return c;
}

// ---- rlhf.json ----

/// Our own metadata of a model directory.
struct model_info {
  head_kind head = head_kind::lm;
  nlohmann::json history = nlohmann::json::array();  ///< one entry per training run, oldest first
};

/// `dir`/rlhf.json, or the defaults (lm head, empty history) when the file does not exist.
/// @throws rlhf::format_error naming the file and key when it exists but is malformed
inline model_info read_model_info(const std::filesystem::path& dir) {
  const auto file = dir / "rlhf.json";
  model_info info;
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) return info;
  const auto j = detail::read_json_object(file);
  const std::string head = detail::json_keys{j, file}.string("head", "lm");
  try {
    info.head = parse_head_kind(head);
  } catch (const invalid_argument& e) {
    RLHF_THROW(format_error, file.string(), ": key \"head\": ", e.what());
  }
  if (j.contains("history")) {
    if (!j["history"].is_array())
      RLHF_THROW(format_error, file.string(), ": key \"history\" must be a JSON array");
    info.history = j["history"];
  }
  return info;
}

// ---- save / load ----

namespace detail {
inline std::string shape_text(const shape& s) {
  std::string r = "[";
  for (int i = 0; i < s.rank; ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}
inline std::string shape_text(std::span<const index_t> s) {
  std::string r = "[";
  for (std::size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

}  // namespace detail

/// A model that save_model / load_parameters accept: named tensors, a config() that
/// config_to_json knows, and a backend to copy through.
template <class M>
concept checkpointable = requires(M& m, const M& cm) {
  { m.named_parameters() } -> std::ranges::range;
  config_to_json(cm.config());
  typename model_backend_t<M>;
};

namespace detail {
/// Writes config.json, model.safetensors and rlhf.json of `model` into the directory `into`.
template <checkpointable Model>
void write_model_files(const std::filesystem::path& into, const Model& model, head_kind head,
                       const nlohmann::json& history) {
  using backend = model_backend_t<Model>;
  RLHF_EXPECTS(history.is_array(), "save_model: history must be a JSON array (one entry per training run)");
  // named_parameters() hands out mutable views; saving only reads them.
  auto params = const_cast<Model&>(model).named_parameters();
  std::vector<std::vector<float>> host;
  std::vector<io::tensor_ref> refs;
  host.reserve(std::ranges::size(params));
  for (const auto& p : params) {
    using T = std::remove_const_t<typename decltype(p.value)::value_type>;
    std::vector<T> values(static_cast<std::size_t>(p.value.size()));
    backend::to_host(std::span<T>(values), view<const T, typename decltype(p.value)::space>(p.value));
    if constexpr (std::is_same_v<T, float>)
      host.push_back(std::move(values));
    else
      host.emplace_back(values.begin(), values.end());
    std::vector<index_t> shp;
    for (int i = 0; i < p.value.rank(); ++i) shp.push_back(p.value.dim(i));
    refs.push_back({p.name, std::move(shp), std::span<const float>(host.back())});
  }
  io::save_safetensors(into / "model.safetensors", refs, {{"format", "pt"}});
  const nlohmann::json info{{"head", std::string(to_string(head))}, {"history", history},
                            {"library", "rlhf " + std::to_string(RLHF_VERSION_MAJOR) + "." +
                                            std::to_string(RLHF_VERSION_MINOR) + "." +
                                            std::to_string(RLHF_VERSION_PATCH)}};
  io::write_atomically(into / "rlhf.json", [&](std::ostream& os) { os << info.dump(2) << '\n'; });
  const nlohmann::json cfg = config_to_json(model.config(), head);
  io::write_atomically(into / "config.json", [&](std::ostream& os) { os << cfg.dump(2) << '\n'; });
}
}  // namespace detail

/// What save_model writes besides the model's own files.
struct save_options {
  /// Files copied into the directory with the model (e.g. a tokenizer's vocab.json and
  /// merges.txt), in the same atomic step.
  std::vector<std::filesystem::path> extra_files;
  /// Keep the entries of an existing directory that the save does not write (its tokenizer,
  /// checkpoints, notes). false: the directory holds exactly the new files.
  bool keep_existing = true;
};

/// Writes `dir`/config.json, `dir`/model.safetensors (every named parameter as F32, in table
/// order, metadata format "pt"), `dir`/rlhf.json (head, history) and the extra files as ONE
/// directory: all are staged beside `dir` and swapped in at once (io::staged_directory), so a
/// kill at any moment leaves either the old or the new model directory, never a mix.
/// @throws rlhf::io_error when the directory or a file cannot be written (nothing is replaced);
///         rlhf::invalid_argument when `dir` is a file
template <checkpointable Model>
void save_model(const std::filesystem::path& dir, const Model& model, head_kind head,
                const nlohmann::json& history = nlohmann::json::array(), const save_options& options = {}) {
  io::staged_directory staged(dir);
  detail::write_model_files(staged.path(), model, head, history);
  for (const auto& f : options.extra_files) {
    std::error_code ec;
    std::filesystem::copy_file(f, staged.path() / f.filename(), std::filesystem::copy_options::overwrite_existing, ec);
    if (ec) RLHF_THROW(io_error, "cannot copy ", f.string(), " into the model directory ", dir.string(), ": ", ec.message());
  }
  if (options.keep_existing) staged.keep_existing_files();
  staged.commit();
}

/// Options of load_parameters.
struct load_options {
  /// Parameters that may be absent from the file (they keep their current values), e.g.
  /// "score.weight" when a reward model starts from an SFT checkpoint.
  std::vector<std::string> allow_missing;
};

/// What load_parameters did.
struct load_report {
  std::vector<std::string> loaded;      ///< model parameter names read from the file
  std::vector<std::string> missing;     ///< allowed-missing parameters that were absent
  std::vector<std::string> unexpected;  ///< file tensors no parameter uses (other than ignored buffers)
};

/// Reads every named parameter of `model` from `dir`/model.safetensors. A tensor may carry a
/// "transformer." prefix; the `attn.bias` / `attn.masked_bias` buffers and `lm_head.weight`
/// (tied to wte) are ignored. F16 and BF16 tensors are widened exactly.
/// @throws rlhf::format_error naming the tensor and the file for a missing tensor, or naming both
///         shapes and config.json for a shape mismatch; rlhf::numerical_error naming the tensor,
///         the element and the value when a weight is NaN or ±inf; rlhf::io_error when the file
///         is missing
template <checkpointable Model>
load_report load_parameters(const std::filesystem::path& dir, Model& model, const load_options& options = {}) {
  using backend = model_backend_t<Model>;
  const auto file = dir / "model.safetensors";
  const io::safetensors_reader reader(file);
  load_report report;
  std::vector<std::string> used;
  for (const auto& p : model.named_parameters()) {
    std::string name = p.name;
    if (!reader.contains(name) && reader.contains("transformer." + p.name)) name = "transformer." + p.name;
    if (!reader.contains(name)) {
      if (std::find(options.allow_missing.begin(), options.allow_missing.end(), p.name) != options.allow_missing.end()) {
        report.missing.push_back(p.name);
        continue;
      }
      RLHF_THROW(format_error, file.string(), ": no tensor \"", p.name, "\" (nor \"transformer.", p.name,
                 "\") for the model's parameter of shape ", detail::shape_text(p.value.extents()),
                 "; the checkpoint does not hold this model (check the head and config.json)");
    }
    const io::tensor_info& info = reader.info(name);
    shape want = p.value.extents();
    bool same = static_cast<int>(info.shape.size()) == want.rank;
    for (int i = 0; same && i < want.rank; ++i) same = info.shape[static_cast<std::size_t>(i)] == want[i];
    if (!same)
      RLHF_THROW(format_error, file.string(), ": tensor \"", name, "\" has shape ", detail::shape_text(info.shape),
                 " but the model expects ", detail::shape_text(want), "; the model was built from another ",
                 (dir / "config.json").string(), " than the one that wrote these weights");
    using T = std::remove_const_t<typename decltype(p.value)::value_type>;
    std::vector<float> values(static_cast<std::size_t>(p.value.size()));
    reader.read_f32_into(name, values);
    // A diverged or corrupted checkpoint: refused here, naming the tensor, rather than giving NaN
    // outputs downstream with no hint of where they came from.
    if (const auto bad = std::find_if(values.begin(), values.end(), [](float x) { return !std::isfinite(x); });
        bad != values.end())
      RLHF_THROW(numerical_error, file.string(), ": tensor \"", name, "\" holds ", *bad, " at element ",
                 bad - values.begin(), " of ", values.size(), " (shape ", detail::shape_text(info.shape),
                 "); the checkpoint diverged or is corrupt: load an earlier checkpoint");
    if constexpr (std::is_same_v<T, float>) {
      backend::from_host(p.value, std::span<const float>(values));
    } else {
      std::vector<T> converted(values.begin(), values.end());
      backend::from_host(p.value, std::span<const T>(converted));
    }
    report.loaded.push_back(p.name);
    used.push_back(name);
  }
  for (const auto& t : reader.tensors()) {
    std::string_view n = t.name;
    if (n.ends_with(".attn.bias") || n.ends_with(".attn.masked_bias") || n == "lm_head.weight") continue;
    if (std::find(used.begin(), used.end(), t.name) == used.end()) report.unexpected.push_back(t.name);
  }
  return report;
}

}  // namespace rlhf
