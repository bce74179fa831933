// Copyright 2026 The bce-grad authors. Licensed under the Apache License, Version 2.0.
// A kernel package: the manifest that `bce-grad aot` writes, and its kernels, loaded on first
// use (once, under std::call_once) after their .so passed the SHA-256 check.
#ifndef BCE_GRAD_RUNTIME_PACKAGE_H_
#define BCE_GRAD_RUNTIME_PACKAGE_H_

#include <tvm/ffi/extra/module.h>
#include <tvm/ffi/function.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common.h"

namespace bce_grad {

//! One tensor of a kernel case: a static dim is >= 0, a dynamic one (a var) is -1.
struct TensorSpec {
  std::string name;
  bool output = false;
  std::string dtype;
  Shape dims;
};

//! One function of a kernel .so, as the kernel's JSON describes it.
struct KernelCase {
  std::string function;
  std::vector<TensorSpec> tensors;
  std::vector<std::string> scalars;  // names, in argument order ("cof", "cof_empty")
  tvm::ffi::Function func;
};

//! A kernel the manifest lists. Immutable after Load(); Load() runs once per entry.
struct KernelEntry {
  std::string name;
  std::string so_sha256;
  std::string reduction;  // "mean" or "plain"
  std::string pattern;    // PatternKey
  std::string so_path, json_path;

  //! The loaded cases; throws Failure (BCE_GRAD_ERR_PACKAGE) if the kernel is unusable.
  const std::vector<KernelCase>& Load() const;

 private:
  mutable std::once_flag once_;
  mutable std::string error_;
  mutable std::vector<KernelCase> cases_;
  mutable std::vector<tvm::ffi::Module> modules_;
  void DoLoad() const;
};

class Package {
 public:
  //! Read `dir`/manifest.json; with BCE_GRAD_OPEN_EAGER load every kernel now.
  static std::unique_ptr<Package> Open(const std::string& dir, unsigned flags);

  //! The kernel for (dtypes of the present inputs, output dtype, "mean"/"plain", pattern key).
  const KernelEntry* Find(const std::vector<std::string>& dtypes, const std::string& output,
                          const std::string& reduction, const std::string& pattern) const;

  static std::string Key(const std::vector<std::string>& dtypes, const std::string& output,
                         const std::string& reduction, const std::string& pattern);

  std::string dir, soc_version, soc_dir, tvm_version;
  //! Op info of the SoC: param ("x", ..., "output") -> dtypes, in op info order.
  std::map<std::string, std::vector<std::string>> op_info;
  //! Calls whose x has fewer elements run the kernel on the calling thread alone.
  int64_t serial_below = 0;
  std::unordered_map<std::string, std::unique_ptr<KernelEntry>> kernels;
};

}  // namespace bce_grad

#endif  // BCE_GRAD_RUNTIME_PACKAGE_H_
