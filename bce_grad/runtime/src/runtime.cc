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
#include "tiling.h"

struct bce_grad_package {
  std::unique_ptr<bce_grad::Package> impl;
};

namespace bce_grad {
namespace {

thread_local std::string last_error;

const char* const kReductions[3] = {"none", "mean", "sum"};
//! A watched kernel touches its lock file at most this often (ns): LRU order to 10 ms.
constexpr int64_t kTouchNs = 10 * 1000 * 1000;
//! Pattern key prefix of a generic strided kernel (kernel_set.STRIDED).
const std::string kStrided = "strided";

//! TVM's thread pool reads a per-thread maximum concurrency (libtvm_runtime, thread_local); at 1
//! a kernel's parallel loop runs inline on the calling thread, without waking pool workers.
using SetMaxConcurrencyFn = void (*)(int);
SetMaxConcurrencyFn SetMaxConcurrency() {
  static SetMaxConcurrencyFn fn = reinterpret_cast<SetMaxConcurrencyFn>(
      dlsym(RTLD_DEFAULT, "_ZN3tvm7runtime9threading17SetMaxConcurrencyEi"));
  return fn;
}

//! Run on this thread alone while in scope; back to TVM's default (TVM_NUM_THREADS) after.
class SerialScope {
 public:
  explicit SerialScope(bool serial) : fn_(serial ? SetMaxConcurrency() : nullptr) {
    if (fn_) fn_(1);
  }
  ~SerialScope() {
    if (fn_) fn_(0);
  }
  SerialScope(const SerialScope&) = delete;
  SerialScope& operator=(const SerialScope&) = delete;

 private:
  SetMaxConcurrencyFn fn_;
};

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

//! E80012's text as the Python API's para_check.check_shape words it (no op name: "In op, ").
std::string RankMessage(const char* name, int64_t rank) {
  return std::string("In op, the num of dimensions of input/output[") + name + "] should be in "
         "the range of [0, " + std::to_string(kMaxRank) + "], but actually is [" +
         std::to_string(rank) + "].";
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
    Bad("E80012", RankMessage(name, t->ndim), false);
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
    Bad("E80012", RankMessage(arg.name, static_cast<int64_t>(arg.shape.size())), false);
  }
  for (int64_t d : arg.shape) {
    if (d < 0) {
      Bad("E80002", std::string("In op, the dim value[") + arg.name + "] should more than [0], "
          "but actually is [" + std::to_string(d) + "] (shape " + PyList(arg.shape) + ").", false);
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
std::pair<uintptr_t, uintptr_t> Bounds(const Arg& arg) {
  const DLTensor* t = arg.tensor;
  uintptr_t base = reinterpret_cast<uintptr_t>(t->data) + t->byte_offset;
  int64_t item = static_cast<int64_t>(ItemSize(t));
  int64_t lo = 0, hi = item, stride = 1;
  for (int a = t->ndim - 1; a >= 0; --a) {
    if (arg.shape[a] == 0) return {base, base};
    int64_t s = t->strides ? t->strides[a] : stride;
    int64_t span = s * (arg.shape[a] - 1) * item;
    (span < 0 ? lo : hi) += span;
    stride *= arg.shape[a];
  }
  return {base + lo, base + hi};
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
  Bad("E80008", Param(param) + " dtype should be one of " + PyList(allowed) + " on " +
      package.soc_version + " (op_info_cfg/ai_core/" + package.soc_dir + "), but actually is [" +
      dtype + "]");
}

void CheckOut(const Arg& out, const Arg& x, const std::vector<Arg>& inputs) {
  std::vector<std::string> problems;
  if (out.shape != x.shape) {
    problems.push_back("shape " + PyList(out.shape) + " should be x's shape " + PyList(x.shape));
  }
  if (!IsCompact(out.tensor)) problems.push_back("it should be C-contiguous");
  if (out.tensor->data == nullptr && Numel(out.shape, "out") > 0) problems.push_back("its data is NULL");
  std::vector<std::string> clash;
  auto ob = Bounds(out);
  for (const Arg& in : inputs) {
    auto ib = Bounds(in);
    if (ob.first < ob.second && ib.first < ib.second && ob.first < ib.second && ib.first < ob.second) {
      clash.push_back(in.name);
    }
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

//! The arguments of one launch and the storage they point into.
struct Launch {
  DLTensor views[5];
  int64_t strides[5][kMaxRank];
  std::vector<std::unique_ptr<char[]>> copies;
  tvm::ffi::AnyView args[8];
  int n = 0;

  //! Compact kernel: inputs reshaped to their canonical shapes (strided ones copied compact).
  void Compact(const std::vector<Arg>& inputs, const Arg& result, const Pattern& pattern) {
    for (size_t i = 0; i <= inputs.size(); ++i) {
      const Arg& arg = i < inputs.size() ? inputs[i] : result;
      DLTensor& view = views[i];
      view = *arg.tensor;
      const Shape& canon = pattern[i < inputs.size() ? i : 0];
      view.ndim = static_cast<int32_t>(canon.size());
      view.shape = const_cast<int64_t*>(canon.data());
      view.strides = nullptr;
      if (!IsCompact(arg.tensor)) {
        copies.emplace_back(new char[Numel(arg.shape, arg.name) * ItemSize(arg.tensor)]);
        CopyCompact(arg, copies.back().get());
        view.data = copies.back().get();
        view.byte_offset = 0;
      }
      args[n++] = &view;
    }
  }

  //! Generic strided kernel: every input takes x's canonical shape, stride 0 where it
  //! broadcasts; a missing weight is a stride-0 one; inputs of another dtype than the
  //! kernel's (float32 then) are widened into compact copies first.
  void Strided(const std::vector<Arg>& inputs, const Arg& result, const Pattern& pattern,
               const std::string& kernel_dtype) {
    static const float kOneF32 = 1.0f;
    static const uint16_t kOneF16 = 0x3C00, kOneBF16 = 0x3F80;
    const Shape& shape = pattern[0];
    const int rank = static_cast<int>(shape.size());
    for (size_t i = 0; i < 4; ++i) {
      DLTensor& view = views[i];
      const Shape& canon = i < inputs.size() ? pattern[i] : Shape(rank, 1);
      int64_t product = 1;
      for (int a = rank - 1; a >= 0; --a) {
        strides[i][a] = canon[a] == 1 ? 0 : product;
        product *= canon[a];
      }
      if (i < inputs.size()) {
        const Arg& arg = inputs[i];
        view = *arg.tensor;
        if (arg.dtype != kernel_dtype) {
          copies.emplace_back(new char[Numel(arg.shape, arg.name) * sizeof(float)]);
          WidenToFloat32(arg, reinterpret_cast<float*>(copies.back().get()));
          view.data = copies.back().get();
          view.byte_offset = 0;
          view.dtype = DLDataType{kDLFloat, 32, 1};
        } else if (!IsCompact(arg.tensor)) {
          copies.emplace_back(new char[Numel(arg.shape, arg.name) * ItemSize(arg.tensor)]);
          CopyCompact(arg, copies.back().get());
          view.data = copies.back().get();
          view.byte_offset = 0;
        }
      } else {  // no weight: a weight of ones, broadcast
        view = *inputs[0].tensor;
        view.dtype = inputs[0].tensor->dtype;
        const void* one = &kOneF32;
        if (kernel_dtype == "float16") {
          one = &kOneF16;
          view.dtype = DLDataType{kDLFloat, 16, 1};
        } else if (kernel_dtype == "bfloat16") {
          one = &kOneBF16;
          view.dtype = DLDataType{kDLBfloat, 16, 1};
        } else {
          view.dtype = DLDataType{kDLFloat, 32, 1};
        }
        view.data = const_cast<void*>(one);
        view.byte_offset = 0;
      }
      view.ndim = rank;
      view.shape = const_cast<int64_t*>(shape.data());
      view.strides = strides[i];
      args[n++] = &view;
    }
    DLTensor& out = views[4];
    out = *result.tensor;
    out.ndim = rank;
    out.shape = const_cast<int64_t*>(shape.data());
    out.strides = nullptr;
    args[n++] = &out;
  }
};

int Backward(const bce_grad_package* handle, const DLTensor* grad_output, const DLTensor* x,
             const DLTensor* y, const DLTensor* weight, int reduction, DLTensor* out) {
  if (handle == nullptr || !handle->impl) {
    Bad("E80000", "the parameter[package] is NULL; open one with bce_grad_package_open");
  }
  const Package& package = *handle->impl;
  if (!package.environment.empty()) package.CheckEnvironment();
  if (reduction < 0 || reduction > 2) {
    Bad("E80009", "the parameter[reduction] should be one of ['none', 'mean', 'sum'] or aclnn's "
        "enum [0, 1, 2], but actually is [" + std::to_string(reduction) + "]");
  }
  const DLTensor* given[4] = {x, y, grad_output, weight};
  for (int i = 0; i < 3; ++i) {
    if (given[i] == nullptr) {
      Bad("E80001", std::string("the mandatory parameter[") + kInputNames[i] + "] is missing (NULL)");
    }
  }
  if (out == nullptr) Bad("E80001", "the mandatory parameter[out] is missing (NULL)");
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
      Bad("E80029", std::string("the shape of inputs[x][") + inputs[i].name + "] are invalid, [shape " +
          PyList(inputs[i].shape) + " of " + inputs[i].name + " should broadcast to the shape " +
          PyList(ax.shape) + " of x].");
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
  std::shared_ptr<const KernelEntry> entry = Choose(package, dtypes, result.dtype, mean, key, pattern);
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
  Launch launch;
  if (entry->strided) {
    launch.Strided(inputs, result, pattern, entry->dtypes[0]);
  } else {
    launch.Compact(inputs, result, pattern);
  }
  for (const std::string& scalar : kc.scalars) {
    if (scalar == "cof") {
      launch.args[launch.n++] = cof;
    } else if (scalar == "cof_empty") {
      launch.args[launch.n++] = 0.0;
    } else {
      Fail(BCE_GRAD_ERR_PACKAGE, "E61001", "kernel [" + entry->name + "] needs the runtime scalar [" +
           scalar + "], which the host tiling does not provide");
    }
  }
  tvm::ffi::Any rv;
  try {
    SerialScope serial(count < package.serial_below);
    kc.func.CallPacked(launch.args, launch.n, &rv);
  } catch (const tvm::ffi::Error& err) {
    Fail(BCE_GRAD_ERR_LAUNCH, "E61001", "kernel [" + entry->name + "] failed: " + err.kind() +
         ": " + err.message());
  }
  return BCE_GRAD_OK;
}

int Tiling(int num_inputs, const int32_t* ndims, const int64_t* const* shapes, int reduction,
           int32_t* out_rank, int64_t* out_pattern, double* out_cof, int32_t* out_has_cof) {
  if (num_inputs < 1 || num_inputs > kMaxRank || !ndims || !shapes || !out_rank || !out_pattern ||
      !out_cof || !out_has_cof) {
    Bad("E80000", "bce_grad_tiling needs 1 to 8 inputs and non-NULL pointers", false);
  }
  if (reduction < 0 || reduction > 2) {
    Bad("E80009", "the parameter[reduction] should be one of ['none', 'mean', 'sum'] or aclnn's "
        "enum [0, 1, 2], but actually is [" + std::to_string(reduction) + "]");
  }
  std::vector<Shape> given;
  for (int i = 0; i < num_inputs; ++i) {
    const char* name = i < 4 ? kInputNames[i] : "input";
    if (ndims[i] < 0 || ndims[i] > kMaxRank) Bad("E80012", RankMessage(name, ndims[i]), false);
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
  return bce_grad::Guard([&] {
    return bce_grad::Backward(package, grad_output, x, y, weight_or_null, reduction, out);
  });
}

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
