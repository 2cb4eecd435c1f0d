// SPDX-License-Identifier: MIT
// The program's policy model, instantiated once here (model_dir.hpp declares it extern), so
// the subcommands' translation units do not each compile the transformer again.
#include "model_dir.hpp"

template class rlhf::transformer<rlhf::cli::backend_t, rlhf::lm_head>;
template class rlhf::kv_session<rlhf::cli::backend_t, rlhf::lm_head, float>;
