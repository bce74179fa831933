// Copyright 2026 The bce-grad authors. Licensed under the Apache License, Version 2.0.
// SHA-256 (FIPS 180-4) of a file, in lower-case hex: the runtime checks each kernel .so
// against the digest its package records before it loads the file.
#ifndef BCE_GRAD_RUNTIME_SHA256_H_
#define BCE_GRAD_RUNTIME_SHA256_H_

#include <string>

namespace bce_grad {

//! Hex SHA-256 of the file at `path`; throws std::runtime_error if it cannot be read.
std::string FileSha256(const std::string& path);

//! Hex SHA-256 of a byte string (used by the self-test).
std::string Sha256Hex(const std::string& bytes);

}  // namespace bce_grad

#endif  // BCE_GRAD_RUNTIME_SHA256_H_
