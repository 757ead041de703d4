// The time guard behind the gas meter (issue "Hostile-proof", host/wasm/README.md).
//
// Gas metering bounds a plugin's work deterministically; this guard bounds its time, so that a
// metering bug (an uninstrumented loop, an under-charged host call) cannot hang an event loop.
//
// One guard per isolate: the addon is context-aware (NODE_MODULE_INIT), so each thread that loads it
// (the main thread and every worker_threads Worker of core.workers, one V8 isolate each) gets its own
// Watchdog, reached through the data of its own `start`/`call`/`fired` functions, and its own watchdog
// thread. An environment cleanup hook stops and joins that thread when the worker (or the process)
// tears its environment down, before the isolate is disposed, so the thread never touches a dead
// isolate. Separate threads (rather than one thread watching a list) keep each guard independent and
// the hot path the same: no registry to lock.
//
// The watchdog thread wakes every `tick` ms. `call(timeoutMs, fn, a, b, c)` runs fn on the isolate's
// thread inside a v8::TryCatch; when the watchdog sees the same call still running after it has used
// `timeoutMs` of that thread's CPU time, or `WALL_FACTOR` times that in wall-clock time, it calls
// v8::Isolate::TerminateExecution (thread-safe; V8 checks for it at function entries and loop
// back-edges, Wasm included). `call` then cancels the termination and throws a plain Error with code
// ERR_HOOK_TIMEOUT, which the host handles like a trap. A termination this guard did not request
// (Worker.terminate(), process.exit() in a worker) is left to propagate.
//
// Why CPU time first: on a loaded machine an event-loop thread can wait tens of ms for a core while
// inside a hook of a few µs; a wall-clock bound alone would stop healthy hooks. The CPU clock is the
// one of the thread that started the guard (pthread_getcpuclockid at start), i.e. the thread running
// that isolate, so a spinning worker is measured by its own CPU time, not the main thread's. The
// wall-clock backstop still bounds a hook that blocks without spending CPU.
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
using v8::External;
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
  // the CPU-time clock of the thread that runs the isolate (its event loop); set by the first start
  clockid_t cpuClock;
  bool started = false;
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

void ThrowTypeError(Isolate* isolate, const char* msg) {
  isolate->ThrowException(Exception::TypeError(String::NewFromUtf8(isolate, msg).ToLocalChecked()));
}

// the guard of the environment these functions were created in (see Init)
Watchdog* Of(const FunctionCallbackInfo<Value>& args) {
  return static_cast<Watchdog*>(args.Data().As<External>()->Value());
}

// start(tickMs): starts the watchdog thread for this isolate (idempotent; a new tick applies).
void Start(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  Watchdog* w = Of(args);
  int tick = args.Length() > 0 && args[0]->IsNumber() ? static_cast<int>(args[0].As<Number>()->Value()) : 5;
  if (tick < 1) tick = 1;
  if (tick > 1000) tick = 1000;
  std::lock_guard<std::mutex> lock(w->mu);
  w->tickMs = tick;
  if (w->started) return;
  // the calling thread is the one running this isolate: its CPU clock is the one to bound
  if (pthread_getcpuclockid(pthread_self(), &w->cpuClock) != 0) return ThrowTypeError(isolate, "no CPU-time clock for this thread");
  w->started = true;
  w->thread = std::thread([w] { w->run(); });
}

// Environment cleanup (worker exit, process teardown): stop and join the watchdog thread while the
// isolate is still alive, then free the guard. No JavaScript of this environment runs afterwards.
void Cleanup(void* arg) {
  Watchdog* w = static_cast<Watchdog*>(arg);
  {
    std::lock_guard<std::mutex> lock(w->mu);
    w->stopping = true;
  }
  w->cv.notify_one();
  if (w->thread.joinable()) w->thread.join();
  delete w;
}

// call(timeoutMs, fn, a?, b?, c?): fn(a, b, c) under the guard. Rethrows fn's exceptions unchanged.
void Call(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  Watchdog* w = Of(args);
  if (!w->started) return ThrowTypeError(isolate, "watchdog not started");
  if (args.Length() < 2 || !args[0]->IsNumber() || !args[1]->IsFunction()) {
    return ThrowTypeError(isolate, "call(timeoutMs, fn, ...args)");
  }
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
    if (timedOut) {
      // a Worker.terminate() arriving in the same instant is cancelled with it; Node has then already
      // told that worker's event loop to stop and refuses further calls into JavaScript, so the worker
      // still exits once this stack returns
      isolate->CancelTerminateExecution();
    } else if (tc.HasTerminated()) {
      // not ours: the worker is being stopped (Worker.terminate(), process.exit()) or an outer
      // guarded call timed out; leave the termination pending so it unwinds the rest of the stack
      return;
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

// fired(): how many calls this isolate's watchdog has terminated since start.
void Fired(const FunctionCallbackInfo<Value>& args) {
  Watchdog* w = Of(args);
  double n;
  {
    std::lock_guard<std::mutex> lock(w->mu);
    n = static_cast<double>(w->fired);
  }
  args.GetReturnValue().Set(Number::New(args.GetIsolate(), n));
}

void SetMethod(Local<Context> context, Local<Object> exports, const char* name, v8::FunctionCallback cb, Local<Value> data) {
  Isolate* isolate = context->GetIsolate();
  Local<Function> fn = v8::FunctionTemplate::New(isolate, cb, data)->GetFunction(context).ToLocalChecked();
  Local<String> key = String::NewFromUtf8(isolate, name).ToLocalChecked();
  fn->SetName(key);
  exports->Set(context, key, fn).Check();
}

}  // namespace

// Runs once per context that loads the addon: the main thread and each worker thread get their own
// guard; the cleanup hook frees it (and stops its thread) when that environment goes away.
NODE_MODULE_INIT(/* exports, module, context */) {
  Isolate* isolate = context->GetIsolate();
  Watchdog* w = new Watchdog();
  w->isolate = isolate;
  node::AddEnvironmentCleanupHook(isolate, Cleanup, w);
  Local<Value> data = External::New(isolate, w);
  SetMethod(context, exports, "start", Start, data);
  SetMethod(context, exports, "call", Call, data);
  SetMethod(context, exports, "fired", Fired, data);
}
