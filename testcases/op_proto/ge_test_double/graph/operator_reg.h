/**
 * TEST DOUBLE of CANN's graph/operator_reg.h, written for testcases/op_proto only. Never ship it.
 *
 * REG_OP(...).INPUT(...)...OP_END_FACTORY_REG(...) compiles to a class whose constructor
 * walks the chain, so the IR is still type-checked (TensorType lists real DataType names)
 * though nothing is registered. IMPLEMT_COMMON_INFERFUNC declares the function as
 * GE does, and COMMON_INFER_FUNC_REG puts it in a registry that the host check program
 * looks up by op type, as GE finds it.
 */
#ifndef BCE_GRAD_GE_TEST_DOUBLE_GRAPH_OPERATOR_REG_H_
#define BCE_GRAD_GE_TEST_DOUBLE_GRAPH_OPERATOR_REG_H_

#include <functional>
#include <initializer_list>
#include <map>
#include <string>
#include <vector>

#include "graph/operator.h"

namespace ge {
using InferShapeFunc = std::function<graphStatus(Operator&)>;

class TensorType {
 public:
  TensorType(std::initializer_list<DataType> types) : types_(types) {}

 private:
  std::vector<DataType> types_;
};

// The op types whose InferShape was registered, by name.
inline std::map<std::string, InferShapeFunc>& InferShapeRegistry() {
  static std::map<std::string, InferShapeFunc> registry;
  return registry;
}

struct InferShapeFuncRegister {
  InferShapeFuncRegister(const char* op_type, const InferShapeFunc& func) {
    InferShapeRegistry()[op_type] = func;
  }
};

// The REG_OP chain: each link takes what the real one takes and checks nothing more.
struct IrDecl {
  IrDecl& Input(const char*, const TensorType&) { return *this; }
  IrDecl& Output(const char*, const TensorType&) { return *this; }
  template <typename Value>
  IrDecl& Attr(const char*, const Value&) { return *this; }
  void End() {}
};
}  // namespace ge

#define REG_OP(x)    \
  namespace op {     \
  struct x {         \
    x() {            \
      ::ge::IrDecl()
#define INPUT(x, t) Input(#x, t)
#define OPTIONAL_INPUT(x, t) Input(#x, t)
#define OUTPUT(x, t) Output(#x, t)
#define ATTR(x, Type, ...) Attr(#x, __VA_ARGS__)
#define OP_END_FACTORY_REG(x) \
  End();                      \
  }                           \
  };                          \
  }

#define IMPLEMT_COMMON_INFERFUNC(func_name) static graphStatus func_name(Operator& op)
#define BCE_GRAD_PASTE_(a, b) a##b
#define BCE_GRAD_PASTE(a, b) BCE_GRAD_PASTE_(a, b)
#define COMMON_INFER_FUNC_REG(op_name, x)                                      \
  static const InferShapeFuncRegister BCE_GRAD_PASTE(if_register_, __COUNTER__)( \
      #op_name, [](Operator& v) { return x(v); })

#endif  // BCE_GRAD_GE_TEST_DOUBLE_GRAPH_OPERATOR_REG_H_
