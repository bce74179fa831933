/**
 * Copyright 2025 the bce-grad authors. Licensed under the Apache License, Version 2.0.
 *
 * InferShape of BinaryCrossEntropyGrad: the output copies x's shape, dtype, format and shape
 * range. An unknown rank (dims == {-2}) stays unknown, with an empty range. op_proto/infer_shape.py
 * is the same rule in Python, used by the host backend; testcases/op_proto checks the two
 * against one table of cases.
 *
 * Only CANN's public ge:: API (graph/operator_reg.h) is used, so this file compiles against the
 * graph headers that any CANN release or the torch-npu wheel ships.
 */
#include "binary_cross_entropy_grad.h"

#include <cstdint>
#include <utility>
#include <vector>

namespace ge {
namespace {
constexpr int64_t kUnknownDim = -1;   // one dim of unknown size
constexpr int64_t kUnknownRank = -2;  // dims == {-2}: the number of dims is unknown too

bool IsUnknownRank(const std::vector<int64_t>& dims) {
  return dims.size() == 1U && dims[0] == kUnknownRank;
}

// The range of each dim: empty for an unknown rank; x's own range when it has one per dim;
// else [d, d] for a known dim and [1, -1] (unbounded) for an unknown one.
std::vector<std::pair<int64_t, int64_t>> OutputRange(const TensorDesc& x_desc) {
  std::vector<std::pair<int64_t, int64_t>> range;
  const std::vector<int64_t> dims = x_desc.GetShape().GetDims();
  if (IsUnknownRank(dims)) {
    return range;
  }
  if (x_desc.GetShapeRange(range) == GRAPH_SUCCESS && range.size() == dims.size()) {
    return range;
  }
  range.clear();
  for (const int64_t dim : dims) {
    range.emplace_back(dim == kUnknownDim ? std::make_pair(int64_t{1}, int64_t{-1})
                                          : std::make_pair(dim, dim));
  }
  return range;
}
}  // namespace

IMPLEMT_COMMON_INFERFUNC(BinaryCrossEntropyGradInferShape) {
  const TensorDesc x_desc = op.GetInputDescByName("x");
  TensorDesc output_desc = op.GetOutputDescByName("output");
  output_desc.SetShape(x_desc.GetShape());
  output_desc.SetDataType(x_desc.GetDataType());
  output_desc.SetFormat(x_desc.GetFormat());
  if (output_desc.SetShapeRange(OutputRange(x_desc)) != GRAPH_SUCCESS) {
    return GRAPH_FAILED;
  }
  if (op.UpdateOutputDesc("output", output_desc) != GRAPH_SUCCESS) {
    return GRAPH_FAILED;
  }
  return GRAPH_SUCCESS;
}

COMMON_INFER_FUNC_REG(BinaryCrossEntropyGrad, BinaryCrossEntropyGradInferShape);
}  // namespace ge
