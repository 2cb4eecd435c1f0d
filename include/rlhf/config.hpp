// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Compile-time configuration: the default backend switch and portability macros.
///
/// The backends are ordinary types (rlhf::backend::eigen, rlhf::backend::thrust<System>);
/// RLHF_BACKEND only chooses which one rlhf::backend::default_backend names.

#define RLHF_BACKEND_EIGEN 1  // 0 is reserved for "unset"
#define RLHF_BACKEND_THRUST 2

#if defined(RLHF_BACKEND_THRUST_SELECTED) && !defined(RLHF_BACKEND)
#define RLHF_BACKEND RLHF_BACKEND_THRUST
#endif
#ifndef RLHF_BACKEND
#define RLHF_BACKEND RLHF_BACKEND_EIGEN
#endif
#if RLHF_BACKEND != RLHF_BACKEND_EIGEN && RLHF_BACKEND != RLHF_BACKEND_THRUST
#error "RLHF_BACKEND must be RLHF_BACKEND_EIGEN (1) or RLHF_BACKEND_THRUST (2)"
#endif

#if defined(__CUDACC__)
#define RLHF_HOST_DEVICE __host__ __device__
#else
#define RLHF_HOST_DEVICE
#endif

#if __has_include(<thrust/version.h>)
#define RLHF_HAS_THRUST 1
#else
#define RLHF_HAS_THRUST 0
#endif

#if defined(__CUDACC__)
#define RLHF_HAS_CUDA 1
#else
#define RLHF_HAS_CUDA 0
#endif

#define RLHF_VERSION_MAJOR 0
#define RLHF_VERSION_MINOR 1
#define RLHF_VERSION_PATCH 0
