// Copyright 2026 The bce-grad authors. Licensed under the Apache License, Version 2.0.
// The runtime's parallel launch. TVM's own (TVMBackendParallelLaunch) keeps a pool per calling
// thread whose workers are never joined, spin for a long time before sleeping, and are lost
// across fork() (the child's first parallel launch waits forever). Every kernel this project
// loads is pointed here instead (AdoptKernel): a launch runs on the executor of the call in
// progress (a framework's pool), else on one process-wide pool whose workers sleep when idle and
// which a fork()ed child re-creates on its first launch.
#include "parallel.h"

#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace bce_grad {
namespace {

//! TVM's TVMParallelGroupEnv and FTVMParallelLambda (tvm/runtime/c_backend_api.h), the ABI of
//! the `__TVMBackendParallelLaunch` slot every kernel library calls its parallel loops through.
struct ParallelEnv {
  void* sync_handle;
  int32_t num_task;
};
using ParallelLambda = int (*)(int task_id, ParallelEnv* env, void* cdata);

//! The symbol TVM's loader fills with its TVMBackendParallelLaunch when it opens a kernel.
constexpr const char* kLaunchSlot = "__TVMBackendParallelLaunch";
//! How long an idle worker (or a waiting caller) spins before it sleeps: back-to-back calls find
//! the workers awake; a pause of a millisecond costs no CPU after it.
constexpr auto kSpin = std::chrono::microseconds(100);
constexpr int kMaxThreads = 1024;

thread_local const bce_grad_executor* tls_executor = nullptr;
thread_local bool tls_serial = false;

inline void Pause() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

//! Spin while `busy()` for up to kSpin; true when it stopped being busy.
template <typename Busy>
bool SpinWhile(Busy busy) {
  const auto until = std::chrono::steady_clock::now() + kSpin;
  for (int i = 0; busy(); ++i) {
    Pause();
    if ((i & 63) == 63 && std::chrono::steady_clock::now() > until) return false;
  }
  return true;
}

//! TVM_NUM_THREADS when it is a positive count, else the CPUs this process may run on.
int ThreadsFromEnv() {
  const char* text = std::getenv("TVM_NUM_THREADS");
  if (text != nullptr && *text != '\0') {
    char* end = nullptr;
    const long value = std::strtol(text, &end, 10);
    if (*end == '\0' && value > 0) return static_cast<int>(std::min<long>(value, kMaxThreads));
  }
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

/*!
 * size - 1 workers plus the calling thread. One call at a time: a call that finds the pool busy
 * (another thread's call, or a launch from inside a task) is told so and runs on its own thread.
 * A call returns only once every worker has finished with it, so no worker sees a stale call.
 */
class Pool {
 public:
  explicit Pool(int size) : size_(size) {}
  int Size() const { return size_; }

  //! Run task over [0, n) on the workers and this thread; false (nothing run) when busy.
  bool TryRun(int64_t n, bce_grad_task_fn task, void* ctx) {
    std::unique_lock<std::mutex> hold(run_, std::try_to_lock);
    if (!hold.owns_lock()) return false;
    Start();
    task_ = task;
    ctx_ = ctx;
    num_ = n;
    next_.store(0, std::memory_order_relaxed);
    finished_.store(0, std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lock(mu_);
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    Work();
    const int workers = size_ - 1;
    auto busy = [&] { return finished_.load(std::memory_order_acquire) < workers; };
    if (!SpinWhile(busy)) {
      std::unique_lock<std::mutex> lock(mu_);
      done_.wait(lock, [&] { return !busy(); });
    }
    return true;
  }

 private:
  void Work() {
    for (int64_t i; (i = next_.fetch_add(1, std::memory_order_relaxed)) < num_;) task_(ctx_, i, i + 1);
  }

  //! Start the workers (once) with every signal blocked: signals go to the caller's threads.
  void Start() {
    if (started_) return;
    started_ = true;
    sigset_t all, saved;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &saved);
    for (int i = 1; i < size_; ++i) {
      std::thread([this] {
        pthread_setname_np(pthread_self(), "bce_grad-pool");
        Loop();
      }).detach();
    }
    pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  }

  void Loop() {
    uint64_t seen = 0;  // workers start inside the first call, before its generation is published
    for (;;) {
      auto idle = [&] { return generation_.load(std::memory_order_acquire) == seen; };
      if (!SpinWhile(idle)) {
        std::unique_lock<std::mutex> lock(mu_);
        wake_.wait(lock, [&] { return !idle(); });
      }
      seen = generation_.load(std::memory_order_acquire);
      Work();
      if (finished_.fetch_add(1, std::memory_order_acq_rel) + 1 == size_ - 1) {
        std::lock_guard<std::mutex> lock(mu_);
        done_.notify_one();
      }
    }
  }

  const int size_;
  bool started_ = false;  // under run_
  std::mutex run_;        // held by the call in progress
  std::mutex mu_;         // pairs with wake_ and done_
  std::condition_variable wake_, done_;
  std::atomic<uint64_t> generation_{0};
  bce_grad_task_fn task_ = nullptr;
  void* ctx_ = nullptr;
  int64_t num_ = 0;
  std::atomic<int64_t> next_{0};
  std::atomic<int> finished_{0};
};

std::atomic<Pool*> process_pool{nullptr};

//! fork() child: the workers did not come along, so the pool is forgotten (not freed: its locks
//! may be held by threads that no longer exist) and the child's first launch makes a new one.
void ForgetPoolInChild() { process_pool.store(nullptr, std::memory_order_relaxed); }

Pool* ProcessPool() {
  Pool* pool = process_pool.load(std::memory_order_acquire);
  if (pool != nullptr) return pool;
  static std::once_flag registered;
  std::call_once(registered, [] { pthread_atfork(nullptr, nullptr, ForgetPoolInChild); });
  Pool* fresh = new Pool(ThreadsFromEnv());
  if (!process_pool.compare_exchange_strong(pool, fresh, std::memory_order_acq_rel)) {
    delete fresh;  // another thread published first
    return pool;
  }
  return fresh;
}

//! One kernel launch split into `num` tasks.
struct Launch {
  ParallelLambda lambda;
  void* cdata;
  int32_t num;
  std::atomic<bool> failed{false};
};

void RunTasks(void* ctx, int64_t begin, int64_t end) {
  auto* launch = static_cast<Launch*>(ctx);
  ParallelEnv env{nullptr, launch->num};  // no barrier: the kernels' parallel loops never sync
  for (int64_t i = begin; i < end; ++i) {
    if (launch->lambda(static_cast<int>(i), &env, launch->cdata) != 0) launch->failed = true;
  }
}

//! TVMBackendParallelLaunch's contract (num_task 0: as many tasks as threads) on our pools.
int ParallelLaunch(ParallelLambda lambda, void* cdata, int num_task) {
  const bce_grad_executor* executor = tls_executor;
  int threads = tls_serial ? 1 : executor ? executor->max_tasks : ProcessPool()->Size();
  if (num_task > 0) threads = std::min(threads, num_task);
  if (threads <= 1) {
    ParallelEnv env{nullptr, 1};
    return lambda(0, &env, cdata);
  }
  Launch launch{lambda, cdata, threads};
  if (executor != nullptr) {
    if (executor->parallel_for(executor->host, threads, RunTasks, &launch) != 0) return -1;
  } else if (!ProcessPool()->TryRun(threads, RunTasks, &launch)) {
    launch.num = 1;  // the pool serves another call: this one runs here, in one task
    RunTasks(&launch, 0, 1);
  }
  return launch.failed ? -1 : 0;
}

}  // namespace

bool AdoptKernel(const std::string& so_path) {
  void* handle = dlopen(so_path.c_str(), RTLD_LAZY | RTLD_NOLOAD);
  if (handle == nullptr) return false;
  if (void* slot = dlsym(handle, kLaunchSlot)) {
    *static_cast<void**>(slot) = reinterpret_cast<void*>(&ParallelLaunch);
  }
  dlclose(handle);  // drops the reference RTLD_NOLOAD took; TVM's module keeps its own
  return true;
}

int PoolSize() { return ProcessPool()->Size(); }

LaunchScope::LaunchScope(const bce_grad_executor* executor, bool serial)
    : saved_executor_(tls_executor), saved_serial_(tls_serial) {
  tls_executor = executor;
  tls_serial = serial;
}

LaunchScope::~LaunchScope() {
  tls_executor = saved_executor_;
  tls_serial = saved_serial_;
}

const bce_grad_executor* CurrentExecutor() { return tls_executor; }

}  // namespace bce_grad
