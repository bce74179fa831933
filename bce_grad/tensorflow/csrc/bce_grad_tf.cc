// Copyright 2026 The bce-grad authors. Licensed under the Apache License, Version 2.0.
//
// bce_grad_tf.cc: BinaryCrossEntropyGrad as a TensorFlow op with a CPU kernel on the native runtime.
//
//   tf op BinaryCrossEntropyGrad(x, y, grad_output, weight: T) -> output: T
//        -> tensorflow::Tensor buffers viewed as DLTensor (no copy: TF tensors are compact)
//        -> bce_grad_backward_on(package, ..., TF's intra-op pool)   (the runtime's C ABI: check, tile, launch)
//
// The op definition is the one tools/deploy/frameworks.py generates for the Ascend TF plugin
// (inputs x, y, grad_output, weight: T; T in {half, float, bfloat16}; reduction in
// {'none', 'mean', 'sum'} = 'mean'; output x's shape), so one graph or SavedModel runs here and,
// through GE, on an NPU. TF ops have no optional inputs: an unweighted call passes a 0-d weight of
// one (bce_grad.tensorflow does); this kernel drops such a weight before the call, which changes
// no bit (w * 1 == w in IEEE arithmetic) and lets the runtime take its kernels without weight.
//
// The runtime library and its kernel package are found by Python once per process: the first call
// asks the resolver that bce_grad.tensorflow installs (a ctypes callback, bce_grad_tf_set_resolver)
// for the package handle and the runtime's two entry points; later calls read them from an atomic
// pointer, so no Python runs in a call.
//
// Errors are TF statuses carrying the runtime's message, which starts with the CANN error code
// ("[E80029] In op[binary_cross_entropy_grad], ..."): a call that breaks a rule of the op is
// INVALID_ARGUMENT, a dtype/pattern the package lacks UNIMPLEMENTED, an unusable package
// FAILED_PRECONDITION, anything else INTERNAL. Nothing throws across TF or aborts.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <exception>
#include <string>

#include "absl/status/status.h"
#include "tensorflow/core/framework/common_shape_fns.h"
#include "tensorflow/core/framework/device_base.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/tensor.h"
#include "tensorflow/core/framework/types.h"
#include "tensorflow/core/platform/threadpool.h"

#include "bce_grad_runtime.h"
#include "bce_grad_adapter.h"

#define BCE_GRAD_TF_API extern "C" __attribute__((visibility("default")))

namespace bce_grad_tf {
namespace {

using bce_grad_adapter::Binding;

bce_grad_adapter::RuntimeBinding runtime_binding(
    "[E61001] In op[binary_cross_entropy_grad], the kernel package is not set: import "
    "bce_grad.tensorflow (or call bce_grad.tensorflow.load_library()) in this process before "
    "running a graph that holds BinaryCrossEntropyGrad");

//! The runtime's binding (bce_grad_adapter.h); nullptr with *message set when there is none.
const Binding* Bound(std::string* message) { return runtime_binding.Get(message); }

//! The process that loaded this library. In a fork()ed child TF's pools have no threads left, so
//! the kernel there runs on the runtime's own pool, which the child re-creates.
const pid_t loaded_pid = getpid();

//! The kernel's parallel loops on the op's intra-op pool (the device's CPU worker threads), so
//! that tf.config.threading's settings apply and no thread is added beside TF's.
int IntraOpParallelFor(void* host, int64_t num_tasks, bce_grad_task_fn task, void* task_ctx) {
  auto* pool = static_cast<tensorflow::thread::ThreadPool*>(host);
  constexpr int64_t kCostPerTask = int64_t{1} << 30;  // a task is a large share: one shard each
  pool->ParallelFor(num_tasks, kCostPerTask,
                    [&](int64_t begin, int64_t end) { task(task_ctx, begin, end); });
  return 0;
}

DLDataType DlType(tensorflow::DataType t) {
  switch (t) {
    case tensorflow::DT_BFLOAT16: return {kDLBfloat, 16, 1};
    case tensorflow::DT_HALF: return {kDLFloat, 16, 1};
    default: return {kDLFloat, 32, 1};  // the op's T admits half, float and bfloat16 only
  }
}

//! A DLTensor viewing a TF tensor in place (TF tensors are compact: no strides). `dims` keeps the
//! shape alive for the call.
DLTensor View(const tensorflow::Tensor& t, tensorflow::gtl::InlinedVector<int64_t, 8>* dims) {
  dims->clear();
  for (int i = 0; i < t.dims(); ++i) dims->push_back(t.dim_size(i));
  DLTensor view;
  view.data = t.NumElements() > 0 ? const_cast<char*>(t.tensor_data().data()) : nullptr;
  view.device = {kDLCPU, 0};
  view.ndim = t.dims();
  view.dtype = DlType(t.dtype());
  view.shape = dims->data();
  view.strides = nullptr;
  view.byte_offset = 0;
  return view;
}

//! A 0-d weight whose value is one: the unweighted call (bit for bit).
bool IsUnitScalar(const tensorflow::Tensor& w) {
  if (w.dims() != 0) return false;
  switch (w.dtype()) {
    case tensorflow::DT_FLOAT: return w.scalar<float>()() == 1.0f;
    case tensorflow::DT_HALF: return static_cast<float>(w.scalar<Eigen::half>()()) == 1.0f;
    case tensorflow::DT_BFLOAT16: return static_cast<float>(w.scalar<Eigen::bfloat16>()()) == 1.0f;
    default: return false;
  }
}

//! The TF status of a runtime failure: the runtime's message, a code by its kind.
absl::Status StatusOf(int status, const std::string& message) {
  switch (status) {
    case BCE_GRAD_ERR_ARGUMENT: return absl::InvalidArgumentError(message);
    case BCE_GRAD_ERR_NO_KERNEL: return absl::UnimplementedError(message);
    case BCE_GRAD_ERR_PACKAGE: return absl::FailedPreconditionError(message);
    default: return absl::InternalError(message);
  }
}

//! aclnn's enum value of a reduction name (TF admits only the op definition's names).
int ReductionOf(const std::string& name) {
  const char* const names[BCE_GRAD_REDUCTION_COUNT] = BCE_GRAD_REDUCTION_NAMES;
  for (int value = 0; value < BCE_GRAD_REDUCTION_COUNT; ++value) {
    if (name == names[value]) return value;
  }
  return BCE_GRAD_REDUCTION_MEAN;
}

class BinaryCrossEntropyGradOp : public tensorflow::OpKernel {
 public:
  explicit BinaryCrossEntropyGradOp(tensorflow::OpKernelConstruction* context)
      : OpKernel(context) {
    std::string reduction;
    OP_REQUIRES_OK(context, context->GetAttr("reduction", &reduction));
    reduction_ = ReductionOf(reduction);
  }

  void Compute(tensorflow::OpKernelContext* context) override {
    try {
      Run(context);
    } catch (const std::exception& err) {  // out of memory and the like: a status, never a crash
      context->SetStatus(absl::InternalError(
          std::string("[E61001] In op[binary_cross_entropy_grad], the CPU kernel failed: ") +
          err.what()));
    }
  }

 private:
  void Run(tensorflow::OpKernelContext* context) {
    std::string message;
    const Binding* bound = Bound(&message);
    OP_REQUIRES(context, bound != nullptr, absl::FailedPreconditionError(message));
    const tensorflow::Tensor& x = context->input(0);
    const tensorflow::Tensor& y = context->input(1);
    const tensorflow::Tensor& grad = context->input(2);
    const tensorflow::Tensor& weight = context->input(3);
    tensorflow::Tensor* out = nullptr;
    OP_REQUIRES_OK(context, context->allocate_output(0, x.shape(), &out));
    tensorflow::gtl::InlinedVector<int64_t, 8> dx, dy, dg, dw, dout;
    DLTensor vx = View(x, &dx), vy = View(y, &dy), vg = View(grad, &dg), vw = View(weight, &dw);
    DLTensor vout = View(*out, &dout);
    const DLTensor* w = IsUnitScalar(weight) ? nullptr : &vw;
    const auto* threads = context->device()->tensorflow_cpu_worker_threads();
    bce_grad_executor intra_op{IntraOpParallelFor, nullptr, 1};
    if (threads != nullptr && threads->workers != nullptr && getpid() == loaded_pid) {
      intra_op.host = threads->workers;
      intra_op.max_tasks = std::max(1, threads->workers->NumThreads());
    }
    int status = bound->backward(bound->package, &vg, &vx, &vy, w, reduction_, &vout,
                                 intra_op.host != nullptr ? &intra_op : nullptr);
    if (status != BCE_GRAD_OK) context->SetStatus(StatusOf(status, bound->last_error()));
  }

  int reduction_ = BCE_GRAD_REDUCTION_MEAN;
};

}  // namespace
}  // namespace bce_grad_tf

namespace tensorflow {

// The definition tools/deploy/frameworks.py generates for the Ascend TF plugin (a test compares
// them): output = grad_output * weight * (x - y) / max(x * (1 - x), 1e-12) [* 1/numel(x) for mean],
// y, grad_output and weight broadcast to x, output of x's shape.
REGISTER_OP("BinaryCrossEntropyGrad")
    .Input("x: T")
    .Input("y: T")
    .Input("grad_output: T")
    .Input("weight: T")
    .Output("output: T")
    .Attr("T: {half, float, bfloat16}")
    .Attr("reduction: " BCE_GRAD_REDUCTION_ATTR_SET " = 'mean'")
    .SetShapeFn(shape_inference::UnchangedShape);

REGISTER_KERNEL_BUILDER(
    Name("BinaryCrossEntropyGrad").Device(DEVICE_CPU).TypeConstraint<Eigen::half>("T"),
    bce_grad_tf::BinaryCrossEntropyGradOp);
REGISTER_KERNEL_BUILDER(
    Name("BinaryCrossEntropyGrad").Device(DEVICE_CPU).TypeConstraint<float>("T"),
    bce_grad_tf::BinaryCrossEntropyGradOp);
REGISTER_KERNEL_BUILDER(
    Name("BinaryCrossEntropyGrad").Device(DEVICE_CPU).TypeConstraint<Eigen::bfloat16>("T"),
    bce_grad_tf::BinaryCrossEntropyGradOp);

}  // namespace tensorflow

//! Install the resolver the first call uses; drop the current binding so that it runs again.
BCE_GRAD_TF_API void bce_grad_tf_set_resolver(void* resolve) {
  bce_grad_tf::runtime_binding.SetResolver(
      reinterpret_cast<bce_grad_adapter::ResolverFn>(resolve));  // an old binding is leaked
}

//! Bind now (the first call would): 0, or -1 with the reason in `message` (NUL-terminated).
BCE_GRAD_TF_API int bce_grad_tf_bind(char* message, size_t size) {
  std::string text;
  if (bce_grad_tf::Bound(&text) != nullptr) return 0;
  if (message != nullptr && size > 0) {
    size_t n = std::min(text.size(), size - 1);
    std::memcpy(message, text.data(), n);
    message[n] = '\0';
  }
  return -1;
}
