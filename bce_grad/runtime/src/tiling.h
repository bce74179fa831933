// Copyright 2026 The bce-grad authors. Licensed under the Apache License, Version 2.0.
// The operator's host tiling in C++: the broadcast pattern of a call and its mean coefficient.
// The Python functions stay the reference; testcases/runtime compares both on random shapes:
//   canonical pattern  <->  bce_grad.host_backend.dsl.classify.canonical_pattern
//   mean coefficient   <->  impl.dynamic.binary_cross_entropy_grad.binary_cross_entropy_grad_tiling
#ifndef BCE_GRAD_RUNTIME_TILING_H_
#define BCE_GRAD_RUNTIME_TILING_H_

#include <string>
#include <vector>

#include "common.h"

namespace bce_grad {

//! One canonical shape per input, all of one rank >= 1 (see CanonicalPattern).
using Pattern = std::vector<Shape>;

/*!
 * Canonicalise broadcasting shapes: align ranks (leading 1s), drop axes where every input is 1,
 * merge adjacent axes where the same inputs are 1 (sizes multiply), and keep one axis of 1s
 * when nothing is left. Exactly what canonical_pattern does for known dims. An input whose
 * element count overflows int64 is refused first (Numel: E80002 naming it).
 */
Pattern CanonicalPattern(const std::vector<Shape>& shapes);

//! The pattern's key: per input, one char per axis ('d' a dim, '1' broadcast), joined by '_'.
std::string PatternKey(const Pattern& pattern);

/*!
 * The mean coefficient as CANN's op tiling computes it (op_tiling/binary_cross_entropy_grad.cc):
 * float 1.0f divided by each dim of x in order, in float32 (1.0f / d0 / d1 / ...); 0 when x is
 * empty (no kernel runs then). Not float32(1.0 / numel), the static entry's constant: the two
 * differ by 1 ulp for some shapes. Exactly representable in double, so passing it to a kernel
 * whose cof is float32 keeps its bits, and to a float16 one rounds it once, as CANN's fp16_t
 * conversion does. Twin of impl/binary_cross_entropy_grad.py:mean_cof_tiling.
 */
float MeanCoefficient(const Shape& x_shape);

//! Whether `shape` broadcasts to `target` (numpy's rule, trailing dims aligned).
bool BroadcastsTo(const Shape& shape, const Shape& target);

//! Product of dims (throws Failure E80002 naming `param` if it overflows int64).
int64_t Numel(const Shape& shape, const char* param);

}  // namespace bce_grad

#endif  // BCE_GRAD_RUNTIME_TILING_H_
