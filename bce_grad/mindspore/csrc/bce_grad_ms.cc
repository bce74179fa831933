// Copyright 2026 The bce-grad authors. Licensed under the Apache License, Version 2.0.
//
// bce_grad_ms.cc: BinaryCrossEntropyGrad as a MindSpore ops.Custom(func_type="aot") kernel (CPU).
//
//   ops.Custom("libbce_grad_ms-<key>.so:BceGradMsMean", ..., func_type="aot")
//        -> BceGradMsMean(nparam, params, ndims, shapes, dtypes, stream, extra)   (MindSpore's aot ABI)
//        -> the buffers viewed as compact DLTensors (no copy)
//        -> bce_grad_backward(package, ...)            (the runtime's C ABI: check, tile, launch)
//
// Inputs arrive in MindSpore's primitive order: x, y, grad_output[, weight], then the output.
// One exported function per reduction and weight (BceGradMs{None,Mean,Sum}[Weighted]), so no
// attribute is read through AotExtra and the shape inference knows its input count. Each has a
// <Func>InferShape twin that MindSpore calls (op attribute reg_op_name = <Func>) at compile time
// for static shapes and at run time for dynamic ones: it checks the shapes with the runtime's
// host tiling (broadcast to x, rank <= 8) and gives x's shape. A refused shape is thrown as
// std::invalid_argument, which MindSpore turns into a RuntimeError carrying the message.
//
// The runtime is not linked: bce_grad.mindspore opens the kernel package with the runtime library
// (ctypes) and hands this library the package handle and the runtime's two entry points through
// bce_grad_ms_bind before any graph runs, so a call runs no Python and takes no GIL.
//
// Errors: a kernel returns the runtime's non-zero status. MindSpore then raises its own
// RuntimeError ("Return value from CPU AOT kernel ... is 1") without our text, so the message
// (starting with the CANN code, "[E61001] In op[binary_cross_entropy_grad], ...") is kept,
// numbered, for the Python side to fetch (bce_grad_ms_last_error; bce_grad_ms_failures: the
// count alone, read before every call) and is written to stderr.
#include <dlpack/dlpack.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <mutex>
#include <string>
#include <stdexcept>
#include <vector>

#include "bce_grad_runtime.h"

#define BCE_GRAD_MS_API extern "C" __attribute__((visibility("default")))

namespace bce_grad_ms {
namespace {

using BackwardFn = int (*)(const bce_grad_package*, const DLTensor*, const DLTensor*,
                           const DLTensor*, const DLTensor*, int, DLTensor*);
using LastErrorFn = const char* (*)();
using TilingFn = int (*)(int, const int32_t*, const int64_t* const*, int, int32_t*, int64_t*,
                         double*, int32_t*);

//! What a call needs from the runtime. Immutable once published; never freed (a rebinding is rare
//! and a call in flight on another thread may still read the old one).
struct Binding {
  const bce_grad_package* package;
  BackwardFn backward;
  LastErrorFn last_error;
  TilingFn tiling;
};

std::atomic<const Binding*> binding{nullptr};

constexpr const char* kPrefix = "In op[" BCE_GRAD_OP_NAME "], ";
constexpr int kMaxRank = BCE_GRAD_MAX_RANK;

//! The latest failure of any thread: MindSpore runs kernels on its own actor threads, so the
//! Python caller cannot read a thread-local message. `serial` counts failures; it changes under
//! the mutex (so text and count agree) but is atomic, so the Python cell's read before every call
//! (bce_grad_ms_failures) takes no lock.
std::mutex error_mutex;
std::string error_text;
std::atomic<uint64_t> error_serial{0};

int Fail(int status, const std::string& message) {
  {
    std::lock_guard<std::mutex> lock(error_mutex);
    error_text = message;
    error_serial.fetch_add(1, std::memory_order_release);
  }
  std::fprintf(stderr, "bce_grad.mindspore: %s\n", message.c_str());
  std::fflush(stderr);
  return status;
}

//! MindSpore's dtype name as a DLPack dtype; false for a name it has no DLPack twin for.
bool DlType(const char* name, DLDataType* out) {
  struct Entry {
    const char* name;
    DLDataType type;
  };
  static const Entry kTable[] = {
      {"float32", {kDLFloat, 32, 1}},  {"float", {kDLFloat, 32, 1}},
      {"float16", {kDLFloat, 16, 1}},  {"bfloat16", {kDLBfloat, 16, 1}},
      {"float64", {kDLFloat, 64, 1}},  {"double", {kDLFloat, 64, 1}},
      {"int8", {kDLInt, 8, 1}},        {"int16", {kDLInt, 16, 1}},
      {"int32", {kDLInt, 32, 1}},      {"int", {kDLInt, 32, 1}},
      {"int64", {kDLInt, 64, 1}},      {"uint8", {kDLUInt, 8, 1}},
      {"uint16", {kDLUInt, 16, 1}},    {"uint32", {kDLUInt, 32, 1}},
      {"uint", {kDLUInt, 32, 1}},      {"uint64", {kDLUInt, 64, 1}},
      {"bool", {kDLBool, 8, 1}},
  };
  if (name == nullptr) return false;
  for (const Entry& entry : kTable) {
    if (std::strcmp(entry.name, name) == 0) {
      *out = entry.type;
      return true;
    }
  }
  return false;
}

//! Run the runtime on MindSpore's buffers (compact, row-major: MindSpore's CPU tensors are).
int Run(int reduction, int inputs, int nparam, void** params, int* ndims, int64_t** shapes,
        const char** dtypes) {
  static const char* const kNames[] = {"x", "y", "grad_output", "weight"};
  try {
    const Binding* bound = binding.load(std::memory_order_acquire);
    if (bound == nullptr) {
      return Fail(BCE_GRAD_ERR_PACKAGE, std::string("[E61001] ") + kPrefix +
                  "no kernel package is bound: build the op through bce_grad.mindspore "
                  "(its BinaryCrossEntropyGrad binds the package before the graph runs)");
    }
    if (nparam != inputs + 1) {
      return Fail(BCE_GRAD_ERR_ARGUMENT, std::string("[E80000] ") + kPrefix + "this kernel "
                  "takes " + std::to_string(inputs) + " inputs and one output, but actually got [" +
                  std::to_string(nparam) + "] buffers");
    }
    DLTensor views[5];
    for (int i = 0; i < nparam; ++i) {
      const char* role = i < inputs ? kNames[i] : "output";
      DLTensor& view = views[i];
      std::memset(&view, 0, sizeof(view));
      if (!DlType(dtypes[i], &view.dtype)) {
        return Fail(BCE_GRAD_ERR_ARGUMENT, std::string("[E80008] ") + kPrefix + "the parameter[" +
                    role + "] dtype should be one of ['float16', 'float32', 'bfloat16'], but "
                    "actually is [" + (dtypes[i] ? dtypes[i] : "null") + "]");
      }
      if (ndims[i] < 0 || ndims[i] > kMaxRank) {
        return Fail(BCE_GRAD_ERR_ARGUMENT, std::string("[E80012] ") + kPrefix + "the rank of "
                    "parameter[" + role + "] should be in [0, 8], but actually is [" +
                    std::to_string(ndims[i]) + "]");
      }
      view.data = params[i];
      view.device = {kDLCPU, 0};
      view.ndim = ndims[i];
      view.shape = shapes[i];
      view.strides = nullptr;  // compact
      view.byte_offset = 0;
    }
    const DLTensor* weight = inputs == 4 ? &views[3] : nullptr;
    int status = bound->backward(bound->package, &views[2], &views[0], &views[1], weight,
                                 reduction, &views[inputs]);
    if (status != BCE_GRAD_OK) {
      const char* message = bound->last_error();
      return Fail(status, message && message[0] ? message : std::string("[E61001] ") + kPrefix +
                  "the native runtime failed with status " + std::to_string(status));
    }
    return 0;
  } catch (const std::exception& err) {  // nothing may cross into MindSpore
    return Fail(BCE_GRAD_ERR_INTERNAL, std::string("[E61001] ") + kPrefix + err.what());
  } catch (...) {
    return Fail(BCE_GRAD_ERR_INTERNAL, std::string("[E61001] ") + kPrefix + "unknown failure");
  }
}

//! "[4, 5]": a shape as the runtime's messages print it.
std::string PyList(const int64_t* dims, int ndim) {
  std::string text = "[";
  for (int a = 0; a < ndim; ++a) text += (a ? ", " : "") + std::to_string(dims[a]);
  return text + "]";
}

//! The output's shape, x's, once the inputs' shapes pass the operator's checks: the runtime's
//! host tiling (ranks, dims) and broadcast to x (the runtime's E80029 rule and words, checked here
//! because bce_grad_tiling canonicalises without checking it). Shapes with dims not known yet
//! (dynamic shapes at compile time: negative) are passed through unchecked.
std::vector<int64_t> OutputShape(int inputs, const int* ndims, int64_t* const* shapes) {
  static const char* const kNames[] = {"x", "y", "grad_output", "weight"};
  if (ndims == nullptr || shapes == nullptr) {
    throw std::invalid_argument(std::string("[E61001] ") + kPrefix + "MindSpore passed no shapes");
  }
  if (ndims[0] < 0) return {-2};  // x's rank is not known yet
  std::vector<int64_t> out(shapes[0], shapes[0] + ndims[0]);
  int32_t ranks[4];
  for (int i = 0; i < inputs; ++i) {
    if (ndims[i] < 0 || std::any_of(shapes[i], shapes[i] + ndims[i], [](int64_t d) {
          return d < 0;
        })) {
      return out;
    }
    ranks[i] = ndims[i];
  }
  const Binding* bound = binding.load(std::memory_order_acquire);
  if (bound == nullptr) return out;  // the kernel reports the missing binding
  int32_t rank = 0, has_cof = 0;
  int64_t pattern[4 * kMaxRank];
  double cof = 0.0;
  if (bound->tiling(inputs, ranks, shapes, BCE_GRAD_REDUCTION_NONE, &rank, pattern, &cof,
                    &has_cof) != BCE_GRAD_OK) {
    const char* message = bound->last_error();
    throw std::invalid_argument(message && message[0] ? message : std::string("[E61001] ") +
                                kPrefix + "the runtime's tiling refused the shapes");
  }
  for (int i = 1; i < inputs; ++i) {
    bool fits = ndims[i] <= ndims[0];
    for (int a = 1; fits && a <= ndims[i]; ++a) {
      const int64_t d = shapes[i][ndims[i] - a], t = shapes[0][ndims[0] - a];
      fits = d == 1 || d == t;
    }
    if (!fits) {
      const std::string name = kNames[i];
      throw std::invalid_argument(
          "[" BCE_GRAD_MSG_BROADCAST_CODE "] " + std::string(kPrefix) +
          bce_grad_facts::Render(BCE_GRAD_MSG_BROADCAST, {{"param", name},
                                 {"shape", PyList(shapes[i], ndims[i])},
                                 {"x_shape", PyList(shapes[0], ndims[0])}}));
    }
  }
  return out;
}

}  // namespace
}  // namespace bce_grad_ms

//! Publish the runtime's package and entry points bce_grad_backward, bce_grad_last_error and
//! bce_grad_tiling (bce_grad.mindspore calls it before a graph runs). Returns 0, or -1 when a
//! pointer is NULL.
BCE_GRAD_MS_API int bce_grad_ms_bind(const void* package, void* backward, void* last_error,
                                     void* tiling) {
  if (!package || !backward || !last_error || !tiling) return -1;
  auto* fresh = new bce_grad_ms::Binding{static_cast<const bce_grad_package*>(package),
                                         reinterpret_cast<bce_grad_ms::BackwardFn>(backward),
                                         reinterpret_cast<bce_grad_ms::LastErrorFn>(last_error),
                                         reinterpret_cast<bce_grad_ms::TilingFn>(tiling)};
  bce_grad_ms::binding.store(fresh, std::memory_order_release);  // the old one is leaked
  return 0;
}

//! The package bound now (NULL before bce_grad_ms_bind).
BCE_GRAD_MS_API const void* bce_grad_ms_bound_package(void) {
  const bce_grad_ms::Binding* bound = bce_grad_ms::binding.load(std::memory_order_acquire);
  return bound ? bound->package : nullptr;
}

//! The latest failure's message (any thread) into `buffer`; returns how many failures so far.
BCE_GRAD_MS_API uint64_t bce_grad_ms_last_error(char* buffer, size_t size) {
  std::lock_guard<std::mutex> lock(bce_grad_ms::error_mutex);
  if (buffer != nullptr && size > 0) {
    size_t n = std::min(bce_grad_ms::error_text.size(), size - 1);
    std::memcpy(buffer, bce_grad_ms::error_text.data(), n);
    buffer[n] = '\0';
  }
  return bce_grad_ms::error_serial.load(std::memory_order_relaxed);
}

//! How many kernel calls failed so far: bce_grad_ms_last_error's count without the lock or the
//! copy. The Python cell reads it before every call (to tell a failure of this call from an older
//! one), so it costs one plain C call.
BCE_GRAD_MS_API uint64_t bce_grad_ms_failures(void) {
  return bce_grad_ms::error_serial.load(std::memory_order_acquire);
}

// Name(...) runs the kernel; Name##InferShape(...) infers and checks shapes (MindSpore's aot ABI).
#define BCE_GRAD_MS_KERNEL(Name, reduction, inputs)                                             \
  BCE_GRAD_MS_API int Name(int nparam, void** params, int* ndims, int64_t** shapes,             \
                           const char** dtypes, void* stream, void* extra) {                    \
    (void)stream;                                                                               \
    (void)extra;                                                                                \
    return bce_grad_ms::Run(reduction, inputs, nparam, params, ndims, shapes, dtypes);          \
  }                                                                                             \
  BCE_GRAD_MS_API std::vector<int64_t> Name##InferShape(int* ndims, int64_t** shapes,           \
                                                         void* extra) {                         \
    (void)extra;                                                                                \
    return bce_grad_ms::OutputShape(inputs, ndims, shapes);                                     \
  }

BCE_GRAD_MS_KERNEL(BceGradMsNone, BCE_GRAD_REDUCTION_NONE, 3)
BCE_GRAD_MS_KERNEL(BceGradMsMean, BCE_GRAD_REDUCTION_MEAN, 3)
BCE_GRAD_MS_KERNEL(BceGradMsSum, BCE_GRAD_REDUCTION_SUM, 3)
BCE_GRAD_MS_KERNEL(BceGradMsNoneWeighted, BCE_GRAD_REDUCTION_NONE, 4)
BCE_GRAD_MS_KERNEL(BceGradMsMeanWeighted, BCE_GRAD_REDUCTION_MEAN, 4)
BCE_GRAD_MS_KERNEL(BceGradMsSumWeighted, BCE_GRAD_REDUCTION_SUM, 4)
