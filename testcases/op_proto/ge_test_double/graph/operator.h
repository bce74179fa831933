/**
 * TEST DOUBLE of CANN's graph/operator.h, written for testcases/op_proto only. Never ship it.
 *
 * It provides exactly the ge:: types and members that op_proto/binary_cross_entropy_grad.cc
 * uses, with the meaning CANN's public headers document: a Shape is its dims (-1: unknown
 * dim; {-2}: unknown rank); a TensorDesc holds shape, dtype, format and shape range; an
 * Operator holds named input and output descs. Unlike GE, an unknown input or output name
 * aborts, so that a misspelt name in the op proto fails the test instead of passing silently.
 */
#ifndef BCE_GRAD_GE_TEST_DOUBLE_GRAPH_OPERATOR_H_
#define BCE_GRAD_GE_TEST_DOUBLE_GRAPH_OPERATOR_H_

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace ge {
using graphStatus = uint32_t;
const graphStatus GRAPH_SUCCESS = 0;
const graphStatus GRAPH_FAILED = 0xFFFFFFFF;

enum DataType { DT_FLOAT = 0, DT_FLOAT16 = 1, DT_BF16 = 27, DT_UNDEFINED = 28 };
enum Format { FORMAT_NCHW = 0, FORMAT_NHWC = 1, FORMAT_ND = 2, FORMAT_RESERVED = 40 };

class Shape {
 public:
  Shape() = default;
  explicit Shape(const std::vector<int64_t>& dims) : dims_(dims) {}
  std::vector<int64_t> GetDims() const { return dims_; }

 private:
  std::vector<int64_t> dims_;
};

class TensorDesc {
 public:
  Shape GetShape() const { return shape_; }
  void SetShape(const Shape& shape) { shape_ = shape; }
  DataType GetDataType() const { return dtype_; }
  void SetDataType(DataType dtype) { dtype_ = dtype; }
  Format GetFormat() const { return format_; }
  void SetFormat(Format format) { format_ = format; }
  graphStatus SetShapeRange(const std::vector<std::pair<int64_t, int64_t>>& range) {
    range_ = range;
    return GRAPH_SUCCESS;
  }
  // As in GE: succeeds with an empty range when none was set.
  graphStatus GetShapeRange(std::vector<std::pair<int64_t, int64_t>>& range) const {
    range = range_;
    return GRAPH_SUCCESS;
  }

 private:
  Shape shape_;
  DataType dtype_ = DT_UNDEFINED;
  Format format_ = FORMAT_RESERVED;
  std::vector<std::pair<int64_t, int64_t>> range_;
};

class Operator {
 public:
  void AddInput(const std::string& name, const TensorDesc& desc) { inputs_[name] = desc; }
  void AddOutput(const std::string& name) { outputs_[name] = TensorDesc(); }

  TensorDesc GetInputDescByName(const char* name) const { return Find(inputs_, name); }
  TensorDesc GetOutputDescByName(const char* name) const { return Find(outputs_, name); }
  graphStatus UpdateOutputDesc(const char* name, const TensorDesc& desc) {
    Find(outputs_, name);
    outputs_[name] = desc;
    return GRAPH_SUCCESS;
  }

 private:
  static TensorDesc Find(const std::map<std::string, TensorDesc>& descs, const char* name) {
    const auto found = descs.find(name);
    if (found == descs.end()) {
      std::fprintf(stderr, "ge test double: the operator has no input or output named '%s'\n", name);
      std::abort();
    }
    return found->second;
  }

  std::map<std::string, TensorDesc> inputs_;
  std::map<std::string, TensorDesc> outputs_;
};
}  // namespace ge

#endif  // BCE_GRAD_GE_TEST_DOUBLE_GRAPH_OPERATOR_H_
