// Copyright 2026 The bce-grad authors. Licensed under the Apache License, Version 2.0.
// SHA-256 as FIPS 180-4 defines it. The round constants and the initial hash are the first 32
// fractional bits of the cube roots (K) and square roots (H) of the first primes; they are
// derived here with exact integer roots instead of being typed in.
#include "sha256.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <stdexcept>

namespace bce_grad {
namespace {

using u128 = unsigned __int128;

//! floor(value ** (1/power)) for power 2 or 3, by bisection on exact 128-bit integers.
uint64_t IntegerRoot(u128 value, int power) {
  uint64_t lo = 0, hi = uint64_t{1} << 40;  // roots needed here are below 2^36
  while (lo < hi) {
    uint64_t mid = lo + (hi - lo + 1) / 2;
    u128 p = mid;
    for (int i = 1; i < power; ++i) p *= mid;
    if (p <= value) lo = mid; else hi = mid - 1;
  }
  return lo;
}

struct Constants {
  std::array<uint32_t, 64> k;
  std::array<uint32_t, 8> h;
  Constants() {
    int found = 0;
    for (uint32_t n = 2; found < 64; ++n) {
      bool prime = true;
      for (uint32_t d = 2; d * d <= n; ++d) prime = prime && (n % d != 0);
      if (!prime) continue;
      // frac(cbrt(n)) * 2^32 = cbrt(n * 2^96) mod 2^32; frac(sqrt(n)) * 2^32 = sqrt(n * 2^64) mod 2^32
      k[found] = static_cast<uint32_t>(IntegerRoot(u128(n) << 96, 3));
      if (found < 8) h[found] = static_cast<uint32_t>(IntegerRoot(u128(n) << 64, 2));
      ++found;
    }
  }
};

const Constants& Table() {
  static const Constants table;
  return table;
}

inline uint32_t Rotr(uint32_t v, int n) { return (v >> n) | (v << (32 - n)); }

class Sha256 {
 public:
  Sha256() : state_(Table().h) {}

  void Update(const unsigned char* data, size_t size) {
    length_ += size;
    while (size > 0) {
      size_t take = std::min(size, block_.size() - used_);
      std::copy(data, data + take, block_.begin() + used_);
      used_ += take, data += take, size -= take;
      if (used_ == block_.size()) Compress(), used_ = 0;
    }
  }

  std::string HexDigest() {
    uint64_t bits = length_ * 8;
    unsigned char pad = 0x80;
    Update(&pad, 1);
    unsigned char zero = 0;
    while (used_ != 56) Update(&zero, 1);
    unsigned char tail[8];
    for (int i = 0; i < 8; ++i) tail[i] = static_cast<unsigned char>(bits >> (56 - 8 * i));
    Update(tail, 8);
    char hex[65];
    for (int i = 0; i < 8; ++i) std::snprintf(hex + 8 * i, 9, "%08x", state_[i]);
    return std::string(hex, 64);
  }

 private:
  void Compress() {
    const auto& k = Table().k;
    uint32_t w[64];
    for (int i = 0; i < 16; ++i) {
      w[i] = uint32_t(block_[4 * i]) << 24 | uint32_t(block_[4 * i + 1]) << 16 |
             uint32_t(block_[4 * i + 2]) << 8 | uint32_t(block_[4 * i + 3]);
    }
    for (int i = 16; i < 64; ++i) {
      uint32_t s0 = Rotr(w[i - 15], 7) ^ Rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      uint32_t s1 = Rotr(w[i - 2], 17) ^ Rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = state_[0], b = state_[1], c = state_[2], d = state_[3];
    uint32_t e = state_[4], f = state_[5], g = state_[6], h = state_[7];
    for (int i = 0; i < 64; ++i) {
      uint32_t t1 = h + (Rotr(e, 6) ^ Rotr(e, 11) ^ Rotr(e, 25)) + ((e & f) ^ (~e & g)) + k[i] + w[i];
      uint32_t t2 = (Rotr(a, 2) ^ Rotr(a, 13) ^ Rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      h = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
    }
    state_[0] += a, state_[1] += b, state_[2] += c, state_[3] += d;
    state_[4] += e, state_[5] += f, state_[6] += g, state_[7] += h;
  }

  std::array<uint32_t, 8> state_;
  std::array<unsigned char, 64> block_{};
  size_t used_ = 0;
  uint64_t length_ = 0;
};

}  // namespace

std::string Sha256Hex(const std::string& bytes) {
  Sha256 sha;
  sha.Update(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  return sha.HexDigest();
}

std::string FileSha256(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) throw std::runtime_error("cannot open " + path);
  Sha256 sha;
  std::array<unsigned char, 1 << 16> buffer;
  size_t got;
  while ((got = std::fread(buffer.data(), 1, buffer.size(), file.get())) > 0) sha.Update(buffer.data(), got);
  if (std::ferror(file.get())) throw std::runtime_error("cannot read " + path);
  return sha.HexDigest();
}

}  // namespace bce_grad
