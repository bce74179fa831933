// Copyright 2026 The bce-grad authors. Licensed under the Apache License, Version 2.0.
#include "tiling.h"

#include <algorithm>
#include <cstdint>

namespace bce_grad {

Pattern CanonicalPattern(const std::vector<Shape>& shapes) {
  const size_t n = shapes.size();
  // merged axes multiply dims: refuse an input whose element count int64 cannot hold first
  for (size_t i = 0; i < n; ++i) Numel(shapes[i], i < 4 ? kInputNames[i] : "input");
  size_t rank = 0;
  for (const Shape& s : shapes) rank = std::max(rank, s.size());
  // columns[a][i]: dim a of input i once ranks are aligned; keep axes where some input is not 1
  std::vector<Shape> merged;
  std::vector<bool> last_mask;
  for (size_t a = 0; a < rank; ++a) {
    Shape column(n);
    std::vector<bool> mask(n);
    bool kept = false;
    for (size_t i = 0; i < n; ++i) {
      size_t lead = rank - shapes[i].size();
      column[i] = a < lead ? 1 : shapes[i][a - lead];
      mask[i] = column[i] == 1;
      kept = kept || !mask[i];
    }
    if (!kept) continue;
    if (!merged.empty() && mask == last_mask) {
      for (size_t i = 0; i < n; ++i) merged.back()[i] = mask[i] ? 1 : merged.back()[i] * column[i];
    } else {
      merged.push_back(column);
      last_mask = mask;
    }
  }
  if (merged.empty()) merged.push_back(Shape(n, 1));
  Pattern pattern(n, Shape(merged.size()));
  for (size_t a = 0; a < merged.size(); ++a) {
    for (size_t i = 0; i < n; ++i) pattern[i][a] = merged[a][i];
  }
  return pattern;
}

std::string PatternKey(const Pattern& pattern) {
  std::string key;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (i) key += '_';
    for (int64_t d : pattern[i]) key += d == 1 ? '1' : 'd';
  }
  return key;
}

float MeanCoefficient(const Shape& x_shape) {
  for (int64_t d : x_shape) {
    if (d == 0) return 0.0f;
  }
  // volatile: each quotient is stored as a float (no excess precision, e.g. on an x87 FPU)
  volatile float cof = 1.0f;
  for (int64_t d : x_shape) cof = cof / static_cast<float>(d);
  return cof;
}

bool BroadcastsTo(const Shape& shape, const Shape& target) {
  if (shape.size() > target.size()) return false;
  size_t lead = target.size() - shape.size();
  for (size_t a = 0; a < shape.size(); ++a) {
    if (shape[a] != 1 && shape[a] != target[lead + a]) return false;
  }
  return true;
}

int64_t Numel(const Shape& shape, const char* param) {
  int64_t count = 1;
  for (int64_t d : shape) {
    if (d == 0) return 0;
  }
  for (int64_t d : shape) {
    if (__builtin_mul_overflow(count, d, &count)) {
      Fail(BCE_GRAD_ERR_ARGUMENT, "E80002", std::string("the parameter[") + param +
           "] should be in the range of [0, " + std::to_string(INT64_MAX) + "], but actually is "
           "[more than " + std::to_string(INT64_MAX) + " elements (shape " + PyList(shape) +
           "); its element count must fit int64].");
    }
  }
  return count;
}

}  // namespace bce_grad
