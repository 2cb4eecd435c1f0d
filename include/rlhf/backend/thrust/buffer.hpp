// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// `thrust_buffer<T, System>`: the owning, shaped, zero-initialised storage of the thrust backend.
#include "rlhf/backend/thrust/system.hpp"  // first: configures thrust for host compilers

#include <thrust/memory.h>

#include "rlhf/core/error.hpp"
#include "rlhf/core/view.hpp"

namespace rlhf::backend {

/// An owning array of `extents().size()` elements of T in the memory of thrust system `System`
/// (a `thrust::*::vector`), zero-initialised; `view()` hands out views in thrust_space<System>.
template <class T, class System>
class thrust_buffer {
 public:
  using value_type = T;
  using space = thrust_space<System>;

  thrust_buffer() = default;
  /// Allocates and zero-fills `s.size()` elements; negative extents are rejected.
  explicit thrust_buffer(shape s) : shape_(s) {
    for (int i = 0; i < s.rank; ++i)
      RLHF_EXPECTS(s[i] >= 0, "thrust_buffer: extent ", i, " is ", s[i],
                   "; extents must be >= 0");
    // value-initialisation of the system vector zero-fills (on the device for CUDA).
    data_ = typename system_traits<System>::template vector<T>(static_cast<std::size_t>(s.size()));
  }

  rlhf::view<T, space> view() noexcept { return {::thrust::raw_pointer_cast(data_.data()), shape_}; }
  rlhf::view<const T, space> view() const noexcept {
    return {::thrust::raw_pointer_cast(data_.data()), shape_};
  }
  index_t size() const noexcept { return shape_.size(); }
  shape extents() const noexcept { return shape_; }

 private:
  typename system_traits<System>::template vector<T> data_{};
  shape shape_{};
};

}  // namespace rlhf::backend
