/*
 * Copyright 2026 The bce-grad authors. Licensed under the Apache License, Version 2.0.
 *
 * bce_grad_adapter.h: what the framework adapters (PyTorch, TensorFlow, MindSpore) share in C++.
 *
 * An adapter's kernel does not link the native runtime: on its first call in the process it asks
 * a *resolver* (a Python ctypes callback, bce_grad.runtime.adapter.PackageChoice, installed when
 * the adapter is imported) for the opened kernel package and the runtime's entry points, and
 * publishes them once as an immutable Binding. Later calls read the binding with one atomic load:
 * no Python, no lock. The resolver runs with no lock held (it takes the GIL itself through
 * ctypes), so a thread holding the GIL cannot deadlock against it.
 *
 * Header-only; include it after bce_grad_runtime.h, inside no namespace. Each adapter keeps one
 * RuntimeBinding in an anonymous namespace.
 */
#ifndef BCE_GRAD_ADAPTER_H_
#define BCE_GRAD_ADAPTER_H_

#include <atomic>
#include <cstddef>
#include <string>

#include "bce_grad_runtime.h"

namespace bce_grad_adapter {

//! bce_grad_backward_on: the adapter names its framework's thread pool as the executor.
using BackwardFn = int (*)(const bce_grad_package*, const DLTensor*, const DLTensor*,
                           const DLTensor*, const DLTensor*, int, DLTensor*,
                           const bce_grad_executor*);
using LastErrorFn = const char* (*)();
//! Fills the package and the runtime's entry points; returns 0, or non-zero with a message.
using ResolverFn = int (*)(void** package, void** backward, void** last_error, char* message,
                           size_t message_size);

//! What a call needs from the runtime. Immutable once published; never freed (a rebinding is rare
//! and another thread may still read the old one).
struct Binding {
  const bce_grad_package* package;
  BackwardFn backward;
  LastErrorFn last_error;
};

//! One adapter's resolver and its published binding.
class RuntimeBinding {
 public:
  //! `not_set` is the message when no resolver is installed (it should say what to import).
  explicit RuntimeBinding(const char* not_set) : not_set_(not_set) {}

  //! Install (or replace) the resolver and forget the binding: the next call resolves again.
  void SetResolver(ResolverFn resolve) {
    resolver_.store(resolve, std::memory_order_release);
    binding_.store(nullptr, std::memory_order_release);
  }

  //! The binding, resolved on first use; nullptr with *message set (a CANN-coded text) when
  //! there is none.
  const Binding* Get(std::string* message) {
    const Binding* bound = binding_.load(std::memory_order_acquire);
    if (bound) return bound;
    ResolverFn resolve = resolver_.load(std::memory_order_acquire);
    if (resolve == nullptr) {
      *message = not_set_;
      return nullptr;
    }
    void* package = nullptr;
    void* backward = nullptr;
    void* last_error = nullptr;
    char text[2048] = {0};
    const int status = resolve(&package, &backward, &last_error, text, sizeof(text) - 1);
    if (status != 0 || !package || !backward || !last_error) {
      *message = text[0] ? text : "[E61001] In op[binary_cross_entropy_grad], the kernel package "
                                  "could not be opened";
      return nullptr;
    }
    auto* fresh = new Binding{static_cast<const bce_grad_package*>(package),
                              reinterpret_cast<BackwardFn>(backward),
                              reinterpret_cast<LastErrorFn>(last_error)};
    const Binding* expected = nullptr;
    if (!binding_.compare_exchange_strong(expected, fresh, std::memory_order_acq_rel)) {
      delete fresh;  // another thread published first (the resolver hands both the same package)
      return expected;
    }
    return fresh;
  }

  //! Whether a binding is published.
  bool Bound() const { return binding_.load(std::memory_order_acquire) != nullptr; }

 private:
  const char* not_set_;
  std::atomic<ResolverFn> resolver_{nullptr};
  std::atomic<const Binding*> binding_{nullptr};
};

}  // namespace bce_grad_adapter

#endif  // BCE_GRAD_ADAPTER_H_
