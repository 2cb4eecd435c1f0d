// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// `any_communicator`: any model of `communicator`, type-erased, with value semantics (copies
/// share the one underlying communicator). The training loop holds one in its options, so every
/// trainer inherits data parallelism without a template parameter of its own; the compile-time
/// choice is which communicator `dist::world()` builds (dist/world.hpp).
/// Buffers of a compute backend: dist/collectives.hpp.
#include <concepts>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "rlhf/core/error.hpp"
#include "rlhf/dist/communicator.hpp"

namespace rlhf::dist {

/// A communicator that also sums and broadcasts float buffers in device memory (NCCL).
template <class C>
concept device_communicator = communicator<C> && requires(const C& c, float* p, std::size_t n, int root) {
  c.all_reduce_sum_device(p, n);
  c.broadcast_device(p, n, root);
};

/// Type-erased communicator (see the file comment).
class any_communicator {
 public:
  /// One process (single_process).
  any_communicator() : any_communicator(single_process{}) {}
  template <class C>  // the exclusion first: copy_constructible<any_communicator> must not ask communicator<any_communicator>
    requires(!std::same_as<std::remove_cvref_t<C>, any_communicator> && communicator<C>)
  any_communicator(C c) : self_(std::make_shared<model<C>>(std::move(c))) {}  // NOLINT: implicit by design

  int rank() const noexcept { return self_->rank(); }
  int size() const noexcept { return self_->size(); }
  bool is_root() const noexcept { return rank() == 0; }
  void all_reduce_sum(std::span<float> x) const { self_->all_reduce_sum(x); }
  void all_reduce_sum(std::span<double> x) const { self_->all_reduce_sum(x); }
  void broadcast(std::span<float> x, int root) const { self_->broadcast(x, root); }
  void broadcast(std::span<double> x, int root) const { self_->broadcast(x, root); }
  std::vector<std::string> all_gather(const std::string& bytes) const { return self_->all_gather(bytes); }
  void barrier() const { self_->barrier(); }
  void abort(int code) const noexcept { self_->abort(code); }
  /// "single", "mpi", "nccl".
  const char* name() const noexcept { return self_->name(); }

  /// Σ over processes of one number (a count, a loss), the same on every process.
  double sum(double x) const {
    all_reduce_sum(std::span<double>(&x, 1));
    return x;
  }
  /// Whether device buffers go to the communicator directly (else they are staged on the host).
  bool reduces_device_memory() const noexcept { return self_->device(); }
  void all_reduce_sum_device(float* p, std::size_t n) const { self_->all_reduce_sum_device(p, n); }
  void broadcast_device(float* p, std::size_t n, int root) const { self_->broadcast_device(p, n, root); }

 private:
  struct base {
    virtual ~base() = default;
    virtual int rank() const noexcept = 0;
    virtual int size() const noexcept = 0;
    virtual void all_reduce_sum(std::span<float>) const = 0;
    virtual void all_reduce_sum(std::span<double>) const = 0;
    virtual void broadcast(std::span<float>, int) const = 0;
    virtual void broadcast(std::span<double>, int) const = 0;
    virtual std::vector<std::string> all_gather(const std::string&) const = 0;
    virtual void barrier() const = 0;
    virtual void abort(int) const noexcept = 0;
    virtual const char* name() const noexcept = 0;
    virtual bool device() const noexcept = 0;
    virtual void all_reduce_sum_device(float*, std::size_t) const = 0;
    virtual void broadcast_device(float*, std::size_t, int) const = 0;
  };
  template <class C>
  struct model final : base {
    explicit model(C c) : c_(std::move(c)) {}
    int rank() const noexcept override { return c_.rank(); }
    int size() const noexcept override { return c_.size(); }
    void all_reduce_sum(std::span<float> x) const override { c_.all_reduce_sum(x); }
    void all_reduce_sum(std::span<double> x) const override { c_.all_reduce_sum(x); }
    void broadcast(std::span<float> x, int root) const override { c_.broadcast(x, root); }
    void broadcast(std::span<double> x, int root) const override { c_.broadcast(x, root); }
    std::vector<std::string> all_gather(const std::string& b) const override { return c_.all_gather(b); }
    void barrier() const override { c_.barrier(); }
    void abort(int code) const noexcept override {
      if constexpr (requires { c_.abort(code); }) c_.abort(code);
    }
    const char* name() const noexcept override {
      if constexpr (requires { c_.name(); }) return c_.name();
      else return "custom";
    }
    bool device() const noexcept override { return device_communicator<C>; }
    void all_reduce_sum_device(float* p, std::size_t n) const override {
      if constexpr (device_communicator<C>) c_.all_reduce_sum_device(p, n);
      else RLHF_THROW(internal_error, "all_reduce_sum_device on a host-only communicator (", name(), ")");
    }
    void broadcast_device(float* p, std::size_t n, int root) const override {
      if constexpr (device_communicator<C>) c_.broadcast_device(p, n, root);
      else RLHF_THROW(internal_error, "broadcast_device on a host-only communicator (", name(), ")");
    }
    C c_;
  };
  std::shared_ptr<const base> self_;
};
static_assert(communicator<any_communicator>);

}  // namespace rlhf::dist
