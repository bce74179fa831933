// Copyright 2026 The bce-grad authors. Licensed under the Apache License, Version 2.0.
// A kernel package: the manifest that `bce-grad aot` writes, and its kernels, loaded on first
// use (once, under std::call_once) after their .so passed the SHA-256 check.
#ifndef BCE_GRAD_RUNTIME_PACKAGE_H_
#define BCE_GRAD_RUNTIME_PACKAGE_H_

#include <tvm/ffi/extra/json.h>
#include <tvm/ffi/extra/module.h>
#include <tvm/ffi/function.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
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

//! (device, inode, size, mtime ns) of a file; all zero when it cannot be read.
struct FileIdentity {
  uint64_t dev = 0, ino = 0;
  int64_t size = -1, mtime_ns = 0;
  bool operator==(const FileIdentity& o) const {
    return dev == o.dev && ino == o.ino && size == o.size && mtime_ns == o.mtime_ns;
  }
};
FileIdentity Identify(const std::string& path);

//! A kernel the manifest lists (or bce_grad_package_add_kernel added). Immutable after Load();
//! Load() runs once per entry.
struct KernelEntry {
  std::string name;
  std::string so_sha256;
  std::string reduction;  // "mean" or "plain"
  std::string pattern;    // PatternKey, or "strided<rank>" for a generic strided kernel
  std::string so_path, json_path;
  std::vector<std::string> dtypes;  // per input, as the key lists them
  std::string output;
  bool strided = false;   // inputs take any strides (stride 0 on broadcast axes)
  //! A kernel of a cache that may change under it (the numpy API's kernel cache): each call
  //! checks that its files are still the ones loaded, and touches `lock_path` (LRU order).
  bool watched = false;
  std::string lock_path;
  FileIdentity json_identity, so_identity;
  mutable std::atomic<int64_t> last_touch_ns{INT64_MIN / 2};  // steady clock, see CheckWatched

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
  //! A package from a manifest's text; relative kernel paths are relative to `dir`.
  static std::unique_ptr<Package> FromText(const std::string& text, const std::string& dir,
                                           unsigned flags);

  //! The kernel for (dtypes of the present inputs, output dtype, "mean"/"plain", pattern key).
  std::shared_ptr<const KernelEntry> Find(const std::vector<std::string>& dtypes,
                                          const std::string& output, const std::string& reduction,
                                          const std::string& pattern) const;

  //! Add (or replace) one kernel described as a manifest entry; loads and verifies it now.
  void Add(const std::string& entry_json);

  size_t Count() const;

  static std::string Key(const std::vector<std::string>& dtypes, const std::string& output,
                         const std::string& reduction, const std::string& pattern);

  std::string dir, soc_version, soc_dir, tvm_version;
  //! Op info of the SoC: param ("x", ..., "output") -> dtypes, in op info order.
  std::map<std::string, std::vector<std::string>> op_info;
  //! Environment variables the package is valid under (name -> value; unset: has_value false):
  //! a call made under other values fails with BCE_GRAD_ERR_NO_KERNEL (the manifest's optional
  //! "environment" object; the numpy API's package over its kernel cache uses it).
  std::vector<std::pair<std::string, std::pair<bool, std::string>>> environment;
  //! Throws Failure (BCE_GRAD_ERR_NO_KERNEL) when `environment` no longer holds.
  void CheckEnvironment() const;
  //! Asked for a kernel when none serves a call (bce_grad_package_set_miss_handler); null: none.
  std::atomic<bce_grad_miss_fn> miss_fn{nullptr};
  void* miss_ctx = nullptr;
  //! Calls whose x has fewer elements run the kernel on the calling thread alone.
  int64_t serial_below = 0;
  //! Unique in the process (never reused, unlike an address): names the package in call memos.
  const uint64_t id = next_id_.fetch_add(1, std::memory_order_relaxed) + 1;
  //! Kernel set version: Insert() bumps it, so a call memo made before an Add() is not used after.
  uint64_t Generation() const { return generation_.load(std::memory_order_acquire); }

 private:
  mutable std::shared_mutex mu_;  // guards kernels_: Add() writes, calls read
  std::atomic<uint64_t> generation_{0};
  static inline std::atomic<uint64_t> next_id_{0};
  std::unordered_map<std::string, std::shared_ptr<KernelEntry>> kernels_;
  std::shared_ptr<KernelEntry> ParseEntry(const tvm::ffi::json::Object& kernel,
                                          const std::string& where) const;
  void Insert(std::shared_ptr<KernelEntry> entry);
  static std::unique_ptr<Package> FromObject(const tvm::ffi::json::Object& manifest,
                                             const std::string& dir, const std::string& where,
                                             unsigned flags);
};

}  // namespace bce_grad

#endif  // BCE_GRAD_RUNTIME_PACKAGE_H_
