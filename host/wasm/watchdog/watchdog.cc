// The time guard behind the gas meter (issue "Hostile-proof", host/wasm/README.md).
//
// Gas metering bounds a plugin's work deterministically; this guard bounds its time, so that a
// metering bug (an uninstrumented loop, an under-charged host call) cannot hang the event loop.
// One watchdog thread wakes every `tick` ms. `call(timeoutMs, fn, a, b, c)` runs fn on the main thread
// inside a v8::TryCatch; when the watchdog sees the same call still running after it has used
// `timeoutMs` of the main thread's CPU time, or `WALL_FACTOR` times that in wall-clock time, it calls
// v8::Isolate::TerminateExecution (thread-safe; V8 checks for it at function entries and loop
// back-edges, Wasm included). `call` then cancels the termination and throws a plain Error with code
// ERR_HOOK_TIMEOUT, which the host handles like a trap.
//
// Why CPU time first: on a loaded machine the event-loop thread can wait tens of ms for a core while
// inside a hook of a few µs; a wall-clock bound alone would stop healthy hooks. The wall-clock
// backstop still bounds a hook that blocks without spending CPU.
//
// Hot-path cost: one native call and two uncontended mutex operations; no clock read and no
// syscall (the watchdog measures elapsed time itself by sampling the call's sequence number).
#include <node.h>
#include <v8.h>

#include <pthread.h>
#include <time.h>

#include <chrono>
#include <cstdio>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

namespace {

using v8::Context;
using v8::Exception;
using v8::Function;
using v8::FunctionCallbackInfo;
using v8::Isolate;
using v8::Local;
using v8::MaybeLocal;
using v8::Number;
using v8::Object;
using v8::String;
using v8::TryCatch;
using v8::Value;
using Clock = std::chrono::steady_clock;

// wall-clock backstop = WALL_FACTOR x the CPU-time bound
constexpr int64_t WALL_FACTOR = 10;

int64_t CpuNanos(clockid_t clock) {
  timespec ts;
  if (clock_gettime(clock, &ts) != 0) return 0;
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

struct Watchdog {
  Isolate* isolate = nullptr;
  // the CPU-time clock of the thread that runs the isolate (the event loop)
  clockid_t cpuClock;
  std::mutex mu;
  std::condition_variable cv;
  std::thread thread;
  bool stopping = false;
  // the guarded call in progress (depth 0 = none); guarded calls do not nest, inner ones run unguarded
  int depth = 0;
  uint64_t seq = 0;
  int64_t timeoutMs = 0;
  bool terminateRequested = false;
  // what the watchdog thread last saw
  uint64_t seenSeq = 0;
  Clock::time_point seenAt;
  int64_t seenCpu = 0;
  int tickMs = 5;
  uint64_t fired = 0;
  // what the last stop measured, for the error message
  double lastCpuMs = 0;
  double lastWallMs = 0;

  void run() {
    std::unique_lock<std::mutex> lock(mu);
    while (!stopping) {
      cv.wait_for(lock, std::chrono::milliseconds(tickMs));
      if (stopping) break;
      if (depth == 0 || terminateRequested) continue;
      const Clock::time_point now = Clock::now();
      const int64_t cpu = CpuNanos(cpuClock);
      if (seq != seenSeq) {
        // first time this call is seen running: it started at most one tick ago (the bound is
        // therefore between timeout and timeout + tick)
        seenSeq = seq;
        seenAt = now;
        seenCpu = cpu;
        continue;
      }
      const bool cpuOver = cpu - seenCpu >= timeoutMs * 1000000;
      const bool wallOver = now - seenAt >= std::chrono::milliseconds(timeoutMs * WALL_FACTOR);
      if (cpuOver || wallOver) {
        terminateRequested = true;
        lastCpuMs = (cpu - seenCpu) / 1e6;
        lastWallMs = std::chrono::duration<double, std::milli>(now - seenAt).count();
        fired++;
        isolate->TerminateExecution();
      }
    }
  }
};

Watchdog* g_watchdog = nullptr;  // one per process: the main thread's isolate (the SIP event loop)

void ThrowTypeError(Isolate* isolate, const char* msg) {
  isolate->ThrowException(Exception::TypeError(String::NewFromUtf8(isolate, msg).ToLocalChecked()));
}

// start(tickMs): starts the watchdog thread for this isolate (idempotent; a new tick applies).
void Start(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  int tick = args.Length() > 0 && args[0]->IsNumber() ? static_cast<int>(args[0].As<Number>()->Value()) : 5;
  if (tick < 1) tick = 1;
  if (tick > 1000) tick = 1000;
  if (g_watchdog != nullptr) {
    if (g_watchdog->isolate != isolate) return ThrowTypeError(isolate, "watchdog belongs to another isolate");
    std::lock_guard<std::mutex> lock(g_watchdog->mu);
    g_watchdog->tickMs = tick;
    return;
  }
  clockid_t cpuClock;
  if (pthread_getcpuclockid(pthread_self(), &cpuClock) != 0) return ThrowTypeError(isolate, "no CPU-time clock for this thread");
  g_watchdog = new Watchdog();
  g_watchdog->isolate = isolate;
  g_watchdog->cpuClock = cpuClock;
  g_watchdog->tickMs = tick;
  g_watchdog->thread = std::thread([] { g_watchdog->run(); });
  // the thread lives as long as the process; it never touches JS objects
  g_watchdog->thread.detach();
}

// call(timeoutMs, fn, a?, b?, c?): fn(a, b, c) under the guard. Rethrows fn's exceptions unchanged.
void Call(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  if (g_watchdog == nullptr) return ThrowTypeError(isolate, "watchdog not started");
  if (args.Length() < 2 || !args[0]->IsNumber() || !args[1]->IsFunction()) {
    return ThrowTypeError(isolate, "call(timeoutMs, fn, ...args)");
  }
  Watchdog* w = g_watchdog;
  Local<Function> fn = args[1].As<Function>();
  const int argc = args.Length() - 2 > 3 ? 3 : args.Length() - 2;
  Local<Value> argv[3];
  for (int i = 0; i < argc; i++) argv[i] = args[i + 2];
  Local<Context> context = isolate->GetCurrentContext();

  bool outer;
  {
    std::lock_guard<std::mutex> lock(w->mu);
    outer = w->depth == 0;
    if (outer) {
      w->seq++;
      w->timeoutMs = static_cast<int64_t>(args[0].As<Number>()->Value());
    }
    w->depth++;
  }
  bool timedOut = false;
  double cpuMs = 0, wallMs = 0;
  {
    TryCatch tc(isolate);
    MaybeLocal<Value> result = fn->Call(context, v8::Undefined(isolate), argc, argv);
    {
      std::lock_guard<std::mutex> lock(w->mu);
      w->depth--;
      if (outer && w->terminateRequested) {
        // requested for this call: delivered (result empty) or still pending; either way clear it
        // now, before any other JavaScript runs
        w->terminateRequested = false;
        timedOut = true;
        cpuMs = w->lastCpuMs;
        wallMs = w->lastWallMs;
      }
    }
    if (timedOut || tc.HasTerminated()) {
      isolate->CancelTerminateExecution();
      timedOut = true;
    } else if (result.IsEmpty()) {
      tc.ReThrow();  // fn's own exception (trap, RangeError, PluginAbort): unchanged
      return;
    } else {
      args.GetReturnValue().Set(result.ToLocalChecked());
      return;
    }
  }
  // outside the TryCatch, so the caller sees it
  // the watchdog measures from its first sighting of the call: up to one tick more was spent
  char text[160];
  snprintf(text, sizeof text, "hook stopped by the time guard after %.0f ms of CPU time (%.0f ms wall clock; limit %lld ms CPU, %lld ms wall)",
           cpuMs, wallMs, static_cast<long long>(w->timeoutMs), static_cast<long long>(w->timeoutMs * WALL_FACTOR));
  Local<Value> err = Exception::Error(String::NewFromUtf8(isolate, text).ToLocalChecked());
  err.As<Object>()
      ->Set(context, String::NewFromUtf8Literal(isolate, "code"), String::NewFromUtf8Literal(isolate, "ERR_HOOK_TIMEOUT"))
      .Check();
  isolate->ThrowException(err);
}

// fired(): how many calls the watchdog has terminated since start.
void Fired(const FunctionCallbackInfo<Value>& args) {
  double n = 0;
  if (g_watchdog != nullptr) {
    std::lock_guard<std::mutex> lock(g_watchdog->mu);
    n = static_cast<double>(g_watchdog->fired);
  }
  args.GetReturnValue().Set(Number::New(args.GetIsolate(), n));
}

}  // namespace

NODE_MODULE_INIT(/* exports, module, context */) {
  NODE_SET_METHOD(exports, "start", Start);
  NODE_SET_METHOD(exports, "call", Call);
  NODE_SET_METHOD(exports, "fired", Fired);
}
