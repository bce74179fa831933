// Copyright 2026 The bce-grad authors. Licensed under the Apache License, Version 2.0.
#include "cpu_features.h"

#include <array>
#include <cstdint>
#include <map>
#include <utility>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#elif defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

namespace bce_grad {
namespace {

//! Host features by LLVM name; a name absent from the map is one this runtime cannot check.
using FeatureMap = std::map<std::string, bool>;

#if defined(__x86_64__) || defined(__i386__)

//! Register state the OS must save on a context switch before a feature's registers are usable.
enum class State { kNone, kAvx, kAvx512, kAmx };

//! Where CPUID reports one feature: (leaf, subleaf) -> register, bit.
struct Bit {
  const char* name;
  uint32_t leaf, subleaf;
  int reg;  // 0 eax, 1 ebx, 2 ecx, 3 edx
  int bit;
  State state;
};

// Intel SDM vol. 2A (CPUID) and AMD APM vol. 3; names as LLVM's X86 target spells them.
constexpr Bit kBits[] = {
    {"cmov", 1, 0, 3, 15, State::kNone},       {"mmx", 1, 0, 3, 23, State::kNone},
    {"fxsr", 1, 0, 3, 24, State::kNone},       {"sse", 1, 0, 3, 25, State::kNone},
    {"sse2", 1, 0, 3, 26, State::kNone},       {"cx8", 1, 0, 3, 8, State::kNone},
    {"sse3", 1, 0, 2, 0, State::kNone},        {"pclmul", 1, 0, 2, 1, State::kNone},
    {"ssse3", 1, 0, 2, 9, State::kNone},       {"fma", 1, 0, 2, 12, State::kAvx},
    {"cx16", 1, 0, 2, 13, State::kNone},       {"sse4.1", 1, 0, 2, 19, State::kNone},
    {"sse4.2", 1, 0, 2, 20, State::kNone},     {"crc32", 1, 0, 2, 20, State::kNone},
    {"movbe", 1, 0, 2, 22, State::kNone},      {"popcnt", 1, 0, 2, 23, State::kNone},
    {"aes", 1, 0, 2, 25, State::kNone},        {"xsave", 1, 0, 2, 26, State::kAvx},
    {"avx", 1, 0, 2, 28, State::kAvx},         {"f16c", 1, 0, 2, 29, State::kAvx},
    {"rdrnd", 1, 0, 2, 30, State::kNone},
    {"fsgsbase", 7, 0, 1, 0, State::kNone},    {"bmi", 7, 0, 1, 3, State::kNone},
    {"avx2", 7, 0, 1, 5, State::kAvx},         {"bmi2", 7, 0, 1, 8, State::kNone},
    {"avx512f", 7, 0, 1, 16, State::kAvx512},  {"avx512dq", 7, 0, 1, 17, State::kAvx512},
    {"rdseed", 7, 0, 1, 18, State::kNone},     {"adx", 7, 0, 1, 19, State::kNone},
    {"avx512ifma", 7, 0, 1, 21, State::kAvx512}, {"clflushopt", 7, 0, 1, 23, State::kNone},
    {"clwb", 7, 0, 1, 24, State::kNone},       {"avx512cd", 7, 0, 1, 28, State::kAvx512},
    {"sha", 7, 0, 1, 29, State::kNone},        {"avx512bw", 7, 0, 1, 30, State::kAvx512},
    {"avx512vl", 7, 0, 1, 31, State::kAvx512},
    {"avx512vbmi", 7, 0, 2, 1, State::kAvx512}, {"avx512vbmi2", 7, 0, 2, 6, State::kAvx512},
    {"gfni", 7, 0, 2, 8, State::kNone},        {"vaes", 7, 0, 2, 9, State::kAvx},
    {"vpclmulqdq", 7, 0, 2, 10, State::kAvx},  {"avx512vnni", 7, 0, 2, 11, State::kAvx512},
    {"avx512bitalg", 7, 0, 2, 12, State::kAvx512},
    {"avx512vpopcntdq", 7, 0, 2, 14, State::kAvx512}, {"rdpid", 7, 0, 2, 22, State::kNone},
    {"avx512vp2intersect", 7, 0, 3, 8, State::kAvx512},
    {"amx-bf16", 7, 0, 3, 22, State::kAmx},    {"avx512fp16", 7, 0, 3, 23, State::kAvx512},
    {"amx-tile", 7, 0, 3, 24, State::kAmx},    {"amx-int8", 7, 0, 3, 25, State::kAmx},
    {"avxvnni", 7, 1, 0, 4, State::kAvx},      {"avx512bf16", 7, 1, 0, 5, State::kAvx512},
    {"amx-fp16", 7, 1, 0, 21, State::kAmx},    {"avxifma", 7, 1, 0, 23, State::kAvx},
    {"avxvnniint8", 7, 1, 3, 4, State::kAvx},  {"avxneconvert", 7, 1, 3, 5, State::kAvx},
    {"amx-complex", 7, 1, 3, 8, State::kAmx},  {"avxvnniint16", 7, 1, 3, 10, State::kAvx},
    {"amx-fp8", 0x1e, 1, 0, 4, State::kAmx},   {"amx-transpose", 0x1e, 1, 0, 5, State::kAmx},
    {"amx-tf32", 0x1e, 1, 0, 6, State::kAmx},  {"amx-avx512", 0x1e, 1, 0, 7, State::kAmx},
    {"amx-movrs", 0x1e, 1, 0, 8, State::kAmx},
    {"sahf", 0x80000001, 0, 2, 0, State::kNone}, {"lzcnt", 0x80000001, 0, 2, 5, State::kNone},
    {"sse4a", 0x80000001, 0, 2, 6, State::kNone}, {"prfchw", 0x80000001, 0, 2, 8, State::kNone},
    {"fma4", 0x80000001, 0, 2, 16, State::kAvx}, {"64bit", 0x80000001, 0, 3, 29, State::kNone},
};

//! CPUID (leaf, subleaf) registers; all zero when the leaf (or leaf 7's subleaf) is absent.
void Cpuid(uint32_t leaf, uint32_t subleaf, uint32_t regs[4]) {
  regs[0] = regs[1] = regs[2] = regs[3] = 0;
  if (leaf == 7 && subleaf > 0) {  // leaf 7 subleaf 0's eax: the highest valid subleaf
    uint32_t top[4];
    Cpuid(7, 0, top);
    if (top[0] < subleaf) return;
  }
  if (!__get_cpuid_count(leaf, subleaf, &regs[0], &regs[1], &regs[2], &regs[3])) {
    regs[0] = regs[1] = regs[2] = regs[3] = 0;
  }
}

FeatureMap Detect() {
  FeatureMap found;
  uint32_t one[4];
  Cpuid(1, 0, one);
  uint64_t xcr0 = 0;
  if ((one[2] >> 27) & 1) {  // OSXSAVE: the OS enabled XGETBV
    uint32_t lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    xcr0 = (static_cast<uint64_t>(hi) << 32) | lo;
  }
  const bool avx_state = (xcr0 & 0x6) == 0x6;                       // XMM, YMM
  const bool avx512_state = avx_state && (xcr0 & 0xe0) == 0xe0;     // opmask, ZMM
  const bool amx_state = (xcr0 & 0x60000) == 0x60000;               // TILECFG, TILEDATA
  auto usable = [&](State s) {
    switch (s) {
      case State::kAvx: return avx_state;
      case State::kAvx512: return avx512_state;
      case State::kAmx: return amx_state;
      default: return true;
    }
  };
  std::map<std::pair<uint32_t, uint32_t>, std::array<uint32_t, 4>> leaves;
  for (const Bit& b : kBits) {
    auto key = std::make_pair(b.leaf, b.subleaf);
    auto it = leaves.find(key);
    if (it == leaves.end()) {
      std::array<uint32_t, 4> regs{};
      Cpuid(b.leaf, b.subleaf, regs.data());
      it = leaves.emplace(key, regs).first;
    }
    found[b.name] = ((it->second[b.reg] >> b.bit) & 1) && usable(b.state);
  }
  // AVX10: leaf 7.1 edx bit 19 says it exists, leaf 0x24 ebx[7:0] gives its version.
  uint32_t sub1[4], avx10[4];
  Cpuid(7, 1, sub1);
  Cpuid(0x24, 0, avx10);
  const bool has_avx10 = ((sub1[3] >> 19) & 1) && avx512_state;
  const uint32_t version = avx10[1] & 0xff;
  found["avx10.1"] = has_avx10 && version >= 1;
  found["avx10.2"] = has_avx10 && version >= 2;
  return found;
}

#elif defined(__aarch64__) && defined(__linux__)

FeatureMap Detect() {
  const unsigned long hwcap = getauxval(AT_HWCAP);
  auto has = [&](int bit) { return ((hwcap >> bit) & 1) != 0; };
  // HWCAP_FP 0, HWCAP_ASIMD 1, HWCAP_FPHP 9, HWCAP_ASIMDHP 10, HWCAP_SVE 22 (linux/hwcap.h)
  return {{"fp-armv8", has(0)}, {"neon", has(1)}, {"fullfp16", has(9) && has(10)},
          {"sve", has(22)}};
}

#else

FeatureMap Detect() { return {}; }

#endif

const FeatureMap& HostFeatures() {
  static const FeatureMap features = Detect();
  return features;
}

}  // namespace

const char* HostArch() {
#if defined(__x86_64__)
  return "x86_64";
#elif defined(__i386__)
  return "i386";
#elif defined(__aarch64__)
  return "aarch64";
#else
  return "unknown";
#endif
}

bool TripleRunsHere(const std::string& mtriple) {
  std::string arch = mtriple.substr(0, mtriple.find('-'));
  if (arch == "amd64") arch = "x86_64";
  if (arch == "arm64") arch = "aarch64";
  return arch == HostArch();
}

std::vector<std::string> MissingCpuFeatures(const std::vector<std::string>& required) {
  const FeatureMap& host = HostFeatures();
  std::vector<std::string> missing;
  for (const std::string& name : required) {
    auto it = host.find(name);
    if (it == host.end()) {
      missing.push_back(name + " (unknown to this runtime)");
    } else if (!it->second) {
      missing.push_back(name);
    }
  }
  return missing;
}

}  // namespace bce_grad
