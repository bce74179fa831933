/*
 * Copyright 2026 The bce-grad authors. Licensed under the Apache License, Version 2.0.
 *
 * bce_grad_runtime.h: the C ABI of BinaryCrossEntropyGrad's native runtime.
 *
 *     out = grad_output * weight * (x - y) / max(x * (1 - x), 1e-12)   [* 1/numel(x) for mean]
 *
 * A call checks its arguments as the Python API does (dtypes per the SoC's op info, broadcast
 * to x, rank <= 8, reduction), canonicalises the broadcast pattern and computes the mean
 * coefficient (the operator's host tiling), then launches a kernel compiled ahead of time by
 * `bce-grad aot` into a kernel package (a directory with manifest.json). No Python runs in a call.
 *
 * Errors: every function returns a bce_grad_status; on failure bce_grad_last_error() returns a
 * message for the calling thread that starts with the CANN error code, for example
 * "[E80029] In op[binary_cross_entropy_grad], the shape of inputs[x][y] are invalid, ...".
 * No function aborts or lets a C++ exception escape.
 *
 * Kernels: a compact fast path serves its one broadcast pattern; a generic strided kernel
 * (pattern "strided<r>") serves every pattern of canonical rank r, its inputs passed with x's
 * shape and stride 0 on broadcast axes. A call takes the fast path of its pattern, else the
 * generic kernel of its rank and dtype, else the float32 one with its inputs widened (exact).
 *
 * Threads: kernels load lazily, once, under a lock, and kernels added at run time
 * (bce_grad_package_add_kernel) go in under a lock, so any number of threads may call
 * bce_grad_backward on one package at the same time. Closing a package while another thread
 * still uses it is the caller's error.
 *
 * Parallel work: a kernel's parallel loop runs on the executor the call names
 * (bce_grad_backward_on: a framework's own pool, such as torch's intra-op pool or TF's device
 * thread pool), else on one process-wide pool of TVM_NUM_THREADS threads (default: the CPUs this
 * process may run on), the calling thread among them. The pool's workers start on the first
 * parallel call, sleep when idle, and are never created per calling thread: a call that finds the
 * pool busy runs on its own thread. After fork() the child starts a fresh pool on its first call.
 */
#ifndef BCE_GRAD_RUNTIME_H_
#define BCE_GRAD_RUNTIME_H_

#include <stdint.h>

#include <dlpack/dlpack.h>

/* The op's name, MAX_RANK, aclnn's reduction enum (bce_grad_reduction) and the error texts
 * shared with Python, generated from the Python definitions. */
#include "bce_grad_op_facts.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define BCE_GRAD_API __attribute__((visibility("default")))
#else
#define BCE_GRAD_API
#endif

/*! Bumped whenever a signature or a struct of this header changes. */
#define BCE_GRAD_RUNTIME_ABI_VERSION 3

/*! An opened kernel package (opaque). */
typedef struct bce_grad_package bce_grad_package;

/*! What a call returns; the thread's bce_grad_last_error() says more. */
typedef enum {
  BCE_GRAD_OK = 0,
  BCE_GRAD_ERR_ARGUMENT = 1,  /*!< the call breaks a rule of the op (E80000..E80029) */
  BCE_GRAD_ERR_NO_KERNEL = 2, /*!< the package has no kernel for this dtype/broadcast pattern (E61001) */
  BCE_GRAD_ERR_PACKAGE = 3,   /*!< package unreadable, or a kernel damaged / not loadable (E61001) */
  BCE_GRAD_ERR_LAUNCH = 4,    /*!< the kernel reported an error (E61001) */
  BCE_GRAD_ERR_INTERNAL = 5   /*!< out of memory or an unexpected failure (E61001) */
} bce_grad_status;

/*! bce_grad_package_open flag: verify (SHA-256) and load every kernel now, not on first use. */
#define BCE_GRAD_OPEN_EAGER 1u

/*! BCE_GRAD_RUNTIME_ABI_VERSION of the library actually loaded. */
BCE_GRAD_API int bce_grad_abi_version(void);

/*!
 * Open the kernel package in `dir` (its manifest.json, written by `bce-grad aot`).
 * On success *out is a package to pass to bce_grad_backward and, at the end, to
 * bce_grad_package_close. Each kernel's .so is checked against its SHA-256 before it is loaded.
 */
BCE_GRAD_API int bce_grad_package_open(const char* dir, unsigned flags, bce_grad_package** out);

/*!
 * A package from a manifest's JSON text (the format of manifest.json) instead of a file; kernel
 * paths that are not absolute are relative to `dir` (may be NULL when all are absolute). The
 * manifest may list no kernels: bce_grad_package_add_kernel adds them. An optional
 * "environment" object ({"NAME": "value" or null for unset}) makes every call check those
 * variables (getenv) and fail with BCE_GRAD_ERR_NO_KERNEL once one differs.
 */
BCE_GRAD_API int bce_grad_package_open_text(const char* manifest_json, const char* dir,
                                            unsigned flags, bce_grad_package** out);

/*!
 * Add (or replace) one kernel, described as one entry of a manifest's "kernels" list (JSON
 * text), loaded and SHA-256-checked now. Optional fields: "watch": true makes every call check
 * that the kernel's .json and .so are still the files loaded (else BCE_GRAD_ERR_NO_KERNEL, so
 * that the caller reloads them) and touch "lock" (a path) for LRU bookkeeping. Safe while other
 * threads call bce_grad_backward on the package: a call in flight keeps the kernel it chose.
 */
BCE_GRAD_API int bce_grad_package_add_kernel(bce_grad_package* package, const char* entry_json);

/*!
 * Called when a package has no kernel for a call. `need_json` describes it:
 * {"inputs": ["x", "y", "grad_output"(, "weight")], "dtypes": [...], "output": "float32",
 *  "reduction": "none"|"mean"|"sum", "shapes": [[canonical dims of each input], ...]}.
 * Return 0 once a kernel that serves it was added (bce_grad_package_add_kernel): the call then
 * looks again. Non-zero fails the call with BCE_GRAD_ERR_NO_KERNEL and the text written into
 * `message` (at most `size` bytes, NUL-terminated). It runs on the calling thread, with no lock
 * of the runtime held; calls of other threads that miss too may run it at the same time.
 */
typedef int (*bce_grad_miss_fn)(void* ctx, const char* need_json, char* message, size_t size);

/*!
 * Install (fn non-NULL) or remove (NULL) the package's miss handler. Set it before the package
 * is shared with other threads; `ctx` must live as long as the package.
 */
BCE_GRAD_API int bce_grad_package_set_miss_handler(bce_grad_package* package, bce_grad_miss_fn fn,
                                                   void* ctx);

/*! Release a package (NULL is fine). */
BCE_GRAD_API void bce_grad_package_close(bce_grad_package* package);

/*! The package's full SoC version ("Ascend910B1"); NULL for a NULL package. */
BCE_GRAD_API const char* bce_grad_package_soc(const bce_grad_package* package);

/*! How many kernels the package's manifest lists; -1 for a NULL package. */
BCE_GRAD_API int bce_grad_package_kernel_count(const bce_grad_package* package);

/*!
 * The gradient of binary cross entropy with respect to x, into `out`.
 *
 * x, y, grad_output, weight: CPU tensors (kDLCPU), any strides (non-compact inputs are copied);
 * y, grad_output and weight broadcast to x; weight may be NULL (weight 1). out: a compact CPU
 * tensor of x's shape whose dtype is the result dtype; it must not overlap an input.
 * reduction: a bce_grad_reduction. dtypes: those the package's SoC lists in its op info.
 */
BCE_GRAD_API int bce_grad_backward(const bce_grad_package* package, const DLTensor* grad_output,
                                   const DLTensor* x, const DLTensor* y,
                                   const DLTensor* weight_or_null, int reduction, DLTensor* out);

/*!
 * The operator's host tiling on shapes alone (for tests and adapters that infer ahead of time).
 *
 * shapes[i] has ndims[i] dims (inputs in the operator's order: x, y, grad_output[, weight]).
 * Writes the canonical broadcast pattern: *out_rank (1..8) and out_pattern[i * 8 + a] = dim a of
 * input i. *out_has_cof = 1 and *out_cof = the mean coefficient for mean, else 0: CANN's op
 * tiling value 1.0f / d0 / d1 / ... over x's dims in order, divided in float32 (a float32 value
 * held exactly in the double; 0 when x is empty). It can differ by 1 ulp from float32(1/numel).
 */
BCE_GRAD_API int bce_grad_tiling(int num_inputs, const int32_t* ndims, const int64_t* const* shapes,
                                 int reduction, int32_t* out_rank, int64_t* out_pattern,
                                 double* out_cof, int32_t* out_has_cof);

/*! Run task(task_ctx, begin, end) over the task ids [begin, end); it does not fail. */
typedef void (*bce_grad_task_fn)(void* task_ctx, int64_t begin, int64_t end);

/*!
 * A host's thread pool. parallel_for(host, num_tasks, task, task_ctx) runs task over every id of
 * [0, num_tasks), split among the host's threads in any way (ids run at most once each; tasks never
 * wait for one another), and returns when all are done: 0, or non-zero if it could not run them.
 * max_tasks: how many tasks to split a launch into (the pool's thread count); 1 runs serially.
 */
typedef struct bce_grad_executor {
  int (*parallel_for)(void* host, int64_t num_tasks, bce_grad_task_fn task, void* task_ctx);
  void* host;
  int32_t max_tasks;
} bce_grad_executor;

/*! bce_grad_backward whose parallel work runs on `executor` (NULL: the process-wide pool). */
BCE_GRAD_API int bce_grad_backward_on(const bce_grad_package* package, const DLTensor* grad_output,
                                      const DLTensor* x, const DLTensor* y,
                                      const DLTensor* weight_or_null, int reduction, DLTensor* out,
                                      const bce_grad_executor* executor);

/*!
 * Make the kernel library at `so_path`, already loaded in this process (by TVM's loader, with the
 * file still at that path), run its parallel loops on the runtime's pools (the executor of the
 * call in progress, else the process-wide pool) instead of TVM's per-thread pools. 0 on success;
 * a library without parallel loops is left as it is.
 */
BCE_GRAD_API int bce_grad_adopt_kernel(const char* so_path);

/*! Threads of the process-wide pool, the calling thread included (TVM_NUM_THREADS, else CPUs). */
BCE_GRAD_API int bce_grad_pool_size(void);

/*! The calling thread's message for its last failed call ("" if none); valid until its next call. */
BCE_GRAD_API const char* bce_grad_last_error(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* BCE_GRAD_RUNTIME_H_ */
