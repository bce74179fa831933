// Copyright 2026 The bce-grad authors. Licensed under the Apache License, Version 2.0.
// Shared pieces of the native runtime: the failure type the ABI turns into a status and a
// message, the op's constants, and Python-style formatting so messages read as the Python API's.
#ifndef BCE_GRAD_RUNTIME_COMMON_H_
#define BCE_GRAD_RUNTIME_COMMON_H_

#include <dlpack/dlpack.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "bce_grad_runtime.h"

namespace bce_grad {

constexpr const char* kOpName = BCE_GRAD_OP_NAME;
constexpr int kMaxRank = BCE_GRAD_MAX_RANK;
//! Inputs in the operator's order; the output is "output" in op info, "out" in this ABI.
constexpr const char* kInputNames[4] = {"x", "y", "grad_output", "weight"};

using Shape = std::vector<int64_t>;

//! A failure with its ABI status and its full message ("[E80029] In op[...], ...").
class Failure : public std::runtime_error {
 public:
  Failure(int status, const std::string& message) : std::runtime_error(message), status(status) {}
  int status;
};

//! "[code] In op[binary_cross_entropy_grad], detail" as the Python OpError formats it.
inline std::string OpMessage(const char* code, const std::string& detail, bool with_op = true) {
  return std::string("[") + code + "] " + (with_op ? std::string("In op[") + kOpName + "], " : "") +
         detail;
}

[[noreturn]] inline void Fail(int status, const char* code, const std::string& detail,
                              bool with_op = true) {
  throw Failure(status, OpMessage(code, detail, with_op));
}

//! Python's repr of a list of ints: "[2, 3]".
inline std::string PyList(const Shape& dims) {
  std::string text = "[";
  for (size_t i = 0; i < dims.size(); ++i) text += (i ? ", " : "") + std::to_string(dims[i]);
  return text + "]";
}

//! Python's repr of a list of str: "['float16', 'float32']".
inline std::string PyList(const std::vector<std::string>& items) {
  std::string text = "[";
  for (size_t i = 0; i < items.size(); ++i) text += (i ? ", '" : "'") + items[i] + "'";
  return text + "]";
}

//! numpy-style name of a DLPack dtype: float16, bfloat16, float32, int64, bool, ...
inline std::string DtypeName(DLDataType t) {
  std::string base;
  switch (t.code) {
    case kDLFloat: base = "float"; break;
    case kDLBfloat: base = "bfloat"; break;
    case kDLInt: base = "int"; break;
    case kDLUInt: base = "uint"; break;
    case kDLBool: return "bool";
    case kDLComplex: base = "complex"; break;
    default: base = "dtype_code" + std::to_string(t.code) + "_"; break;
  }
  std::string name = base + std::to_string(t.bits);
  if (t.lanes != 1) name += "x" + std::to_string(t.lanes);
  return name;
}

}  // namespace bce_grad

#endif  // BCE_GRAD_RUNTIME_COMMON_H_
