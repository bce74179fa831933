// Copyright 2026 The bce-grad authors. Licensed under the Apache License, Version 2.0.
// Which instruction-set features this CPU (and its OS) offers, under LLVM's feature names, so
// that the runtime refuses a kernel compiled for features the host lacks (a clear E61001)
// instead of dying of SIGILL in it. Detected with cpuid/xgetbv on x86 (AT_HWCAP on AArch64);
// no LLVM or TVM compiler involved.
#ifndef BCE_GRAD_RUNTIME_CPU_FEATURES_H_
#define BCE_GRAD_RUNTIME_CPU_FEATURES_H_

#include <string>
#include <vector>

namespace bce_grad {

//! This machine's architecture as an LLVM triple starts with it: "x86_64", "aarch64", ...
const char* HostArch();

//! Whether code built for target triple `mtriple` ("x86_64-linux-gnu") runs on this architecture.
bool TripleRunsHere(const std::string& mtriple);

/*!
 * The features of `required` (LLVM names: "avx2", "avx512f", "sse4.2", ...) that this host
 * cannot run: those its CPU or OS lacks (AVX state not enabled by the OS counts as lacking), and
 * names this runtime cannot check (listed with " (unknown to this runtime)"). Empty: it runs.
 */
std::vector<std::string> MissingCpuFeatures(const std::vector<std::string>& required);

}  // namespace bce_grad

#endif  // BCE_GRAD_RUNTIME_CPU_FEATURES_H_
