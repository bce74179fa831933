// Copyright 2026 The bce-grad authors. Licensed under the Apache License, Version 2.0.
// Where a kernel's parallel loops run: the executor of the call in progress (a framework's pool),
// else one process-wide pool. Kernels are redirected here from TVM's per-thread pools when they
// are loaded (AdoptKernel), so no pool is ever created per calling thread.
#ifndef BCE_GRAD_RUNTIME_PARALLEL_H_
#define BCE_GRAD_RUNTIME_PARALLEL_H_

#include <string>

#include "bce_grad_runtime.h"

namespace bce_grad {

//! Point the loaded kernel library at `so_path` (its file still there) to this runtime's parallel
//! launch. False when the library is not loaded; true when done or when it has no parallel loop.
bool AdoptKernel(const std::string& so_path);

//! Threads of the process-wide pool, the calling thread included.
int PoolSize();

//! The executor of this thread's call in progress (nullptr: the process-wide pool).
const bce_grad_executor* CurrentExecutor();

//! While in scope, this thread's kernel launches run on `executor` (nullptr: the process-wide
//! pool), or on this thread alone when `serial`. Scopes nest; the outer one comes back after.
class LaunchScope {
 public:
  LaunchScope(const bce_grad_executor* executor, bool serial);
  ~LaunchScope();
  LaunchScope(const LaunchScope&) = delete;
  LaunchScope& operator=(const LaunchScope&) = delete;

 private:
  const bce_grad_executor* saved_executor_;
  bool saved_serial_;
};

}  // namespace bce_grad

#endif  // BCE_GRAD_RUNTIME_PARALLEL_H_
