// Copyright 2026 The bce-grad authors. Licensed under the Apache License, Version 2.0.
// The C ABI: check a call as the Python API does, tile it, launch its kernel. Every C++ exception
// stops at this file's boundary and becomes a status plus the thread's last-error message.
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/error.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <new>

#include "bce_grad_runtime.h"
#include "common.h"
#include "package.h"
#include "parallel.h"
#include "tiling.h"

struct bce_grad_package {
  std::unique_ptr<bce_grad::Package> impl;
};

namespace bce_grad {
namespace {

thread_local std::string last_error;

const char* const kReductions[BCE_GRAD_REDUCTION_COUNT] = BCE_GRAD_REDUCTION_NAMES;
//! A watched kernel touches its lock file at most this often (ns): LRU order to 10 ms.
constexpr int64_t kTouchNs = 10 * 1000 * 1000;
//! Pattern key prefix of a generic strided kernel (kernel_set.STRIDED).
const std::string kStrided = "strided";

struct Arg {
  const char* name;
  const DLTensor* tensor;
  Shape shape;
  std::string dtype;
};

[[noreturn]] void Bad(const char* code, const std::string& detail, bool with_op = true) {
  Fail(BCE_GRAD_ERR_ARGUMENT, code, detail, with_op);
}

std::string Param(const char* name) { return std::string("the parameter[") + name + "]"; }

//! The shared E80009 text (bce_grad.op_messages.REDUCTION) for a reduction value.
std::string ReductionMessage(const std::string& value) {
  return bce_grad_facts::Render(BCE_GRAD_MSG_REDUCTION, {{"names", BCE_GRAD_REDUCTION_NAME_LIST},
                                {"values", BCE_GRAD_REDUCTION_ENUM_LIST}, {"value", value}});
}

//! The shared E80012 text (bce_grad.op_messages.RANK, para_check.check_shape's words).
std::string RankMessage(const char* name, int64_t rank) {
  return bce_grad_facts::Render(BCE_GRAD_MSG_RANK, {{"param", name}, {"min_rank", "0"},
                                {"max_rank", std::to_string(kMaxRank)},
                                {"rank", std::to_string(rank)}});
}

//! Device of one tensor checked, its dims read; the rank and the dims are checked later
//! (CheckShape), in the Python API's order: every dtype first, then every shape.
Arg Describe(const char* name, const DLTensor* t) {
  if (t->device.device_type != kDLCPU) {
    Bad("E80000", Param(name) + " should be a CPU tensor (kDLCPU), but actually is on device "
        "type " + std::to_string(t->device.device_type));
  }
  Arg arg{name, t, {}, DtypeName(t->dtype)};
  if (t->ndim < 0) {
    Bad(BCE_GRAD_MSG_RANK_CODE, RankMessage(name, t->ndim), BCE_GRAD_MSG_RANK_WITH_OP);
  }
  if (t->ndim > 0 && t->shape == nullptr) {
    Bad("E80000", Param(name) + " has no shape (NULL) for its " + std::to_string(t->ndim) +
        " dims");
  }
  arg.shape.assign(t->shape, t->shape + t->ndim);
  return arg;
}

/*!
 * The operator's shape rule for an input, with the codes and words of the Python API's
 * para_check.check_shape: rank in [0, 8] (E80012), then every dim >= 0 (E80002; a -1, which
 * only a compile description may hold, is refused too: a call has actual dims).
 */
void CheckShape(const Arg& arg) {
  if (arg.shape.size() > static_cast<size_t>(kMaxRank)) {
    Bad(BCE_GRAD_MSG_RANK_CODE, RankMessage(arg.name, static_cast<int64_t>(arg.shape.size())),
        BCE_GRAD_MSG_RANK_WITH_OP);
  }
  for (int64_t d : arg.shape) {
    if (d < 0) {
      Bad(BCE_GRAD_MSG_DIM_CODE, bce_grad_facts::Render(BCE_GRAD_MSG_DIM, {
          {"param", arg.name}, {"min_dim", "0"}, {"dim", std::to_string(d)},
          {"shape", PyList(arg.shape)}}), BCE_GRAD_MSG_DIM_WITH_OP);
    }
  }
}

bool IsCompact(const DLTensor* t) {
  if (t->strides == nullptr) return true;
  for (int a = 0; a < t->ndim; ++a) {
    if (t->shape[a] == 0) return true;  // nothing to address
  }
  int64_t expected = 1;
  for (int a = t->ndim - 1; a >= 0; --a) {
    if (t->shape[a] != 1 && t->strides[a] != expected) return false;
    expected *= t->shape[a];
  }
  return true;
}

size_t ItemSize(const DLTensor* t) { return (t->dtype.bits * t->dtype.lanes + 7) / 8; }

//! [lo, hi) bytes a tensor can touch (as numpy's may_share_memory bounds them); empty: lo == hi.
std::pair<uintptr_t, uintptr_t> Bounds(const DLTensor* t) {
  uintptr_t base = reinterpret_cast<uintptr_t>(t->data) + t->byte_offset;
  int64_t item = static_cast<int64_t>(ItemSize(t));
  int64_t lo = 0, hi = item, stride = 1;
  for (int a = t->ndim - 1; a >= 0; --a) {
    if (t->shape[a] == 0) return {base, base};
    int64_t s = t->strides ? t->strides[a] : stride;
    int64_t span = s * (t->shape[a] - 1) * item;
    (span < 0 ? lo : hi) += span;
    stride *= t->shape[a];
  }
  return {base + lo, base + hi};
}

//! Whether `out` may share bytes with any of the `count` tensors (null ones skipped).
bool Overlaps(const DLTensor* out, const DLTensor* const* tensors, size_t count) {
  auto ob = Bounds(out);
  for (size_t i = 0; i < count; ++i) {
    if (tensors[i] == nullptr) continue;
    auto ib = Bounds(tensors[i]);
    if (ob.first < ob.second && ib.first < ib.second && ob.first < ib.second && ib.first < ob.second) {
      return true;
    }
  }
  return false;
}

//! Gather a strided tensor into compact storage (row-major), element by element.
void CopyCompact(const Arg& arg, char* dst) {
  const DLTensor* t = arg.tensor;
  const size_t item = ItemSize(t);
  const char* base = static_cast<const char*>(t->data) + t->byte_offset;
  const int rank = t->ndim;
  int64_t index[kMaxRank] = {0};
  int64_t count = Numel(arg.shape, arg.name);
  for (int64_t n = 0; n < count; ++n, dst += item) {
    int64_t offset = 0;
    for (int a = 0; a < rank; ++a) offset += index[a] * t->strides[a];
    std::memcpy(dst, base + offset * static_cast<int64_t>(item), item);
    for (int a = rank - 1; a >= 0 && ++index[a] == arg.shape[a]; --a) index[a] = 0;
  }
}

void CheckDtype(const Package& package, const char* param, const char* info_name,
                const std::string& dtype) {
  const auto& allowed = package.op_info.at(info_name);
  for (const auto& name : allowed) {
    if (name == dtype) return;
  }
  Bad(BCE_GRAD_MSG_DTYPE_CODE, bce_grad_facts::Render(BCE_GRAD_MSG_DTYPE, {
      {"param", param}, {"allowed", PyList(allowed)}, {"soc", package.soc_version},
      {"soc_dir", package.soc_dir}, {"dtype", dtype}}));
}

void CheckOut(const Arg& out, const Arg& x, const std::vector<Arg>& inputs) {
  std::vector<std::string> problems;
  if (out.shape != x.shape) {
    problems.push_back("shape " + PyList(out.shape) + " should be x's shape " + PyList(x.shape));
  }
  if (!IsCompact(out.tensor)) problems.push_back("it should be C-contiguous");
  if (out.tensor->data == nullptr && Numel(out.shape, "out") > 0) problems.push_back("its data is NULL");
  std::vector<std::string> clash;
  for (const Arg& in : inputs) {
    if (Overlaps(out.tensor, &in.tensor, 1)) clash.push_back(in.name);
  }
  if (!clash.empty()) problems.push_back("it should not overlap the input(s) " + PyList(clash));
  if (problems.empty()) return;
  std::string detail = Param("out") + " is unusable: ";
  for (size_t i = 0; i < problems.size(); ++i) detail += (i ? "; " : "") + problems[i];
  Bad("E80000", detail);
}

const KernelCase& PickCase(const std::vector<KernelCase>& cases, const Pattern& pattern,
                           const std::string& name) {
  for (const KernelCase& kc : cases) {
    if (kc.tensors.size() != pattern.size() + 1) continue;
    bool fits = true;
    for (size_t i = 0; i <= pattern.size() && fits; ++i) {
      const Shape& want = pattern[i < pattern.size() ? i : 0];
      const Shape& dims = kc.tensors[i].dims;
      fits = dims.size() == want.size();
      for (size_t a = 0; fits && a < dims.size(); ++a) fits = dims[a] < 0 || dims[a] == want[a];
    }
    if (fits) return kc;
  }
  Fail(BCE_GRAD_ERR_PACKAGE, "E61001", "kernel [" + name + "] has no case for the pattern " +
       PatternKey(pattern));
}

//! The kernel of a call: a compact fast path of its exact pattern, else the generic strided
//! kernel of its canonical rank for its dtypes, else the float32 one (inputs widened, exact).
std::shared_ptr<const KernelEntry> Choose(const Package& package,
                                          const std::vector<std::string>& dtypes,
                                          const std::string& out, bool mean,
                                          const std::string& key, const Pattern& pattern) {
  std::shared_ptr<const KernelEntry> entry = mean ? nullptr : package.Find(dtypes, out, "plain", key);
  if (entry == nullptr) entry = package.Find(dtypes, out, "mean", key);
  if (entry != nullptr) return entry;
  std::string strided = kStrided + std::to_string(pattern[0].size());
  bool uniform = true;
  for (const std::string& d : dtypes) uniform = uniform && d == dtypes[0];
  if (uniform) {
    entry = package.Find(std::vector<std::string>(4, dtypes[0]), out, "mean", strided);
    if (entry != nullptr) return entry;
  }
  return package.Find(std::vector<std::string>(4, "float32"), out, "mean", strided);
}

//! A watched kernel (the numpy API's cache) runs only while its files are the ones loaded;
//! otherwise the caller goes back to the cache, which verifies, warns and rebuilds.
void CheckWatched(const KernelEntry& entry) {
  if (!(Identify(entry.json_path) == entry.json_identity) ||
      !(Identify(entry.so_path) == entry.so_identity)) {
    Fail(BCE_GRAD_ERR_NO_KERNEL, "E61001", "kernel [" + entry.name + "] changed on disk since it "
         "was loaded (" + entry.so_path + "); load it again");
  }
  // LRU bookkeeping as the cache does it (the lock file's mtime), at most every kTouchNs
  int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::steady_clock::now().time_since_epoch()).count();
  int64_t last = entry.last_touch_ns.load(std::memory_order_relaxed);
  if (!entry.lock_path.empty() && now - last >= kTouchNs &&
      entry.last_touch_ns.compare_exchange_strong(last, now, std::memory_order_relaxed)) {
    ::utimensat(AT_FDCWD, entry.lock_path.c_str(), nullptr, 0);
  }
}

//! float16 bits to float32, exactly (normal, subnormal, zero, inf, NaN).
float HalfToFloat(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000 | (mant << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else {  // subnormal: normalise
    int shift = 0;
    while (!(mant & 0x400)) mant <<= 1, ++shift;
    bits = sign | (static_cast<uint32_t>(113 - shift) << 23) | ((mant & 0x3ff) << 13);
  }
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

//! A compact float32 copy of an input (any strides, float16 / bfloat16 / float32).
void WidenToFloat32(const Arg& arg, float* dst) {
  const DLTensor* t = arg.tensor;
  const char* base = static_cast<const char*>(t->data) + t->byte_offset;
  const int rank = t->ndim;
  const size_t item = ItemSize(t);
  int64_t index[kMaxRank] = {0};
  int64_t count = Numel(arg.shape, arg.name);
  const bool compact = IsCompact(t);
  for (int64_t n = 0; n < count; ++n) {
    int64_t offset = n;
    if (!compact) {
      offset = 0;
      for (int a = 0; a < rank; ++a) offset += index[a] * t->strides[a];
      for (int a = rank - 1; a >= 0 && ++index[a] == arg.shape[a]; --a) index[a] = 0;
    }
    const char* src = base + offset * static_cast<int64_t>(item);
    if (t->dtype.code == kDLFloat && t->dtype.bits == 32) {
      std::memcpy(dst + n, src, 4);
    } else {
      uint16_t h;
      std::memcpy(&h, src, 2);
      if (t->dtype.code == kDLBfloat) {
        uint32_t bits = static_cast<uint32_t>(h) << 16;
        std::memcpy(dst + n, &bits, 4);
      } else {
        dst[n] = HalfToFloat(h);
      }
    }
  }
}

//! The dtype a kernel's key names ("float16", "bfloat16", else float32).
DLDataType KernelDtype(const std::string& name) {
  if (name == "float16") return DLDataType{kDLFloat, 16, 1};
  if (name == "bfloat16") return DLDataType{kDLBfloat, 16, 1};
  return DLDataType{kDLFloat, 32, 1};
}

bool SameDtype(DLDataType a, DLDataType b) {
  return a.code == b.code && a.bits == b.bits && a.lanes == b.lanes;
}

//! The arguments of one launch and the storage they point into. Tensors given to Compact and
//! Strided are compact and, for a strided kernel, of its dtype: Usable() makes them so.
struct Launch {
  DLTensor views[5];
  DLTensor owned[4];  // compact copies of inputs that were not
  int64_t strides[5][kMaxRank];
  std::vector<std::unique_ptr<char[]>> copies;
  tvm::ffi::AnyView args[8];
  int n = 0;

  //! Input `i` as a kernel can read it: itself when compact (and of `dtype`, if given), else a
  //! compact copy (widened to float32 when its dtype differs).
  const DLTensor* Usable(size_t i, const Arg& arg, const DLDataType* dtype) {
    const bool widen = dtype != nullptr && !SameDtype(arg.tensor->dtype, *dtype);
    if (!widen && IsCompact(arg.tensor)) return arg.tensor;
    DLTensor& copy = owned[i];
    copy = *arg.tensor;
    copies.emplace_back(new char[Numel(arg.shape, arg.name) * (widen ? sizeof(float) : ItemSize(arg.tensor))]);
    if (widen) {
      WidenToFloat32(arg, reinterpret_cast<float*>(copies.back().get()));
      copy.dtype = DLDataType{kDLFloat, 32, 1};
    } else {
      CopyCompact(arg, copies.back().get());
    }
    copy.data = copies.back().get();
    copy.byte_offset = 0;
    copy.strides = nullptr;
    return &copy;
  }

  //! Compact kernel: each tensor (inputs, then out) reshaped to its canonical shape.
  void Compact(const DLTensor* const* inputs, size_t count, const DLTensor* out,
               const Pattern& pattern) {
    for (size_t i = 0; i <= count; ++i) {
      DLTensor& view = views[i];
      view = i < count ? *inputs[i] : *out;
      const Shape& canon = pattern[i < count ? i : 0];
      view.ndim = static_cast<int32_t>(canon.size());
      view.shape = const_cast<int64_t*>(canon.data());
      view.strides = nullptr;
      args[n++] = &view;
    }
  }

  //! Generic strided kernel: every input takes x's canonical shape, stride 0 where it
  //! broadcasts; a missing weight (null) is a stride-0 one of the kernel's dtype.
  void Strided(const DLTensor* const* inputs, const DLTensor* out, const Pattern& pattern,
               DLDataType dtype) {
    static const float kOneF32 = 1.0f;
    static const uint16_t kOneF16 = 0x3C00, kOneBF16 = 0x3F80;
    const Shape& shape = pattern[0];
    const int rank = static_cast<int>(shape.size());
    for (size_t i = 0; i < 4; ++i) {
      DLTensor& view = views[i];
      const bool given = inputs[i] != nullptr;
      int64_t product = 1;
      for (int a = rank - 1; a >= 0; --a) {
        strides[i][a] = !given || pattern[i][a] == 1 ? 0 : product;
        product *= given ? pattern[i][a] : 1;
      }
      view = *inputs[given ? i : 0];
      if (!given) {  // no weight: a weight of ones, broadcast
        view.dtype = dtype;
        view.data = const_cast<void*>(dtype.bits == 32 ? static_cast<const void*>(&kOneF32)
                                      : dtype.code == kDLBfloat ? &kOneBF16 : &kOneF16);
        view.byte_offset = 0;
      }
      view.ndim = rank;
      view.shape = const_cast<int64_t*>(shape.data());
      view.strides = strides[i];
      args[n++] = &view;
    }
    DLTensor& result = views[4];
    result = *out;
    result.ndim = rank;
    result.shape = const_cast<int64_t*>(shape.data());
    result.strides = nullptr;
    args[n++] = &result;
  }
};

/*!
 * What a call's checks, kernel choice and tiling depend on besides its data pointers: the
 * reduction and, per tensor (x, y, grad_output, weight, out), its presence, dtype, rank and dims.
 * Only calls whose tensors are all on the CPU, compact and of rank <= 8 have one.
 */
struct Signature {
  int64_t words[1 + 5 * (2 + kMaxRank)];
  int used = 0;
  bool operator==(const Signature& o) const {
    return used == o.used && std::memcmp(words, o.words, used * sizeof(int64_t)) == 0;
  }
};

bool Sign(const DLTensor* const tensors[5], int reduction, Signature* sig) {
  int n = 0;
  sig->words[n++] = reduction;
  for (int i = 0; i < 5; ++i) {
    const DLTensor* t = tensors[i];
    if (t == nullptr) {
      sig->words[n++] = -1;
      continue;
    }
    if (t->device.device_type != kDLCPU || t->ndim < 0 || t->ndim > kMaxRank ||
        (t->ndim > 0 && t->shape == nullptr) || !IsCompact(t)) {
      return false;
    }
    sig->words[n++] = (int64_t{t->dtype.code} << 32) | (int64_t{t->dtype.bits} << 16) | t->dtype.lanes;
    sig->words[n++] = t->ndim;
    for (int a = 0; a < t->ndim; ++a) sig->words[n++] = t->shape[a];
  }
  sig->used = n;
  return true;
}

/*!
 * The last call of this thread that passed every check and launched with no copy: a call with
 * the same signature, on the same package at the same kernel generation, reuses its kernel,
 * case, canonical pattern and scalars, and checks only what the signature does not hold (data
 * present, out apart from the inputs). A (4, 4) call then costs a few hundred ns here, not
 * about 2 us of strings, vectors and a map lookup.
 */
struct Memo {
  uint64_t package_id = 0, generation = 0;
  Signature sig;
  std::shared_ptr<const KernelEntry> entry;  // keeps its module (and `kc`) alive
  const KernelCase* kc = nullptr;
  Pattern pattern;
  DLDataType dtype{};  // a strided kernel's
  double scalars[4] = {0, 0, 0, 0};
  int num_scalars = 0;
  int64_t count = 0;
};

thread_local Memo memo;

//! Launch the kernel case with the views in `launch` and the scalars; count picks serial.
void Run(const Package& package, const KernelEntry& entry, const KernelCase& kc, Launch& launch,
         const double* scalars, int num_scalars, int64_t count) {
  for (int i = 0; i < num_scalars; ++i) launch.args[launch.n++] = scalars[i];
  tvm::ffi::Any rv;
  try {
    LaunchScope scope(CurrentExecutor(), count < package.serial_below);
    kc.func.CallPacked(launch.args, launch.n, &rv);
  } catch (const tvm::ffi::Error& err) {
    Fail(BCE_GRAD_ERR_LAUNCH, "E61001", "kernel [" + entry.name + "] failed: " + err.kind() +
         ": " + err.message());
  }
}

//! The call through this thread's memo; false (nothing done) when the memo does not serve it.
bool FromMemo(const Package& package, const Signature& sig, const DLTensor* const tensors[5]) {
  if (memo.package_id != package.id || memo.generation != package.Generation() || !(memo.sig == sig)) {
    return false;
  }
  for (int i = 0; i < 5; ++i) {
    if (tensors[i] != nullptr && tensors[i]->data == nullptr) return false;  // the full path says so
  }
  if (Overlaps(tensors[4], tensors, 4)) return false;
  if (memo.entry->watched) CheckWatched(*memo.entry);
  Launch launch;
  const DLTensor* inputs[4] = {tensors[0], tensors[1], tensors[2], tensors[3]};
  if (memo.entry->strided) {
    launch.Strided(inputs, tensors[4], memo.pattern, memo.dtype);
  } else {
    launch.Compact(inputs, tensors[3] ? 4 : 3, tensors[4], memo.pattern);
  }
  Run(package, *memo.entry, *memo.kc, launch, memo.scalars, memo.num_scalars, memo.count);
  return true;
}

//! The package's miss handler, asked for the kernel of a call that none serves; throws its
//! refusal as BCE_GRAD_ERR_NO_KERNEL.
void AskForKernel(const Package& package, const std::vector<Arg>& inputs,
                  const std::vector<std::string>& dtypes, const std::string& output,
                  int reduction, const Pattern& pattern) {
  std::string names, shapes;
  for (size_t i = 0; i < inputs.size(); ++i) {
    names += std::string(i ? ", \"" : "\"") + inputs[i].name + "\"";
    shapes += (i ? ", " : "") + PyList(pattern[i]);
  }
  std::string types;
  for (size_t i = 0; i < dtypes.size(); ++i) types += (i ? ", \"" : "\"") + dtypes[i] + "\"";
  const std::string need = "{\"inputs\": [" + names + "], \"dtypes\": [" + types +
                            "], \"output\": \"" + output + "\", \"reduction\": \"" +
                            kReductions[reduction] + "\", \"shapes\": [" + shapes + "]}";
  char message[2048] = {0};
  const bce_grad_miss_fn fn = package.miss_fn.load(std::memory_order_acquire);
  if (fn(package.miss_ctx, need.c_str(), message, sizeof(message) - 1) != 0) {
    message[sizeof(message) - 1] = '\0';
    throw Failure(BCE_GRAD_ERR_NO_KERNEL,
                  message[0] ? std::string(message)
                             : OpMessage("E61001", "no kernel serves " + need +
                                                   " and the package's miss handler added none"));
  }
}

int Backward(const bce_grad_package* handle, const DLTensor* grad_output, const DLTensor* x,
             const DLTensor* y, const DLTensor* weight, int reduction, DLTensor* out) {
  if (handle == nullptr || !handle->impl) {
    Bad("E80000", "the parameter[package] is NULL; open one with bce_grad_package_open");
  }
  const Package& package = *handle->impl;
  if (!package.environment.empty()) package.CheckEnvironment();
  if (reduction < 0 || reduction >= BCE_GRAD_REDUCTION_COUNT) {
    Bad(BCE_GRAD_MSG_REDUCTION_CODE, ReductionMessage(std::to_string(reduction)));
  }
  const DLTensor* given[4] = {x, y, grad_output, weight};
  for (int i = 0; i < 3; ++i) {
    if (given[i] == nullptr) {
      Bad("E80001", std::string("the mandatory parameter[") + kInputNames[i] + "] is missing (NULL)");
    }
  }
  if (out == nullptr) Bad("E80001", "the mandatory parameter[out] is missing (NULL)");
  const DLTensor* const tensors[5] = {x, y, grad_output, weight, out};
  Signature sig;
  const bool signed_call = Sign(tensors, reduction, &sig);
  if (signed_call && FromMemo(package, sig, tensors)) return BCE_GRAD_OK;

  std::vector<Arg> inputs;
  for (int i = 0; i < 4; ++i) {
    if (given[i]) inputs.push_back(Describe(kInputNames[i], given[i]));
  }
  Arg result = Describe("out", out);
  // The Python API's checks, codes, words and order (bce_grad.api, impl's
  // check_binary_cross_entropy_grad): dtypes per op info (inputs, then the result: "output" as
  // op info names it), rank and dims per input, broadcast to x, then `out` itself.
  for (const Arg& in : inputs) CheckDtype(package, in.name, in.name, in.dtype);
  CheckDtype(package, "output", "output", result.dtype);
  for (const Arg& in : inputs) CheckShape(in);
  const Arg& ax = inputs[0];
  for (size_t i = 1; i < inputs.size(); ++i) {
    if (!BroadcastsTo(inputs[i].shape, ax.shape)) {  // error_manager_vector's E80029
      Bad(BCE_GRAD_MSG_BROADCAST_CODE, bce_grad_facts::Render(BCE_GRAD_MSG_BROADCAST, {
          {"param", inputs[i].name}, {"shape", PyList(inputs[i].shape)},
          {"x_shape", PyList(ax.shape)}}));
    }
  }
  CheckOut(result, ax, inputs);
  for (const Arg& in : inputs) {
    if (in.tensor->data == nullptr && Numel(in.shape, in.name) > 0) {
      Bad("E80000", Param(in.name) + " has no data (NULL) for shape " + PyList(in.shape));
    }
  }
  const int64_t count = Numel(ax.shape, "x");
  if (count == 0) return BCE_GRAD_OK;

  // host tiling: the broadcast pattern, the kernel, the runtime scalars
  std::vector<Shape> shapes;
  std::vector<std::string> dtypes;
  for (const Arg& in : inputs) shapes.push_back(in.shape), dtypes.push_back(in.dtype);
  Pattern pattern = CanonicalPattern(shapes);
  std::string key = PatternKey(pattern);
  const bool mean = reduction == BCE_GRAD_REDUCTION_MEAN;
  // CANN's op tiling value (float32, see MeanCoefficient); a mean kernel serves none and sum
  // exactly with cof = 1
  const double cof = mean ? static_cast<double>(MeanCoefficient(ax.shape)) : 1.0;
  uint64_t generation = package.Generation();  // before Find: a later Add() misses the memo
  std::shared_ptr<const KernelEntry> entry = Choose(package, dtypes, result.dtype, mean, key, pattern);
  if (entry == nullptr && package.miss_fn.load(std::memory_order_acquire) != nullptr) {
    AskForKernel(package, inputs, dtypes, result.dtype, reduction, pattern);
    generation = package.Generation();
    entry = Choose(package, dtypes, result.dtype, mean, key, pattern);
  }
  if (entry == nullptr) {
    std::string what;
    for (size_t i = 0; i < inputs.size(); ++i) what += std::string(inputs[i].name) + "=" + dtypes[i] + ", ";
    std::string canon;
    for (size_t i = 0; i < pattern.size(); ++i) canon += (i ? ", " : "") + PyList(pattern[i]);
    Fail(BCE_GRAD_ERR_NO_KERNEL, "E61001", "the kernel package " + package.dir + " (" +
         package.soc_version + ") has no kernel for the broadcast pattern " + key +
         " (canonical shapes [" + canon + "]) with dtypes " + what + "out=" + result.dtype +
         ", reduction=" + kReductions[reduction] + "; add it with `bce-grad aot` (--max-rank " +
         std::to_string(pattern[0].size()) + "), or its generic kernel (" + kStrided +
         std::to_string(pattern[0].size()) + ")");
  }
  if (entry->watched) CheckWatched(*entry);
  const Pattern& shapes_passed = entry->strided ? Pattern(4, pattern[0]) : pattern;
  const KernelCase& kc = PickCase(entry->Load(), shapes_passed, entry->name);
  double scalars[4];
  int num_scalars = 0;
  for (const std::string& scalar : kc.scalars) {
    if (num_scalars == 4 || (scalar != "cof" && scalar != "cof_empty")) {
      Fail(BCE_GRAD_ERR_PACKAGE, "E61001", "kernel [" + entry->name + "] needs the runtime scalar [" +
           scalar + "], which the host tiling does not provide");
    }
    scalars[num_scalars++] = scalar == "cof" ? cof : 0.0;
  }
  const DLDataType dtype = KernelDtype(entry->dtypes[0]);
  Launch launch;
  const DLTensor* usable[4] = {nullptr, nullptr, nullptr, nullptr};
  for (size_t i = 0; i < inputs.size(); ++i) {
    usable[i] = launch.Usable(i, inputs[i], entry->strided ? &dtype : nullptr);
  }
  if (entry->strided) {
    launch.Strided(usable, out, pattern, dtype);
  } else {
    launch.Compact(usable, inputs.size(), out, pattern);
  }
  const bool memorable = signed_call && launch.copies.empty();
  Run(package, *entry, kc, launch, scalars, num_scalars, count);
  if (memorable) {
    memo.package_id = package.id;
    memo.generation = generation;
    memo.sig = sig;
    memo.entry = entry;
    memo.kc = &kc;
    memo.pattern = std::move(pattern);
    memo.dtype = dtype;
    std::copy(scalars, scalars + num_scalars, memo.scalars);
    memo.num_scalars = num_scalars;
    memo.count = count;
  }
  return BCE_GRAD_OK;
}

int Tiling(int num_inputs, const int32_t* ndims, const int64_t* const* shapes, int reduction,
           int32_t* out_rank, int64_t* out_pattern, double* out_cof, int32_t* out_has_cof) {
  if (num_inputs < 1 || num_inputs > kMaxRank || !ndims || !shapes || !out_rank || !out_pattern ||
      !out_cof || !out_has_cof) {
    Bad("E80000", "bce_grad_tiling needs 1 to 8 inputs and non-NULL pointers", false);
  }
  if (reduction < 0 || reduction >= BCE_GRAD_REDUCTION_COUNT) {
    Bad(BCE_GRAD_MSG_REDUCTION_CODE, ReductionMessage(std::to_string(reduction)));
  }
  std::vector<Shape> given;
  for (int i = 0; i < num_inputs; ++i) {
    const char* name = i < 4 ? kInputNames[i] : "input";
    if (ndims[i] < 0 || ndims[i] > kMaxRank) {
      Bad(BCE_GRAD_MSG_RANK_CODE, RankMessage(name, ndims[i]), BCE_GRAD_MSG_RANK_WITH_OP);
    }
    if (ndims[i] > 0 && !shapes[i]) {
      Bad("E80000", Param(name) + " has no shape (NULL) for its " + std::to_string(ndims[i]) + " dims");
    }
    given.emplace_back(shapes[i], shapes[i] + ndims[i]);
    CheckShape(Arg{name, nullptr, given.back(), ""});
  }
  Pattern pattern = CanonicalPattern(given);
  *out_rank = static_cast<int32_t>(pattern[0].size());
  for (int i = 0; i < num_inputs; ++i) {
    std::copy(pattern[i].begin(), pattern[i].end(), out_pattern + i * kMaxRank);
  }
  *out_has_cof = reduction == BCE_GRAD_REDUCTION_MEAN;
  *out_cof = *out_has_cof ? MeanCoefficient(given[0]) : 0.0;
  return BCE_GRAD_OK;
}

//! Run `body`; turn any exception into a status and the thread's message.
template <typename Body>
int Guard(Body body) {
  try {
    last_error.clear();
    return body();
  } catch (const Failure& err) {
    last_error = err.what();
    return err.status;
  } catch (const tvm::ffi::Error& err) {
    last_error = OpMessage("E61001", err.kind() + ": " + err.message());
    return BCE_GRAD_ERR_PACKAGE;
  } catch (const std::bad_alloc&) {
    last_error = OpMessage("E61001", "out of memory");
    return BCE_GRAD_ERR_INTERNAL;
  } catch (const std::exception& err) {
    last_error = OpMessage("E61001", std::string("unexpected failure: ") + err.what());
    return BCE_GRAD_ERR_INTERNAL;
  } catch (...) {
    last_error = OpMessage("E61001", "unexpected failure of an unknown kind");
    return BCE_GRAD_ERR_INTERNAL;
  }
}

}  // namespace
}  // namespace bce_grad

extern "C" {

int bce_grad_abi_version(void) { return BCE_GRAD_RUNTIME_ABI_VERSION; }

int bce_grad_package_open(const char* dir, unsigned flags, bce_grad_package** out) {
  return bce_grad::Guard([&] {
    if (out == nullptr) bce_grad::Bad("E80000", "the parameter[out] of bce_grad_package_open is NULL");
    *out = nullptr;
    if (dir == nullptr || *dir == '\0') {
      bce_grad::Bad("E80000", "the parameter[dir] should name a kernel package directory, but "
                    "actually is empty (NULL)");
    }
    auto handle = std::make_unique<bce_grad_package>();
    handle->impl = bce_grad::Package::Open(dir, flags);
    *out = handle.release();
    return static_cast<int>(BCE_GRAD_OK);
  });
}

int bce_grad_package_open_text(const char* manifest_json, const char* dir, unsigned flags,
                               bce_grad_package** out) {
  return bce_grad::Guard([&] {
    if (out == nullptr) bce_grad::Bad("E80000", "the parameter[out] of bce_grad_package_open_text is NULL");
    *out = nullptr;
    if (manifest_json == nullptr) {
      bce_grad::Bad("E80000", "the parameter[manifest_json] should be a manifest's JSON text, but "
                    "actually is NULL");
    }
    auto handle = std::make_unique<bce_grad_package>();
    handle->impl = bce_grad::Package::FromText(manifest_json, dir ? dir : "", flags);
    *out = handle.release();
    return static_cast<int>(BCE_GRAD_OK);
  });
}

int bce_grad_package_add_kernel(bce_grad_package* package, const char* entry_json) {
  return bce_grad::Guard([&] {
    if (package == nullptr || !package->impl) {
      bce_grad::Bad("E80000", "the parameter[package] is NULL; open one with bce_grad_package_open");
    }
    if (entry_json == nullptr) {
      bce_grad::Bad("E80000", "the parameter[entry_json] should be a kernel entry's JSON text, but "
                    "actually is NULL");
    }
    package->impl->Add(entry_json);
    return static_cast<int>(BCE_GRAD_OK);
  });
}

int bce_grad_package_set_miss_handler(bce_grad_package* package, bce_grad_miss_fn fn,
                                      void* ctx) {
  return bce_grad::Guard([&] {
    if (package == nullptr || !package->impl) {
      bce_grad::Bad("E80000", "the parameter[package] is NULL; open one with bce_grad_package_open");
    }
    package->impl->miss_ctx = ctx;
    package->impl->miss_fn.store(fn, std::memory_order_release);
    return static_cast<int>(BCE_GRAD_OK);
  });
}

void bce_grad_package_close(bce_grad_package* package) {
  bce_grad::Guard([&] {
    delete package;
    return static_cast<int>(BCE_GRAD_OK);
  });
}

const char* bce_grad_package_soc(const bce_grad_package* package) {
  return package && package->impl ? package->impl->soc_version.c_str() : nullptr;
}

int bce_grad_package_kernel_count(const bce_grad_package* package) {
  return package && package->impl ? static_cast<int>(package->impl->Count()) : -1;
}

int bce_grad_backward(const bce_grad_package* package, const DLTensor* grad_output,
                      const DLTensor* x, const DLTensor* y, const DLTensor* weight_or_null,
                      int reduction, DLTensor* out) {
  return bce_grad_backward_on(package, grad_output, x, y, weight_or_null, reduction, out, nullptr);
}

int bce_grad_backward_on(const bce_grad_package* package, const DLTensor* grad_output,
                         const DLTensor* x, const DLTensor* y, const DLTensor* weight_or_null,
                         int reduction, DLTensor* out, const bce_grad_executor* executor) {
  return bce_grad::Guard([&] {
    bce_grad::LaunchScope scope(executor, false);
    return bce_grad::Backward(package, grad_output, x, y, weight_or_null, reduction, out);
  });
}

int bce_grad_adopt_kernel(const char* so_path) {
  return bce_grad::Guard([&] {
    if (so_path == nullptr || !bce_grad::AdoptKernel(so_path)) {
      bce_grad::Bad("E80000", std::string("the parameter[so_path] should name a kernel library "
                    "loaded in this process, but actually is [") + (so_path ? so_path : "NULL") +
                    "]");
    }
    return static_cast<int>(BCE_GRAD_OK);
  });
}

int bce_grad_pool_size(void) { return bce_grad::PoolSize(); }

int bce_grad_tiling(int num_inputs, const int32_t* ndims, const int64_t* const* shapes,
                    int reduction, int32_t* out_rank, int64_t* out_pattern, double* out_cof,
                    int32_t* out_has_cof) {
  return bce_grad::Guard([&] {
    return bce_grad::Tiling(num_inputs, ndims, shapes, reduction, out_rank, out_pattern, out_cof,
                            out_has_cof);
  });
}

const char* bce_grad_last_error(void) { return bce_grad::last_error.c_str(); }

}  // extern "C"
