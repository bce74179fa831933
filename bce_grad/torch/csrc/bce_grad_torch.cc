// Copyright 2026 The bce-grad authors. Licensed under the Apache License, Version 2.0.
//
// bce_grad_torch.cc: BinaryCrossEntropyGrad as a PyTorch operator, on the native runtime.
//
//   torch.ops.bce_grad.binary_cross_entropy_backward   (TORCH_LIBRARY: aten's schema, CPU kernel)
//        -> at::Tensor viewed as DLTensor (no copy; strides passed, the runtime copies strided inputs)
//        -> bce_grad_backward_on(package, ..., at::parallel_for) (the runtime's C ABI: check, tile, launch)
//
// Its Autograd kernel (Derivative) records the operator's own derivative (double backward) only
// when a gradient can flow; otherwise a call goes straight to the CPU kernel.
//
// The runtime library and its kernel package are found by Python once per process: the first call
// asks the resolver that bce_grad.torch installs (a ctypes callback, bce_grad_torch_set_resolver)
// for the package handle and the runtime's two entry points; every later call reads them from an
// atomic pointer. bce_grad_torch_route_aten(1) registers the same kernel for aten's CPU
// binary_cross_entropy_backward (removable with 0), falling back to aten's own kernel for calls
// the package does not serve (float64, mixed dtypes, a broadcast pattern it lacks).
//
// Errors become torch's exception types (c10::Error -> RuntimeError, c10::ValueError -> ValueError,
// c10::TypeError -> TypeError, c10::NotImplementedError -> NotImplementedError) whose message
// starts with the CANN error code, "[E80029] In op[binary_cross_entropy_grad], ...".
#include <ATen/core/Tensor.h>
#include <ATen/ops/binary_cross_entropy_backward_native.h>
#include <ATen/ops/empty.h>
#include <ATen/Parallel.h>
#include <ATen/TensorOperators.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/ops/where.h>
#include <ATen/ops/zeros_like.h>
#include <c10/util/Exception.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/library.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "bce_grad_runtime.h"
#include "bce_grad_adapter.h"

#define BCE_GRAD_TORCH_API extern "C" __attribute__((visibility("default")))

namespace bce_grad_torch {
namespace {

using bce_grad_adapter::Binding;

bce_grad_adapter::RuntimeBinding runtime_binding(
    "[E61001] In op[binary_cross_entropy_grad], the kernel package is not set: import "
    "bce_grad.torch in this process (it installs the package resolver) before calling "
    "torch.ops.bce_grad.binary_cross_entropy_backward");

//! The runtime's binding (bce_grad_adapter.h), or torch's RuntimeError with the CANN-coded text.
const Binding& Bound() {
  std::string message;
  const Binding* bound = runtime_binding.Get(&message);
  TORCH_CHECK(bound != nullptr, message);
  return *bound;
}

bool Supported(at::ScalarType t) {
  return t == at::kFloat || t == at::kHalf || t == at::kBFloat16;
}

DLDataType DlType(at::ScalarType t) {
  const uint8_t bits = static_cast<uint8_t>(c10::elementSize(t) * 8);
  if (t == at::kBFloat16) return {kDLBfloat, 16, 1};
  if (t == at::kBool) return {kDLBool, 8, 1};
  if (c10::isFloatingType(t)) return {kDLFloat, bits, 1};
  if (c10::isComplexType(t)) return {kDLComplex, bits, 1};
  if (t == at::kByte || t == at::kUInt16 || t == at::kUInt32 || t == at::kUInt64) {
    return {kDLUInt, bits, 1};
  }
  return {kDLInt, bits, 1};  // the runtime's dtype check names it (int64, int8, ...)
}

//! A DLTensor viewing `t` in place; strides only when `t` is not contiguous.
DLTensor View(const at::Tensor& t) {
  DLTensor view;
  view.data = t.numel() > 0 ? const_cast<void*>(t.const_data_ptr()) : nullptr;
  view.device = {kDLCPU, 0};
  view.ndim = static_cast<int32_t>(t.dim());
  view.dtype = DlType(t.scalar_type());
  view.shape = const_cast<int64_t*>(t.sizes().data());
  view.strides = t.is_contiguous() ? nullptr : const_cast<int64_t*>(t.strides().data());
  view.byte_offset = 0;
  return view;
}

//! Raise the runtime's failure as the exception type torch raises for the same mistake.
[[noreturn]] void Raise(int status, const std::string& message) {
  auto has = [&](const char* code) { return message.rfind(std::string("[") + code + "]", 0) == 0; };
  if (status == BCE_GRAD_ERR_ARGUMENT) {
    // aten: "not implemented for 'Long'" (NotImplementedError); a bad enum value is a ValueError
    TORCH_CHECK_NOT_IMPLEMENTED(!has("E80008"), message);
    TORCH_CHECK_VALUE(!has("E80009") && !has("E80002"), message);
    TORCH_CHECK_TYPE(!has("E80001"), message);
  }
  TORCH_CHECK(false, message);
}

//! The kernel's parallel loops on torch's intra-op pool (at::parallel_for), so that
//! torch.set_num_threads applies and no thread is added beside torch's.
int IntraOpParallelFor(void*, int64_t num_tasks, bce_grad_task_fn task, void* task_ctx) {
  at::parallel_for(0, num_tasks, 1, [&](int64_t begin, int64_t end) { task(task_ctx, begin, end); });
  return 0;
}

//! Run the runtime on tensors whose dtypes it may take; returns its status (message in *message).
int Launch(const at::Tensor& grad, const at::Tensor& self, const at::Tensor& target,
           const std::optional<at::Tensor>& weight, int64_t reduction, at::Tensor& out,
           std::string* message) {
  const Binding& bound = Bound();
  const bool has_weight = weight.has_value() && weight->defined();
  DLTensor g = View(grad), x = View(self), y = View(target), result = View(out);
  DLTensor w = has_weight ? View(*weight) : DLTensor{};
  const int red = reduction < 0 || reduction >= BCE_GRAD_REDUCTION_COUNT
                      ? BCE_GRAD_REDUCTION_COUNT : static_cast<int>(reduction);  // COUNT: refused
  const bce_grad_executor intra_op{IntraOpParallelFor, nullptr,
                                   static_cast<int32_t>(at::get_num_threads())};
  int status = bound.backward(bound.package, &g, &x, &y, has_weight ? &w : nullptr, red, &result,
                              &intra_op);
  if (status != BCE_GRAD_OK) {
    *message = bound.last_error();
    if (red == BCE_GRAD_REDUCTION_COUNT) {  // the runtime printed COUNT; name the caller's value
      *message = std::string("[" BCE_GRAD_MSG_REDUCTION_CODE "] In op[" BCE_GRAD_OP_NAME "], ") +
                 bce_grad_facts::Render(BCE_GRAD_MSG_REDUCTION,
                                        {{"names", BCE_GRAD_REDUCTION_NAME_LIST},
                                         {"values", BCE_GRAD_REDUCTION_ENUM_LIST},
                                         {"value", std::to_string(reduction)}});
    }
  }
  return status;
}

//! torch.ops.bce_grad.binary_cross_entropy_backward: the project's semantics. Mixed float dtypes
//! promote (torch.promote_types, as aclnn); the result has the promoted dtype and x's shape.
at::Tensor Backward(const at::Tensor& grad, const at::Tensor& self, const at::Tensor& target,
                    const std::optional<at::Tensor>& weight, int64_t reduction) {
  const bool has_weight = weight.has_value() && weight->defined();
  at::ScalarType result = c10::promoteTypes(grad.scalar_type(), self.scalar_type());
  result = c10::promoteTypes(result, target.scalar_type());
  if (has_weight) result = c10::promoteTypes(result, weight->scalar_type());
  bool all_supported = Supported(grad.scalar_type()) && Supported(self.scalar_type()) &&
                       Supported(target.scalar_type()) &&
                       (!has_weight || Supported(weight->scalar_type()));
  // unsupported dtypes travel as they are: the runtime names the parameter and its op info
  auto cast = [&](const at::Tensor& t) {
    return all_supported && t.scalar_type() != result ? t.to(result) : t;
  };
  at::Tensor g = cast(grad), x = cast(self), y = cast(target);
  std::optional<at::Tensor> w;
  if (has_weight) w = cast(*weight);
  at::Tensor out = at::empty(self.sizes(), self.options().dtype(result));
  std::string message;
  int status = Launch(g, x, y, w, reduction, out, &message);
  if (status != BCE_GRAD_OK) Raise(status, message);
  return out;
}

//! aten::binary_cross_entropy_backward on CPU while routed (bce_grad.torch.enable()): this kernel
//! where the package serves the call, aten's own kernel for anything else.
at::Tensor AtenBackward(const at::Tensor& grad, const at::Tensor& self, const at::Tensor& target,
                        const std::optional<at::Tensor>& weight, int64_t reduction) {
  const bool has_weight = weight.has_value() && weight->defined();
  const at::ScalarType dtype = self.scalar_type();
  const bool ours = Supported(dtype) && grad.scalar_type() == dtype &&
                    target.scalar_type() == dtype && (!has_weight || weight->scalar_type() == dtype) &&
                    reduction >= 0 && reduction < BCE_GRAD_REDUCTION_COUNT;
  if (ours) {
    at::Tensor out = at::empty(self.sizes(), self.options());
    std::string message;
    int status = Launch(grad, self, target, weight, reduction, out, &message);
    if (status == BCE_GRAD_OK) return out;
    if (status != BCE_GRAD_ERR_NO_KERNEL && status != BCE_GRAD_ERR_ARGUMENT) Raise(status, message);
  }
  return at::native::binary_cross_entropy_backward_cpu(grad, self, target, weight, reduction);
}

//! The operator below autograd (CPU kernel, fake kernel under torch.compile), from the dispatcher.
at::Tensor Redispatch(const at::Tensor& grad, const at::Tensor& self, const at::Tensor& target,
                      const std::optional<at::Tensor>& weight, int64_t reduction) {
  static const auto op = c10::Dispatcher::singleton()
      .findSchemaOrThrow("bce_grad::binary_cross_entropy_backward", "")
      .typed<decltype(Backward)>();
  at::AutoDispatchBelowADInplaceOrView below;
  return op.call(grad, self, target, weight, reduction);
}

constexpr double kEpsilon = 1e-12;

/*!
 * The operator's own derivative (double backward), in float32 with aten ops, so that it traces
 * under torch.compile. With f = c g w (x - y) / d, d = max(x (1 - x), eps), q = (x - y) / d:
 * df/dg = c w q, df/dy = -c g w / d, df/dw = c g q, df/dx = c g w (1 - q d') / d, where
 * d' = 1 - 2x while x (1 - x) > eps and 0 where the clamp is flat. Written in C++ (not
 * torch.library.register_autograd) because a Python autograd kernel runs on every call, grad or
 * not, and cost 15 us of a 20 us (4, 4) call.
 */
class Derivative : public torch::autograd::Function<Derivative> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& grad,
                            const at::Tensor& self, const at::Tensor& target,
                            const std::optional<at::Tensor>& weight, int64_t reduction) {
    ctx->save_for_backward({grad, self, target, weight.has_value() ? *weight : at::Tensor()});
    ctx->saved_data["reduction"] = reduction;
    return Redispatch(grad, self, target, weight, reduction);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &g = saved[0], &x = saved[1], &y = saved[2], &w = saved[3];
    const auto f32 = at::kFloat;
    at::Tensor xf = x.to(f32), yf = y.to(f32), gf = g.to(f32), ggf = grads[0].to(f32);
    if (ctx->saved_data["reduction"].toInt() == 1) ggf = ggf / static_cast<double>(x.numel());
    at::Tensor prod = xf * (1 - xf);
    at::Tensor d = prod.clamp_min(kEpsilon);
    at::Tensor q = (xf - yf) / d;
    at::Tensor scale = w.defined() ? ggf * w.to(f32) : ggf;
    auto to = [](const at::Tensor& value, const at::Tensor& like) {
      return value.sum_to_size(like.sizes()).to(like.scalar_type());
    };
    at::Tensor grad_g, grad_x, grad_y, grad_w;
    if (ctx->needs_input_grad(0)) grad_g = to(scale * q, g);
    if (ctx->needs_input_grad(1)) {
      at::Tensor slope = at::where(prod > kEpsilon, 1 - 2 * xf, at::zeros_like(xf));
      grad_x = to(scale * gf * (1 - q * slope) / d, x);
    }
    if (ctx->needs_input_grad(2)) grad_y = to(-scale * gf / d, y);
    if (w.defined() && ctx->needs_input_grad(3)) grad_w = to(ggf * gf * q, w);
    return {grad_g, grad_x, grad_y, grad_w, at::Tensor()};
  }
};

//! The Autograd kernel: straight below autograd when no gradient can flow (the common call),
//! else through Derivative, which records the operator's derivative.
at::Tensor AutogradBackward(const at::Tensor& grad, const at::Tensor& self,
                            const at::Tensor& target, const std::optional<at::Tensor>& weight,
                            int64_t reduction) {
  const bool tracked = at::GradMode::is_enabled() &&
      (grad.requires_grad() || self.requires_grad() || target.requires_grad() ||
       (weight.has_value() && weight->defined() && weight->requires_grad()));
  if (!tracked) return Redispatch(grad, self, target, weight, reduction);
  return Derivative::apply(grad, self, target, weight, reduction);
}

std::mutex route_mutex;
std::unique_ptr<torch::Library> aten_route;

//! Copy `text` into a caller's buffer of `size` bytes (NUL-terminated).
void Write(const std::string& text, char* buffer, size_t size) {
  if (buffer == nullptr || size == 0) return;
  size_t n = std::min(text.size(), size - 1);
  std::memcpy(buffer, text.data(), n);
  buffer[n] = '\0';
}

}  // namespace
}  // namespace bce_grad_torch

TORCH_LIBRARY(bce_grad, m) {
  m.def("binary_cross_entropy_backward(Tensor grad_output, Tensor self, Tensor target, "
        "Tensor? weight=None, int reduction=1) -> Tensor");
}

TORCH_LIBRARY_IMPL(bce_grad, CPU, m) {
  m.impl("binary_cross_entropy_backward", TORCH_FN(bce_grad_torch::Backward));
}

TORCH_LIBRARY_IMPL(bce_grad, Autograd, m) {
  m.impl("binary_cross_entropy_backward", TORCH_FN(bce_grad_torch::AutogradBackward));
}

//! Install the resolver the first call uses; drop the current binding so that it runs again.
BCE_GRAD_TORCH_API void bce_grad_torch_set_resolver(void* resolve) {
  bce_grad_torch::runtime_binding.SetResolver(
      reinterpret_cast<bce_grad_adapter::ResolverFn>(resolve));  // an old binding is leaked
}

namespace bce_grad_torch {
namespace {

//! Drops torch's "Overriding a previously registered kernel" warning, which routing aten's kernel
//! here always triggers (the override is the point of enable()); passes every other warning on.
class QuietOverride : public c10::WarningHandler {
 public:
  explicit QuietOverride(c10::WarningHandler* next) : next_(next) {}
  void process(const c10::Warning& warning) override {
    if (warning.msg().find("Overriding a previously registered kernel") != std::string::npos) return;
    next_->process(warning);
  }

 private:
  c10::WarningHandler* next_;
};

}  // namespace
}  // namespace bce_grad_torch

//! 1: route aten's CPU binary_cross_entropy_backward to this kernel; 0: give it back to aten.
//! Returns 0, or -1 with a message in `message`.
BCE_GRAD_TORCH_API int bce_grad_torch_route_aten(int on, char* message, size_t size) {
  try {
    std::lock_guard<std::mutex> lock(bce_grad_torch::route_mutex);
    if (!on) {
      bce_grad_torch::aten_route.reset();  // deregisters: aten's own CPU kernel is back
    } else if (!bce_grad_torch::aten_route) {
      bce_grad_torch::QuietOverride quiet(c10::WarningUtils::get_warning_handler());
      c10::WarningUtils::WarningHandlerGuard guard(&quiet);
      auto lib = std::make_unique<torch::Library>(torch::Library::IMPL, "aten",
                                                  c10::DispatchKey::CPU, __FILE__, __LINE__);
      lib->impl("binary_cross_entropy_backward", TORCH_FN(bce_grad_torch::AtenBackward));
      bce_grad_torch::aten_route = std::move(lib);
    }
    return 0;
  } catch (const std::exception& err) {
    bce_grad_torch::Write(err.what(), message, size);
    return -1;
  }
}

//! Whether aten's CPU backward is routed here now.
BCE_GRAD_TORCH_API int bce_grad_torch_aten_routed(void) {
  std::lock_guard<std::mutex> lock(bce_grad_torch::route_mutex);
  return bce_grad_torch::aten_route ? 1 : 0;
}
