/**
 * Host check of the op proto's InferShape, for testcases/op_proto/test_infer_shape_parity.py.
 *
 * Compiled with the ge:: TEST DOUBLE in ge_test_double/ (not CANN): it includes the real
 * op_proto/binary_cross_entropy_grad.cc, finds its InferShape in the registry by op type, as
 * GE does, and runs it on each case read from stdin, one case a line:
 *
 *   <dtype> <format> <rank> <dim>... <range count, -1 for no range> <lo> <hi>...
 *
 * For each case it prints one line, the output desc in the same layout, after "ok" (or
 * "failed" when InferShape returned an error). Exit status 2: bad input or no InferShape.
 */
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "binary_cross_entropy_grad.cc"

namespace {
const std::vector<std::pair<std::string, ge::DataType>> kDataTypes = {
    {"float32", ge::DT_FLOAT}, {"float16", ge::DT_FLOAT16}, {"bfloat16", ge::DT_BF16}};
const std::vector<std::pair<std::string, ge::Format>> kFormats = {
    {"ND", ge::FORMAT_ND}, {"NCHW", ge::FORMAT_NCHW}, {"NHWC", ge::FORMAT_NHWC}};

template <typename Value>
bool Lookup(const std::vector<std::pair<std::string, Value>>& table, const std::string& name,
            Value* value) {
  for (const auto& entry : table) {
    if (entry.first == name) {
      *value = entry.second;
      return true;
    }
  }
  return false;
}

template <typename Value>
std::string NameOf(const std::vector<std::pair<std::string, Value>>& table, Value value) {
  for (const auto& entry : table) {
    if (entry.second == value) {
      return entry.first;
    }
  }
  return "unset";
}

bool ReadCase(std::istream& in, ge::TensorDesc* x_desc) {
  std::string dtype_name;
  std::string format_name;
  int64_t rank = 0;
  int64_t range_count = 0;
  ge::DataType dtype = ge::DT_UNDEFINED;
  ge::Format format = ge::FORMAT_RESERVED;
  if (!(in >> dtype_name >> format_name >> rank) || rank < 0 ||
      !Lookup(kDataTypes, dtype_name, &dtype) || !Lookup(kFormats, format_name, &format)) {
    return false;
  }
  std::vector<int64_t> dims(static_cast<size_t>(rank));
  for (int64_t& dim : dims) {
    in >> dim;
  }
  if (!(in >> range_count)) {
    return false;
  }
  x_desc->SetShape(ge::Shape(dims));
  x_desc->SetDataType(dtype);
  x_desc->SetFormat(format);
  if (range_count >= 0) {
    std::vector<std::pair<int64_t, int64_t>> range(static_cast<size_t>(range_count));
    for (auto& bounds : range) {
      in >> bounds.first >> bounds.second;
    }
    x_desc->SetShapeRange(range);
  }
  return static_cast<bool>(in);
}

void PrintDesc(const ge::TensorDesc& desc) {
  const std::vector<int64_t> dims = desc.GetShape().GetDims();
  std::vector<std::pair<int64_t, int64_t>> range;
  desc.GetShapeRange(range);
  std::cout << NameOf(kDataTypes, desc.GetDataType()) << ' ' << NameOf(kFormats, desc.GetFormat())
            << ' ' << dims.size();
  for (const int64_t dim : dims) {
    std::cout << ' ' << dim;
  }
  std::cout << ' ' << range.size();
  for (const auto& bounds : range) {
    std::cout << ' ' << bounds.first << ' ' << bounds.second;
  }
  std::cout << '\n';
}
}  // namespace

int main() {
  const auto found = ge::InferShapeRegistry().find("BinaryCrossEntropyGrad");
  if (found == ge::InferShapeRegistry().end()) {
    std::cerr << "no InferShape registered for BinaryCrossEntropyGrad\n";
    return 2;
  }
  ge::TensorDesc x_desc;
  while (std::cin >> std::ws && !std::cin.eof()) {
    if (!ReadCase(std::cin, &x_desc)) {
      std::cerr << "malformed case line on stdin\n";
      return 2;
    }
    ge::Operator op;
    op.AddInput("x", x_desc);
    op.AddOutput("output");
    const bool ok = found->second(op) == ge::GRAPH_SUCCESS;
    std::cout << (ok ? "ok " : "failed ");
    PrintDesc(op.GetOutputDescByName("output"));
    x_desc = ge::TensorDesc();
  }
  return 0;
}
