// SPDX-License-Identifier: MIT
#pragma once
// The command line of the rlhf program, on CLI11: the command table, the validators that give
// every option its allowed range (shown by --help, named by the error message), the options
// all training commands share, and the one place argv is parsed and errors become exit codes.
//
// A command is one row of the table in main.cpp:
//
//   make_command<add_sft_options, run_sft>("sft", "supervised fine-tuning ...")
//
// where add_sft_options(CLI::App&, sft_options&) binds the fields of sft_options to options and
// run_sft(const sft_options&) does the work (commands.hpp). run_command_line parses argv[1] to
// find the row, builds a CLI::App for it, binds a default-constructed sft_options, parses the
// rest of argv into it and calls run_sft. Every error leaves as one line
// "rlhf <command>: <message>" on stderr: status 2 for bad input, 1 for anything else.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <limits>
#include <memory>
#include <new>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include "commands.hpp"
#include "common.hpp"

namespace rlhf::cli {

// ---- validators ------------------------------------------------------------------------------

namespace detail {

/// The whole of `s` as a T (a leading '+' allowed); false if it is not one.
template <class T>
bool parse_number(std::string_view s, T& v) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty()) return false;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc{} && end == s.data() + s.size();
}

inline std::string join(const std::vector<std::string>& words, std::string_view sep) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : std::string(sep)) + w;
  return out;
}

/// Sends this process's stdout and stderr to /dev/null and returns a stream on the original
/// stderr for its errors (the non-root processes of a data-parallel run).
inline FILE* quiet_except_errors() {
  std::fflush(stdout);
  std::fflush(stderr);
  const int saved = ::dup(2);
  const int null = ::open("/dev/null", O_WRONLY);
  if (saved < 0 || null < 0) return stderr;
  ::dup2(null, 1);
  ::dup2(null, 2);
  ::close(null);
  FILE* errors = ::fdopen(saved, "w");
  return errors != nullptr ? errors : stderr;
}

}  // namespace detail

/// Numbers in [lo, hi] ((lo, hi] with `open_lo`), finite. Its description (the range) is shown
/// by --help; a bad value gives "--name: value V not in range [lo - hi]".
template <class T>
CLI::Validator range(T lo, T hi, bool open_lo = false) {
  const std::string text = range_text(lo, hi, open_lo);
  auto check = [=](std::string& input) -> std::string {
    T v{};
    if (!detail::parse_number(input, v))
      return "value " + input + " is not " + (std::is_integral_v<T> ? "an integer" : "a number") + " in " + text;
    bool ok = v <= hi && (open_lo ? v > lo : v >= lo);
    if constexpr (std::is_floating_point_v<T>) ok = ok && std::isfinite(v);
    return ok ? std::string() : "value " + input + " not in range " + text;
  };
  return CLI::Validator(check, text, "range");
}

/// Numbers in (0, hi].
template <class T>
CLI::Validator positive(T hi = std::numeric_limits<T>::max()) {
  return range<T>(T(0), hi, true);
}

/// One of a fixed set of words; described (and named in the message) as "a|b|c".
inline CLI::Validator one_of(std::vector<std::string> words) {
  const std::string list = detail::join(words, "|");
  auto check = [words = std::move(words), list](std::string& input) -> std::string {
    for (const auto& w : words)
      if (w == input) return {};
    return "value " + input + " not one of " + list;
  };
  return CLI::Validator(check, list, "one_of");
}

/// An option naming one value of an enum: `--optimizer adamw|sgd` sets `field`.
template <class E>
CLI::Option* add_choice(CLI::App& app, const std::string& name, E& field,
                        std::vector<std::pair<std::string, E>> choices, const std::string& help) {
  std::vector<std::string> words;
  std::string current;
  for (const auto& [word, value] : choices) {
    words.push_back(word);
    if (value == field) current = word;
  }
  auto set = [&field, choices](const std::string& word) {
    for (const auto& [w, value] : choices)
      if (w == word) field = value;
  };
  return app.add_option_function<std::string>(name, set, help)
      ->type_name(detail::join(words, "|"))
      ->check(one_of(words))
      ->default_str(current);
}

// ---- help ------------------------------------------------------------------------------------

namespace detail {

/// The metavariable of an option ("N", "DIR"), "" for a flag.
inline std::string meta_of(const CLI::Option* o) {
  if (o->get_type_size() == 0) return {};
  const std::string t = o->get_type_name();  // "META:validator description:..."
  return t.substr(0, t.find(':'));
}

/// What the option's validators allow ("[0 - 1000]"), "" if nothing beyond its metavariable.
inline std::string allowed_of(const CLI::Option* o) {
  if (o->get_type_size() == 0) return {};
  const std::string t = o->get_type_name();
  const auto colon = t.find(':');
  if (colon == std::string::npos) return {};
  std::string allowed = t.substr(colon + 1);
  for (auto& c : allowed)
    if (c == ':') c = ' ';
  return allowed == meta_of(o) ? std::string() : allowed;
}

/// "--name META" as usage and messages show it.
inline std::string usage_of(const CLI::Option* o) {
  const std::string meta = meta_of(o);
  return o->get_name() + (meta.empty() ? "" : " " + meta);
}

}  // namespace detail

/// --help: usage first, then each option as "--name META   help [range] (default D)".
class help_formatter : public CLI::Formatter {
 public:
  help_formatter() { column_width(34); }

  std::string make_help(const CLI::App* app, std::string name, CLI::AppFormatMode) const override {
    return make_usage(app, std::move(name)) + make_description(app) + option_groups(app) + "\n" + make_footer(app);
  }
  /// The option groups, one blank line before each (CLI11's make_groups puts two).
  std::string option_groups(const CLI::App* app) const {
    std::string out;
    for (const std::string& group : app->get_groups()) {
      const auto opts = app->get_options(
          [&group](const CLI::Option* o) { return o->get_group() == group && o->nonpositional(); });
      if (!group.empty() && !opts.empty()) out += make_group(group, false, opts);
    }
    return out;
  }
  std::string make_usage(const CLI::App* app, std::string) const override {
    return "usage: " + app->get_name() + " [options]\n";
  }
  std::string make_option_opts(const CLI::Option* o) const override {
    const std::string meta = detail::meta_of(o);
    return meta.empty() ? std::string() : " " + meta;
  }
  std::string make_option_desc(const CLI::Option* o) const override {
    std::string d = o->get_description();
    if (const std::string allowed = detail::allowed_of(o); !allowed.empty()) d += " " + allowed;
    if (o->get_required())
      d += " (required)";
    else if (o->get_type_size() != 0 && !o->get_default_str().empty())
      d += " (default " + o->get_default_str() + ")";
    return d;
  }
};

// ---- options shared by several commands ------------------------------------------------------

inline CLI::Option* add_threads_option(CLI::App& app, int& threads) {
  return app.add_option("--threads", threads, "CPU threads (0 = all cores)")->type_name("N")->check(range(0, 1024));
}

inline CLI::Option* add_seed_option(CLI::App& app, std::uint64_t& seed, const std::string& help = "random seed") {
  return app.add_option("--seed", seed, help)
      ->type_name("N")
      ->check(range<std::int64_t>(0, std::numeric_limits<std::int64_t>::max()));
}

/// The options of every training command (CLI.md), bound once, here, for all of them.
inline void add_training_options(CLI::App& app, training_options& t) {
  constexpr std::int64_t int_max = std::numeric_limits<std::int32_t>::max();
  const char* group = "training options";
  app.add_option("--steps", t.steps, "optimizer steps (0 = as many as --epochs gives)")
      ->type_name("N")->check(range<std::int64_t>(0, int_max))->group(group);
  app.add_option("--epochs", t.epochs, "passes over the data")
      ->type_name("N")->check(range<std::int64_t>(1, int_max))->group(group);
  app.add_option("--batch-size", t.batch_size, "records per optimizer step")
      ->type_name("N")->check(range<std::int64_t>(1, 1 << 20))->group(group);
  app.add_option("--lr", t.lr, "peak learning rate")->type_name("X")->check(positive(10.0))->group(group);
  add_choice(app, "--optimizer", t.optimizer, {{"adamw", optimizer_name::adamw}, {"sgd", optimizer_name::sgd}},
             "optimizer")->group(group);
  app.add_option("--weight-decay", t.weight_decay, "decoupled weight decay (AdamW) / L2 (SGD)")
      ->type_name("X")->check(range(0.0, 10.0))->group(group);
  app.add_option("--max-grad-norm", t.max_grad_norm, "clip the global gradient norm (0 = off)")
      ->type_name("X")->check(range(0.0, std::numeric_limits<double>::max()))->group(group);
  app.add_option("--warmup", t.warmup, "linear warmup steps before the decay")
      ->type_name("N")->check(range<std::int64_t>(0, int_max))->group(group);
  app.add_flag("--shuffle", t.shuffle, "shuffle records each epoch (file order otherwise)")->group(group);
  add_seed_option(app, t.seed)->group(group);
  add_threads_option(app, t.threads)->group(group);
  app.add_flag("--json", t.json, "print one JSON object per logging step on stdout")->group(group);
  app.add_option("--log-every", t.log_every, "log every N steps")
      ->type_name("N")->check(range<std::int64_t>(1, int_max))->group(group);
  app.add_option("--grad-accum", t.grad_accum, "micro-batches per optimizer step")
      ->type_name("N")->check(range<std::int64_t>(1, 1 << 20))->group(group);
  app.add_option("--min-lr", t.min_lr, "floor of the cosine decay")->type_name("X")->check(range(0.0, 10.0))->group(group);
  add_choice(app, "--schedule", t.schedule, {{"cosine", schedule_name::cosine}, {"constant", schedule_name::constant}},
             "learning-rate schedule after warmup")->group(group);
  app.add_option("--momentum", t.momentum, "SGD momentum")->type_name("X")->check(range(0.0, 0.9999))->group(group);
  app.add_option("--eval-every", t.eval_every, "evaluate the held-out data every N steps (0 = at the end only)")
      ->type_name("N")->check(range<std::int64_t>(0, int_max))->group(group);
  app.add_option("--save-every", t.save_every, "write a resumable checkpoint OUT/checkpoint-N every N steps (0 = never)")
      ->type_name("N")->check(range<std::int64_t>(0, int_max))->group(group);
  app.add_option("--resume", t.resume, "continue bit-identically from a checkpoint directory (OUT/checkpoint-N)")
      ->type_name("DIR")->group(group);
}

// ---- parsing ---------------------------------------------------------------------------------

namespace detail {

/// One line for a CLI11 parse error, naming the option and, where it has one, its range.
inline std::string error_line(const CLI::App& app, const CLI::ParseError& e) {
  const std::string what = e.what();
  const std::string name = what.substr(0, what.find_first_of(": "));
  const CLI::Option* o = name.rfind("--", 0) == 0 ? app.get_option_no_throw(name) : nullptr;
  if (o != nullptr && dynamic_cast<const CLI::RequiredError*>(&e) != nullptr)
    return usage_of(o) + " is required (" + o->get_description() + ")";
  if (o != nullptr && dynamic_cast<const CLI::ArgumentMismatch*>(&e) != nullptr &&
      what.find(" missing") != std::string::npos) {
    const std::string allowed = allowed_of(o);
    return o->get_name() + " needs a value " + meta_of(o) + (allowed.empty() ? "" : " in " + allowed);
  }
  return what;
}

/// Parses argv into the options bound to `app`; false when it printed --help instead.
inline bool parse_arguments(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
    return true;
  } catch (const CLI::CallForHelp&) {
  } catch (const CLI::CallForAllHelp&) {
  } catch (const CLI::ParseError& e) {
    // An argument that is no option is named first, whatever else is wrong (CLI11 reports
    // missing required options before it).
    if (const auto extras = app.remaining(); !extras.empty()) {
      const std::string& a = extras.front();
      if (a.size() > 1 && a.front() == '-')
        throw usage_error("unknown option " + a.substr(0, a.find('=')) + " (see --help)");
      throw usage_error("unexpected argument '" + a + "' (options start with --; see --help)");
    }
    throw usage_error(error_line(app, e));
  }
  std::fputs(app.help().c_str(), stdout);
  return false;
}

template <class Run>
struct run_traits;
template <class Options>
struct run_traits<int (*)(const Options&)> {
  using options = Options;
};

}  // namespace detail

// ---- the command table -----------------------------------------------------------------------

/// One subcommand: its name, the line `rlhf --help` shows, and the function that parses its
/// options from argv (argv[0] is the command's name) and runs it.
struct command {
  std::string_view name;
  std::string_view summary;
  int (*main)(const command& self, int argc, char** argv);
};

namespace detail {

template <auto Bind, auto Run>
int parse_and_run(const command& self, int argc, char** argv) {
  using options = typename run_traits<decltype(Run)>::options;
  static_assert(std::is_invocable_v<decltype(Bind), CLI::App&, options&>,
                "rlhf::cli::make_command<Bind, Run>: Bind must be void(CLI::App&, Options&) for Run's Options");
  options o{};
  CLI::App app(std::string(self.summary), "rlhf " + std::string(self.name));
  app.formatter(std::make_shared<help_formatter>());
  // Defaults shown by --help; a repeated option takes its last value (--stop opts out).
  app.option_defaults()->group("options")->always_capture_default()->multi_option_policy(
      CLI::MultiOptionPolicy::TakeLast);
  app.set_help_flag("-h,--help", "print this help and exit");
  Bind(app, o);
  if (!parse_arguments(app, argc, argv)) return 0;
  return Run(o);
}

}  // namespace detail

/// A row of the command table: `Bind` declares the options of `Run`'s options struct.
template <auto Bind, auto Run>
constexpr command make_command(std::string_view name, std::string_view summary) {
  return {name, summary, &detail::parse_and_run<Bind, Run>};
}

/// Appends a paragraph to a command's --help text (after its summary).
inline void describe(CLI::App& app, const std::string& text) {
  app.description(app.get_description() + "\n" + text);
}

/// `rlhf --help`: the commands of the table.
inline std::string program_usage(std::span<const command> table) {
  std::string u = "usage: rlhf <command> [options]   (rlhf <command> --help for its options)\ncommands:\n";
  for (const auto& c : table) {
    std::string left = "  " + std::string(c.name);
    left.resize(std::max<std::size_t>(left.size() + 1, 13), ' ');
    u += left + std::string(c.summary) + "\n";
  }
  return u;
}

/// main() of the program: picks the command named by argv[1], parses and runs it. Bad input
/// exits with 2 and one line naming it; anything else unexpected with 1.
inline int run_command_line(std::span<const command> table, int argc, char** argv) {
  if (argc < 2) {
    std::fputs(program_usage(table).c_str(), stderr);
    return 2;
  }
  const std::string_view name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    std::fputs(program_usage(table).c_str(), stdout);
    return 0;
  }
  const command* cmd = nullptr;
  for (const auto& c : table)
    if (c.name == name) cmd = &c;
  if (cmd == nullptr) {
    std::string names;
    for (const auto& c : table) names += (names.empty() ? "" : ", ") + std::string(c.name);
    std::fprintf(stderr, "rlhf: unknown command '%s' (commands: %s)\n", argv[1], names.c_str());
    return 2;
  }
  std::string who = "rlhf " + std::string(name);
  // Under mpirun (an MPI build): the data-parallel commands run on every process; rank 0 prints
  // and writes, the others' stdout and stderr go to /dev/null except their errors. An error on
  // any process ends the whole job (the others would wait in their next collective).
  FILE* errors = stderr;
  int world_size = 1;
  try {
    const auto& world = rlhf::dist::world();
    world_size = world.size();
    if (world_size > 1) {
      constexpr std::string_view parallel[] = {"sft", "reward", "dpo", "ppo", "rloo", "grpo", "generate", "pipeline"};
      if (std::find(std::begin(parallel), std::end(parallel), name) == std::end(parallel)) {
        if (world.is_root())
          std::fprintf(stderr, "%s: runs as one process (started by mpirun with %d); the data-parallel commands "
                       "are sft, reward, dpo, ppo, rloo, grpo, generate and pipeline\n", who.c_str(), world_size);
        return 2;
      }
      who += " [rank " + std::to_string(world.rank()) + "]";
      if (!world.is_root()) errors = detail::quiet_except_errors();
    }
  } catch (const rlhf::error& e) {
    std::fprintf(stderr, "%s: %s\n", who.c_str(), e.what());
    return 1;
  }
  const auto fail = [&](int code, const char* format, const char* what) {
    std::fprintf(errors, format, who.c_str(), what);
    std::fflush(errors);
    if (world_size > 1) rlhf::dist::world().abort(code);
    return code;
  };
  try {
    return cmd->main(*cmd, argc - 1, argv + 1);
  } catch (const rlhf::internal_error& e) {
    return fail(1, "%s: %s\n", e.what());
  } catch (const rlhf::error& e) {
    return fail(2, "%s: %s\n", e.what());
  } catch (const std::bad_alloc&) {
    return fail(1, "%s: out of memory; use a smaller --batch-size or model%s\n", "");
  } catch (const std::exception& e) {
    return fail(1, "%s: unexpected error: %s\n", e.what());
  }
}

}  // namespace rlhf::cli
