// SPDX-License-Identifier: MIT
#pragma once
// The main() of every benchmark binary here: Google Benchmark's console output, then a table of
// ratios between each of our benchmarks and its reference *measured in the same run*, so a
// figure never depends on how busy or fast the machine is. A pairing names two benchmark-name
// prefixes; every benchmark whose name starts with `ours` is matched with the one whose name is
// `reference` followed by the same remainder (the arguments), e.g.
//   {"BM_matmul_forward", "BM_raw_eigen_sgemm"}            /M:1024/K:128/... against the same shape
//   {"BM_sampling_top_k/ref:0", "BM_sampling_top_k/ref:1"} /zipf:0 against /zipf:0
// and the table gives both wall times per iteration and reference/ours ("speedup": > 1 means
// ours is faster; for a pure-overhead check such as our matmul against raw Eigen, 0.9 means
// 10 % slower). Usage, at the end of a *_bench.cpp:
//   RLHF_BENCHMARK_MAIN({"BM_ours", "BM_reference", "what is compared"}, ...)
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace rlhf_bench {

/// Peak resident memory of this process so far, in MB (getrusage's ru_maxrss): the memory of a
/// benchmark when it runs alone in its process (benchmarks/compare.sh runs one per process).
inline double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}
/// Adds the peak_RSS_MB counter to a benchmark.
inline void report_peak_rss(benchmark::State& st) { st.counters["peak_RSS_MB"] = peak_rss_mb(); }

struct pairing {
  std::string ours;
  std::string reference;
  std::string what;
};

/// Console output as usual; remembers the wall seconds per iteration of every run.
class ratio_reporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const auto& r : runs) {
      if (r.error_occurred || r.iterations == 0) continue;
      const bool median = r.run_type == Run::RT_Aggregate && r.aggregate_name == "median";
      if (r.run_type != Run::RT_Iteration && !median) continue;
      seconds_[r.run_name.str()] = r.GetAdjustedRealTime() / benchmark::GetTimeUnitMultiplier(r.time_unit);
    }
    ConsoleReporter::ReportRuns(runs);
  }
  /// Prints the ratio table for `pairs`; returns how many pairs matched.
  int print_ratios(const std::vector<pairing>& pairs) const {
    int matched = 0;
    for (const auto& p : pairs)
      for (const auto& [name, ours] : seconds_) {
        if (name.compare(0, p.ours.size(), p.ours) != 0) continue;
        const auto ref = seconds_.find(p.reference + name.substr(p.ours.size()));
        if (ref == seconds_.end()) continue;
        if (matched++ == 0)
          std::printf("\n%-64s %12s %12s %9s\n", "ours (vs reference, same run)", "ours", "reference", "speedup");
        std::printf("%-64s %12s %12s %8.2fx  %s\n", name.c_str(), human(ours).c_str(), human(ref->second).c_str(),
                    ref->second / ours, p.what.c_str());
      }
    return matched;
  }

 private:
  static std::string human(double s) {
    char buf[32];
    if (s >= 1)
      std::snprintf(buf, sizeof buf, "%.3f s", s);
    else if (s >= 1e-3)
      std::snprintf(buf, sizeof buf, "%.3f ms", s * 1e3);
    else if (s >= 1e-6)
      std::snprintf(buf, sizeof buf, "%.3f us", s * 1e6);
    else
      std::snprintf(buf, sizeof buf, "%.1f ns", s * 1e9);
    return buf;
  }
  std::map<std::string, double> seconds_;
};

inline int run_with_ratios(int argc, char** argv, const std::vector<pairing>& pairs) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  ratio_reporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.print_ratios(pairs);
  benchmark::Shutdown();
  return 0;
}

}  // namespace rlhf_bench

#define RLHF_BENCHMARK_MAIN(...)                                                    \
  int main(int argc, char** argv) {                                                 \
    return rlhf_bench::run_with_ratios(argc, argv, std::vector<rlhf_bench::pairing>{__VA_ARGS__}); \
  }
