// Copyright 2026 The bce-grad authors. Licensed under the Apache License, Version 2.0.
#include "package.h"
#include "parallel.h"

#include <tvm/ffi/extra/json.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "cpu_features.h"
#include "sha256.h"

#ifndef BCE_GRAD_TVM_VERSION
#define BCE_GRAD_TVM_VERSION ""
#endif

namespace bce_grad {
namespace {

namespace json = tvm::ffi::json;
using tvm::ffi::Any;
using tvm::ffi::String;

constexpr const char* kFormat = "bce-grad-kernel-package";
constexpr int64_t kFormatVersion = 1;
//! Default of serial_below: below this many elements a parallel launch saves nothing (2 threads
//! on a 2-vCPU Zen 3, float32, this runtime with out=, five paired runs: 2 threads win by 1-41 %
//! at 2^17 elements, tie at 2^16 in four runs of five, lose by 16-37 % at 2^14 in four).
constexpr int64_t kDefaultSerialBelow = 1 << 16;

[[noreturn]] void Broken(const std::string& where, const std::string& what) {
  Fail(BCE_GRAD_ERR_PACKAGE, "E61001", "the kernel package file " + where + " is unusable: " + what);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) Broken(path, "it cannot be read; build the package with `bce-grad aot --soc SOC --out DIR`");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

json::Object ParseText(const std::string& text, const std::string& where) {
  String error;
  Any value = json::Parse(String(text), &error);
  if (!error.empty()) Broken(where, "it is not valid JSON (" + std::string(error) + ")");
  auto object = value.try_cast<json::Object>();
  if (!object) Broken(where, "it is not a JSON object");
  return *object;
}

json::Object ParseObject(const std::string& path) { return ParseText(ReadFile(path), path); }

//! Field access that names the file and the field when it is missing or of the wrong type.
struct Fields {
  const json::Object& object;
  const std::string& where;

  Any Get(const char* key) const {
    if (!object.count(String(key))) Broken(where, std::string("it lacks the field \"") + key + "\"");
    return object.at(String(key));
  }
  template <typename T>
  T As(const Any& value, const char* key) const {
    auto cast = value.try_cast<T>();
    if (!cast) Broken(where, std::string("the field \"") + key + "\" has the wrong type");
    return *cast;
  }
  std::string Str(const char* key) const { return std::string(As<String>(Get(key), key)); }
  int64_t Int(const char* key) const { return As<int64_t>(Get(key), key); }
  json::Array Arr(const char* key) const { return As<json::Array>(Get(key), key); }
  json::Object Obj(const char* key) const { return As<json::Object>(Get(key), key); }
  std::vector<std::string> StrList(const char* key) const {
    std::vector<std::string> items;
    for (const Any& item : Arr(key)) items.emplace_back(As<String>(item, key));
    return items;
  }
};

int64_t SerialBelowFromEnv() {
  const char* text = std::getenv("BCE_GRAD_RUNTIME_SERIAL_BELOW");
  if (text == nullptr || *text == '\0') return kDefaultSerialBelow;
  char* end = nullptr;
  long long value = std::strtoll(text, &end, 10);
  if (*end != '\0' || value < 0) {
    Fail(BCE_GRAD_ERR_ARGUMENT, "E80000", std::string("the environment variable[BCE_GRAD_RUNTIME_"
         "SERIAL_BELOW] should be a count of elements >= 0, but actually is [") + text + "]", false);
  }
  return value;
}

std::atomic<uint64_t> alias_counter{0};

//! Load the kernel library at `path` and point its parallel loops at the runtime's pools.
tvm::ffi::Module LoadAdopted(const std::string& path) {
  tvm::ffi::Module module = tvm::ffi::Module::LoadFromFile(String(path));
  if (!AdoptKernel(path)) {
    Broken(path, "it was loaded but the dynamic linker does not find it by its path");
  }
  return module;
}

//! Open `so_path` through a private hard link when the directory allows one: the file checked is
//! then the very file loaded (a later replacement cannot slip in), and dlopen never hands back a
//! library it mapped earlier for the same path.
tvm::ffi::Module LoadVerified(const std::string& so_path, const std::string& sha256) {
  std::string alias = so_path.substr(0, so_path.rfind('/') + 1) + ".load." +
                      std::to_string(getpid()) + "." + std::to_string(alias_counter++) + "." +
                      so_path.substr(so_path.rfind('/') + 1);
  bool linked = ::link(so_path.c_str(), alias.c_str()) == 0;
  const std::string& path = linked ? alias : so_path;
  struct Unlink {
    bool on; const std::string& p;
    ~Unlink() { if (on) ::unlink(p.c_str()); }
  } cleanup{linked, alias};
  std::string actual;
  try {
    actual = FileSha256(path);
  } catch (const std::exception& err) {
    Broken(so_path, err.what());
  }
  if (actual != sha256) {
    Broken(so_path, "its SHA-256 " + actual + " does not match " + sha256 + " recorded in the "
           "package; the file is damaged or was replaced: rebuild the package with `bce-grad aot`");
  }
  return LoadAdopted(path);
}

//! Open a private copy of `so_path`'s bytes, checked against `sha256` in memory: the process
//! never maps the file itself, so a cache that truncates or replaces it later (a kernel cache
//! healing itself) cannot fault a loaded kernel. The copy is unlinked once loaded.
tvm::ffi::Module LoadPrivateCopy(const std::string& so_path, const std::string& sha256) {
  std::string bytes = ReadFile(so_path);
  std::string actual = Sha256Hex(bytes);
  if (actual != sha256) {
    Broken(so_path, "its SHA-256 " + actual + " does not match " + sha256 + " recorded for it; "
           "the file is damaged or was replaced");
  }
  std::string name = so_path.substr(so_path.rfind('/') + 1);
  for (std::string dir : {so_path.substr(0, so_path.rfind('/') + 1), std::string("/tmp/")}) {
    std::string path = dir + "." + name + "." + std::to_string(getpid()) + ".load.XXXXXX.so";
    std::vector<char> text(path.begin(), path.end());
    text.push_back('\0');
    int fd = ::mkstemps(text.data(), 3);  // keep ".so": TVM picks its loader by suffix
    if (fd < 0) continue;
    path = text.data();
    struct Unlink {
      const std::string& p;
      ~Unlink() { ::unlink(p.c_str()); }
    } cleanup{path};
    size_t done = 0;
    while (done < bytes.size()) {
      ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    ::close(fd);
    if (done != bytes.size()) continue;
    return LoadAdopted(path);
  }
  Broken(so_path, "no directory accepts a private copy of it");
}

//! Refuse code that this CPU cannot run: a target triple of another architecture, or
//! instruction-set features (LLVM names) the CPU or OS lacks. Running it would stop the process
//! with SIGILL in the first launch; refusing gives E61001 naming what is missing.
void CheckRunsHere(const json::Object& target, const json::Object& holder, const std::string& where,
                   const std::string& what) {
  Fields t{target, where};
  std::string mcpu = target.count(String("mcpu")) ? t.Str("mcpu") : "";
  std::string built = " (built for " + (mcpu.empty() ? std::string("an unnamed CPU") : "CPU [" + mcpu + "]");
  if (target.count(String("mtriple"))) {
    std::string triple = t.Str("mtriple");
    built += ", " + triple;
    if (!TripleRunsHere(triple)) {
      Fail(BCE_GRAD_ERR_PACKAGE, "E61001", "the " + what + " " + where + " cannot run on this " +
           HostArch() + " machine" + built + "); rebuild it here with `bce-grad aot`");
    }
  }
  built += ")";
  std::vector<std::string> required;
  for (const json::Object* obj : {&holder, &target}) {
    if (!obj->count(String("features"))) continue;
    std::vector<std::string> listed = Fields{*obj, where}.StrList("features");
    required.insert(required.end(), listed.begin(), listed.end());
  }
  std::vector<std::string> missing = MissingCpuFeatures(required);
  if (missing.empty()) return;
  std::string names;
  for (size_t i = 0; i < missing.size(); ++i) names += (i ? ", " : "") + missing[i];
  Fail(BCE_GRAD_ERR_PACKAGE, "E61001", "the " + what + " " + where + " needs CPU features this "
       "machine lacks: " + names + built + "; its kernels would stop the process with an illegal "
       "instruction. Rebuild it on this machine with `bce-grad aot` (or for a CPU it has, "
       "BCE_GRAD_MCPU=...)");
}

}  // namespace

const std::vector<KernelCase>& KernelEntry::Load() const {
  std::call_once(once_, [this] {
    try {
      DoLoad();
    } catch (const Failure& err) {
      error_ = err.what();
    } catch (const std::exception& err) {
      error_ = OpMessage("E61001", "kernel [" + name + "] (" + so_path + ") cannot be loaded: " +
                         err.what());
    }
  });
  if (!error_.empty()) throw Failure(BCE_GRAD_ERR_PACKAGE, error_);
  return cases_;
}

void KernelEntry::DoLoad() const {
  json::Object meta = ParseObject(json_path);
  Fields f{meta, json_path};
  if (f.Str("name") != name) Broken(json_path, "it describes kernel [" + f.Str("name") + "], not [" + name + "]");
  if (f.Str("so_sha256") != so_sha256) Broken(json_path, "its so_sha256 differs from the manifest's");
  if (meta.count(String("target"))) CheckRunsHere(f.Obj("target"), meta, json_path, "kernel");
  tvm::ffi::Module module = watched ? LoadPrivateCopy(so_path, so_sha256)
                                    : LoadVerified(so_path, so_sha256);
  std::vector<KernelCase> cases;
  for (const Any& item : f.Arr("cases")) {
    json::Object case_obj = f.As<json::Object>(item, "cases");
    Fields c{case_obj, json_path};
    KernelCase kc;
    kc.function = c.Str("function");
    for (const Any& t : c.Arr("tensors")) {
      json::Object tensor = c.As<json::Object>(t, "tensors");
      Fields tf{tensor, json_path};
      TensorSpec spec{tf.Str("name"), tf.Str("role") == "output", tf.Str("dtype"), {}};
      for (const Any& dim : tf.Arr("shape")) {
        auto fixed = dim.as<int64_t>();  // a var's name (a string) is a dynamic dim
        spec.dims.push_back(fixed ? *fixed : -1);
      }
      kc.tensors.push_back(std::move(spec));
    }
    for (const Any& s : c.Arr("scalars")) {
      json::Object scalar = c.As<json::Object>(s, "scalars");
      kc.scalars.push_back(Fields{scalar, json_path}.Str("name"));
    }
    auto func = module->GetFunction(String(kc.function), false);
    if (!func.has_value()) Broken(so_path, "it has no function [" + kc.function + "]");
    kc.func = *func;
    cases.push_back(std::move(kc));
  }
  if (cases.empty()) Broken(json_path, "it lists no cases");
  modules_.push_back(module);
  cases_ = std::move(cases);
}

std::string Package::Key(const std::vector<std::string>& dtypes, const std::string& output,
                         const std::string& reduction, const std::string& pattern) {
  std::string key;
  for (size_t i = 0; i < dtypes.size(); ++i) key += (i ? "," : "") + dtypes[i];
  return key + ">" + output + "|" + reduction + "|" + pattern;
}

std::shared_ptr<const KernelEntry> Package::Find(const std::vector<std::string>& dtypes,
                                                 const std::string& output,
                                                 const std::string& reduction,
                                                 const std::string& pattern) const {
  std::string key = Key(dtypes, output, reduction, pattern);
  std::shared_lock<std::shared_mutex> read(mu_);
  auto it = kernels_.find(key);
  return it == kernels_.end() ? nullptr : it->second;
}

size_t Package::Count() const {
  std::shared_lock<std::shared_mutex> read(mu_);
  return kernels_.size();
}

void Package::Insert(std::shared_ptr<KernelEntry> entry) {
  std::string key = Key(entry->dtypes, entry->output, entry->reduction, entry->pattern);
  std::unique_lock<std::shared_mutex> write(mu_);
  kernels_[key] = std::move(entry);  // a call still running an old entry keeps it alive
  generation_.fetch_add(1, std::memory_order_release);
}

std::shared_ptr<KernelEntry> Package::ParseEntry(const json::Object& kernel,
                                                 const std::string& where) const {
  Fields k{kernel, where};
  auto entry = std::make_shared<KernelEntry>();
  entry->name = k.Str("name");
  entry->so_sha256 = k.Str("so_sha256");
  entry->reduction = k.Str("reduction");
  entry->pattern = k.Str("pattern");
  entry->dtypes = k.StrList("dtypes");
  entry->output = k.Str("output");
  // A package's files stay inside it: a relative path with no ".." that resolves (symlinks
  // followed) below the package folder. Only an in-memory package (no folder) names absolute ones.
  auto path = [this, &where, &entry](const std::string& field, const std::string& file) {
    if (dir.empty()) return file;
    auto refuse = [&](const std::string& why) {
      Broken(where, "kernel [" + entry->name + "]: its " + field + " path [" + file + "] " + why +
             "; a package names its files relative to its folder: rebuild it with `bce-grad aot`");
    };
    if (file.empty() || file[0] == '/') refuse("is not a relative path inside the package");
    for (size_t start = 0; start <= file.size();) {
      size_t end = file.find('/', start);
      if (end == std::string::npos) end = file.size();
      if (file.compare(start, end - start, "..") == 0 && end - start == 2) refuse("contains \"..\"");
      start = end + 1;
    }
    std::string joined = dir + "/" + file;
    char* real_dir = ::realpath(dir.c_str(), nullptr);
    char* real_file = ::realpath(joined.c_str(), nullptr);
    std::string inside = real_dir ? std::string(real_dir) + "/" : std::string();
    bool escapes = real_dir && real_file && std::string(real_file).rfind(inside, 0) != 0;
    std::free(real_dir);
    std::free(real_file);
    if (escapes) refuse("leads out of the package through a symbolic link");
    return joined;
  };
  entry->so_path = path("so", k.Str("so"));
  entry->json_path = path("json", k.Str("json"));
  entry->strided = kernel.count(String("strided")) && k.As<bool>(k.Get("strided"), "strided");
  if (entry->strided != (entry->pattern.rfind("strided", 0) == 0)) {
    Broken(where, "kernel [" + entry->name + "]: \"strided\" and its pattern [" + entry->pattern +
           "] disagree");
  }
  if (entry->dtypes.size() < 3 || entry->dtypes.size() > 4 || (entry->strided && entry->dtypes.size() != 4)) {
    Broken(where, "kernel [" + entry->name + "] lists " + std::to_string(entry->dtypes.size()) +
           " input dtypes (3 or 4; generic strided kernels take weight: 4)");
  }
  entry->watched = kernel.count(String("watch")) && k.As<bool>(k.Get("watch"), "watch");
  if (kernel.count(String("lock"))) entry->lock_path = k.Str("lock");
  return entry;
}

std::unique_ptr<Package> Package::FromObject(const json::Object& manifest, const std::string& dir,
                                             const std::string& path, unsigned flags) {
  auto package = std::make_unique<Package>();
  package->dir = dir;
  Fields f{manifest, path};
  if (f.Str("format") != kFormat || f.Int("format_version") != kFormatVersion) {
    Broken(path, std::string("it is not a ") + kFormat + " manifest of version " +
           std::to_string(kFormatVersion) + "; rebuild it with `bce-grad aot`");
  }
  package->soc_version = f.Str("soc_version");
  package->soc_dir = f.Str("soc_dir");
  package->tvm_version = f.Str("tvm_version");
  std::string built_with = BCE_GRAD_TVM_VERSION;
  if (!built_with.empty() && package->tvm_version != built_with) {
    Broken(path, "its kernels were compiled by Apache TVM " + package->tvm_version +
           ", but this runtime runs TVM " + built_with + "; rebuild the package with `bce-grad aot`");
  }
  json::Object target = f.Obj("target");
  std::string kind = Fields{target, path}.Str("kind");
  if (kind != "llvm") {
    Broken(path, "its kernels target [" + kind + "]; this runtime runs CPU (llvm) kernels only");
  }
  CheckRunsHere(target, manifest, path, "kernel package");  // "features": what aot compiled for
  json::Object op_info = f.Obj("op_info");
  Fields info{op_info, path};
  for (const char* param : {"x", "y", "grad_output", "weight", "output"}) {
    package->op_info[param] = info.StrList(param);
  }
  for (const Any& item : f.Arr("kernels")) {
    package->Insert(package->ParseEntry(f.As<json::Object>(item, "kernels"), path));
  }
  if (manifest.count(String("environment"))) {
    json::Object env = f.Obj("environment");
    for (const auto& item : env) {
      std::string name(item.first.cast<String>());
      auto value = item.second.try_cast<String>();
      package->environment.push_back({name, {value.has_value(), value ? std::string(*value) : ""}});
    }
  }
  package->serial_below = SerialBelowFromEnv();
  if (flags & BCE_GRAD_OPEN_EAGER) {
    for (const auto& item : package->kernels_) item.second->Load();
  }
  return package;
}

std::unique_ptr<Package> Package::Open(const std::string& dir, unsigned flags) {
  std::string path = dir + "/manifest.json";
  return FromObject(ParseObject(path), dir, path, flags);
}

std::unique_ptr<Package> Package::FromText(const std::string& text, const std::string& dir,
                                           unsigned flags) {
  return FromObject(ParseText(text, "(manifest text)"), dir, "(manifest text)", flags);
}

void Package::Add(const std::string& entry_json) {
  json::Object kernel = ParseText(entry_json, "(kernel entry)");
  auto entry = ParseEntry(kernel, "(kernel entry)");
  if (entry->watched) {  // the identity of the files verified and loaded below
    entry->json_identity = Identify(entry->json_path);
    entry->so_identity = Identify(entry->so_path);
  }
  entry->Load();
  Insert(std::move(entry));
}

void Package::CheckEnvironment() const {
  for (const auto& item : environment) {
    const char* now = std::getenv(item.first.c_str());
    bool same = now == nullptr ? !item.second.first : item.second.first && item.second.second == now;
    if (!same) {
      Fail(BCE_GRAD_ERR_NO_KERNEL, "E61001", "the environment variable [" + item.first +
           "] changed since the package " + (dir.empty() ? "(in memory)" : dir) + " was opened");
    }
  }
}

FileIdentity Identify(const std::string& path) {
  struct stat st;
  FileIdentity id;
  if (::stat(path.c_str(), &st) != 0) return id;
  id.dev = st.st_dev;
  id.ino = st.st_ino;
  id.size = st.st_size;
  id.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return id;
}

}  // namespace bce_grad
