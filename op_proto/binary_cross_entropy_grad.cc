/**
 * Copyright 2025 the bce-grad authors. Licensed under the Apache License, Version 2.0.
 *
 * InferShape of BinaryCrossEntropyGrad: the output copies x's shape, dtype and shape
 * range. An unknown rank (-2) stays unknown. op_proto/infer_shape.py is the same rule in
 * Python, used by the host backend; keep the two in step.
 */
#include "binary_cross_entropy_grad.h"

#include <utility>
#include <vector>

namespace ge {
namespace {
constexpr int64_t kUnknownDim = -1;

// The range of each dim: x's own range when it has one per dim, else [d, d] for a known
// dim and [1, -1] (unbounded) for an unknown one.
std::vector<std::pair<int64_t, int64_t>> OutputRange(const TensorDesc& x_desc) {
  std::vector<std::pair<int64_t, int64_t>> range;
  const std::vector<int64_t> dims = x_desc.GetShape().GetDims();
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
  if (!x_desc.GetShape().IsUnknownDimNum()) {
    output_desc.SetShapeRange(OutputRange(x_desc));
  }
  if (op.UpdateOutputDesc("output", output_desc) != GRAPH_SUCCESS) {
    return GRAPH_FAILED;
  }
  return GRAPH_SUCCESS;
}

COMMON_INFER_FUNC_REG(BinaryCrossEntropyGrad, BinaryCrossEntropyGradInferShape);
}  // namespace ge
