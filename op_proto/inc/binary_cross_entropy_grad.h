/**
 * Copyright 2025 the bce-grad authors. Licensed under the Apache License, Version 2.0.
 *
 * IR of the custom operator BinaryCrossEntropyGrad.
 * The dtypes and formats each SoC supports are listed in the op info file of each SoC,
 * op_info_cfg/ai_core/<soc>/binary_cross_entropy_grad.ini; the TensorType lists below
 * are their union.
 */
#ifndef OPS_BUILT_IN_OP_PROTO_INC_BINARY_CROSS_ENTROPY_GRAD_H_
#define OPS_BUILT_IN_OP_PROTO_INC_BINARY_CROSS_ENTROPY_GRAD_H_

#include "graph/operator_reg.h"

namespace ge {
/**
*@brief Computes the gradient of binary cross entropy with respect to the prediction x. \n
* output = grad_output * weight * (x - y) / max(x * (1 - x), 1e-12), element by element;
* with reduction "mean" the result is further multiplied by 1 / numel(x) (0 when x is empty).
* No reduction is performed: the output always has x's shape, whatever the reduction. \n

*@par Inputs:
*Four inputs, including:
*@li x: A tensor of predicted probabilities, expected in [0, 1].
* Must be one of the following types: float16, float32, bfloat16. Format: ND.
*@li y: A tensor of target values, expected in [0, 1] (usually 0 or 1).
* Same type as x; broadcasts to x's shape. Format: ND.
*@li grad_output: The gradient flowing back from the loss.
* Same type as x; broadcasts to x's shape. Format: ND.
*@li weight: An optional rescaling weight. Same type as x; broadcasts to x's shape.
* When absent, every element has weight 1. Format: ND. \n

*@par Attributes:
*reduction: An optional string, one of "none", "mean" or "sum". Defaults to "mean".
* "mean" scales the gradient by 1 / numel(x); "none" and "sum" leave it unscaled. \n

*@par Outputs:
*output: A tensor with the same shape, type and format as x. \n

*@attention Constraints:
*@li bfloat16 is supported only where the SoC's op info lists it
* (ascend910b, ascend910_93 and ascend950).
*@li Inputs of different float types are promoted to a common type. \n

*@par Third-party framework compatibility
*Compatible with the PyTorch operator binary_cross_entropy_backward (BCELoss's gradient).
*/
REG_OP(BinaryCrossEntropyGrad)
    .INPUT(x, TensorType({DT_FLOAT, DT_FLOAT16, DT_BF16}))
    .INPUT(y, TensorType({DT_FLOAT, DT_FLOAT16, DT_BF16}))
    .INPUT(grad_output, TensorType({DT_FLOAT, DT_FLOAT16, DT_BF16}))
    .OPTIONAL_INPUT(weight, TensorType({DT_FLOAT, DT_FLOAT16, DT_BF16}))
    .OUTPUT(output, TensorType({DT_FLOAT, DT_FLOAT16, DT_BF16}))
    .ATTR(reduction, String, "mean")
    .OP_END_FACTORY_REG(BinaryCrossEntropyGrad)
}  // namespace ge

#endif  // OPS_BUILT_IN_OP_PROTO_INC_BINARY_CROSS_ENTROPY_GRAD_H_
