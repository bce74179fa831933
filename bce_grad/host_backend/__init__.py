"""The host backend: CANN's ``tbe`` Python API implemented on Apache TVM.

A TBE DSL operator written against CANN's public API compiles here to real
kernels: LLVM code for the host CPU, or CUDA for NVIDIA GPUs. The pipeline is
compute (:mod:`bce_grad.host_backend.dsl`) -> schedule (:mod:`bce_grad.host_backend.schedule`) ->
build (:mod:`bce_grad.host_backend.build`, writes ``kernel_meta/``) -> launch
(:mod:`bce_grad.host_backend.launch`).

TVM's runtime reads ``TVM_NUM_THREADS`` once when it starts; unless the user set
it, the backend uses every core the process may run on. Importing this package does
not import TVM; importing TVM through it does not import PyTorch
(:mod:`~bce_grad.host_backend.import_guard`).
"""
import os

from bce_grad.host_backend.import_guard import install as _install_import_guard

_install_import_guard()

os.environ.setdefault("TVM_NUM_THREADS", str(len(os.sched_getaffinity(0))))
