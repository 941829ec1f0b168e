// Autograd entry points: grad mode, backward, gradients of leaves, and custom backward functions
// written in JS. A pass whose graph cannot reach JS (no JS backward node is alive) runs on the JS
// thread, as PyTorch's does on its caller. Otherwise it runs libtorch's engine on a helper thread
// (one per JS thread, kept) while the JS thread waits and services the JS backward functions the
// engine asks for, so a custom backward works whichever thread the engine runs it on (CPU work on
// the helper, CUDA work on device threads).
//
// Re-entrant: a JS backward may itself call backward()/grad(), to any depth. The nested pass runs
// on the engine thread that is waiting for that JS backward (libtorch then treats it as its own
// re-entrant call, as for a Python custom backward; a CUDA device thread is not blocked by a pass
// it is waiting on), while the JS thread pumps the nested pass's requests in an inner loop.
#include "common.h"
#include <ATen/Parallel.h>
#include <ATen/ThreadLocalState.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/csrc/autograd/variable.h>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace bike {

using torch::autograd::variable_list;

namespace {

// One mutex guards every pump stack, pump and request below: they are touched only briefly, and one
// lock makes pushing, routing and popping atomic with respect to each other.
std::mutex pumpMutex;

// A JS backward the engine is waiting for, on whichever engine thread runs the node.
struct BackwardRequest {
  int64_t id;
  variable_list grads;
  // The requesting pass's create_graph: libtorch sets grad mode to it while it runs a node.
  bool createGraph;
  std::condition_variable wake;
  // A nested pass the JS backward started, for the waiting engine thread to run.
  const std::function<void()>* nested = nullptr;
  bool finished = false;
  variable_list result;
  std::exception_ptr error;
};

// The JS thread's side of one running pass: the requests routed to it, and completion.
struct BackwardPump {
  std::condition_variable wake;
  std::deque<BackwardRequest*> requests;
  // The request whose JS backward this pump's loop is running (a nested pass runs on its thread).
  BackwardRequest* servicing = nullptr;
  bool done = false;
};

// The passes a JS thread is running, innermost last. The JS thread is only ever in the innermost
// pump's loop, and any loop can service any request (the handler is keyed by node id), so a node
// sends its request to the innermost pump, whichever pass it belongs to.
struct PumpStack {
  std::vector<BackwardPump*> pumps;
};

// Each JS thread (main or worker) has its own stack and handler; a node keeps the stack of the
// thread that created it, so no engine thread needs thread-local state to find its way back.
PumpStack& jsThreadPumps() {
  static thread_local PumpStack stack;
  return stack;
}

// The helper thread a JS thread's outermost passes run on: one per JS thread for its lifetime, not
// one per pass. OpenMP (libtorch's ops, and BLAS where it is the OpenMP build) keeps a team of
// threads per thread that starts parallel work, so a fresh thread per backward paid a new team
// each step, next to the JS thread's own team still spinning from the forward.
class EngineThread {
 public:
  EngineThread() : thread_([this] { loop(); }) {}
  ~EngineThread() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  // Starts a copy of `job` on the helper (the copy is the helper's to destroy); the caller learns of
  // its end through the job itself.
  void post(const std::function<void()>& job) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      job_ = job;
    }
    wake_.notify_all();
  }

 private:
  void loop() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      wake_.wait(lock, [&] { return stopping_ || job_; });
      if (stopping_) return;
      std::function<void()> job = std::move(job_);
      job_ = nullptr;
      lock.unlock();
      // The thread count set by setNumThreads since the last pass, as PyTorch's autograd threads take it.
      at::init_num_threads();
      job();
      job = nullptr;
      lock.lock();
    }
  }
  std::mutex mutex_;
  std::condition_variable wake_;
  std::function<void()> job_;
  bool stopping_ = false;
  std::thread thread_;  // last: it starts once the members above exist
};

EngineThread& jsThreadEngine() {
  static thread_local EngineThread engine;
  return engine;
}

std::mutex releasedMutex;
std::vector<int64_t> releasedIds;

// JS backward nodes alive in any graph of any JS thread. While there are none, no pass can reach
// JS, and a pass runs on the JS thread itself as PyTorch's CPU backward runs on its caller: no
// hand-off, and the forward's OpenMP team (and heap arena) serve the backward too.
std::atomic<int64_t> liveJsNodes{0};

struct JsBackwardNode : public torch::autograd::Node {
  JsBackwardNode(int64_t id, PumpStack* owner) : id(id), owner(owner) { ++liveJsNodes; }
  ~JsBackwardNode() override {
    --liveJsNodes;
    std::lock_guard<std::mutex> lock(releasedMutex);
    releasedIds.push_back(id);
  }
  std::string name() const override { return "JsBackward#" + std::to_string(id); }

  variable_list apply(variable_list&& grads) override {
    BackwardRequest request{id, std::move(grads), torch::autograd::GradMode::is_enabled()};
    std::unique_lock<std::mutex> lock(pumpMutex);
    if (owner->pumps.empty()) throw std::runtime_error("a JS custom backward ran outside backward()");
    BackwardPump* pump = owner->pumps.back();
    pump->requests.push_back(&request);
    pump->wake.notify_all();
    for (;;) {
      request.wake.wait(lock, [&] { return request.finished || request.nested; });
      if (request.finished) break;
      const std::function<void()>* nested = request.nested;
      request.nested = nullptr;
      lock.unlock();
      (*nested)();  // records its own failure; never throws
      lock.lock();
    }
    if (request.error) std::rethrow_exception(request.error);
    return std::move(request.result);
  }

  int64_t id;
  PumpStack* owner;
};

Napi::FunctionReference& customBackwardHandler() {
  static thread_local Napi::FunctionReference handler;
  return handler;
}

std::vector<at::Tensor> tensorsFromArray(const Napi::Value& value, const char* what, bool allowNull) {
  if (!value.IsArray()) throw Napi::TypeError::New(value.Env(), std::string(what) + ": expected an array of tensors");
  auto array = value.As<Napi::Array>();
  std::vector<at::Tensor> out;
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Value item = array.Get(i);
    if (allowNull && (item.IsNull() || item.IsUndefined())) out.emplace_back();
    else out.push_back(unwrapTensor(item, what));
  }
  return out;
}

Napi::Array tensorsToArray(Napi::Env env, const variable_list& tensors) {
  auto out = Napi::Array::New(env, tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) out.Set(static_cast<uint32_t>(i), wrapTensor(env, tensors[i]));
  return out;
}

// Runs the JS backward of `request` (on the JS thread) and hands its result or error back.
void serviceRequest(Napi::Env env, BackwardPump& pump, BackwardRequest* request) {
  variable_list result;
  std::exception_ptr error;
  try {
    Napi::FunctionReference& handler = customBackwardHandler();
    if (handler.IsEmpty()) throw std::runtime_error("no custom backward handler is registered");
    torch::autograd::AutoGradMode gradMode(request->createGraph);
    NativeScope scope(env);  // frees the grads' handles and the results' once they are read
    Napi::Value value = handler.Call({Napi::Number::New(env, static_cast<double>(request->id)), tensorsToArray(env, request->grads)});
    result = tensorsFromArray(value, "custom backward result", true);
  } catch (const Napi::Error& e) {
    error = std::make_exception_ptr(std::runtime_error(e.Message()));
  } catch (...) {
    error = std::current_exception();
  }
  std::lock_guard<std::mutex> lock(pumpMutex);
  pump.servicing = nullptr;  // before the engine thread may return and free the request
  request->result = std::move(result);
  request->error = error;
  request->finished = true;
  request->wake.notify_all();
}

// Runs libtorch's autograd engine (`work`) on a helper thread while this, the JS thread, services
// the JS custom backward functions it asks for; returns the engine's error, if any. Called from
// inside a JS backward, `work` runs on the engine thread waiting for that backward (see the top).
std::exception_ptr runPumpingJs(Napi::Env env, const char* what, const std::function<void()>& work) {
  PumpStack& stack = jsThreadPumps();
  BackwardPump pump;
  std::exception_ptr failure;
  at::ThreadLocalState callerState;
  const std::function<void()> drive = [&] {
    {
      at::ThreadLocalStateGuard guard(callerState);
      try {
        work();
      } catch (...) {
        failure = std::current_exception();
      }
    }
    std::lock_guard<std::mutex> lock(pumpMutex);
    pump.done = true;  // the last touch of this frame's state: the JS thread may return right after
    pump.wake.notify_all();
  };
  {
    std::lock_guard<std::mutex> lock(pumpMutex);
    BackwardRequest* host = stack.pumps.empty() ? nullptr : stack.pumps.back()->servicing;
    if (!stack.pumps.empty() && !host)
      throw Napi::Error::New(env, std::string(what) + ": called while a backward is running but outside its custom backward functions");
    if (host) {
      host->nested = &drive;
      host->wake.notify_all();
    } else {
      jsThreadEngine().post(drive);
    }
    stack.pumps.push_back(&pump);
  }
  std::unique_lock<std::mutex> lock(pumpMutex);
  for (;;) {
    pump.wake.wait(lock, [&] { return pump.done || !pump.requests.empty(); });
    if (pump.requests.empty()) break;
    BackwardRequest* request = pump.requests.front();
    pump.requests.pop_front();
    pump.servicing = request;
    lock.unlock();
    serviceRequest(env, pump, request);
    lock.lock();
  }
  // Popped under the lock that saw the queue empty and the pass done, so no request is left on
  // this pump and none can be routed to it any more.
  stack.pumps.pop_back();
  return failure;
}

// Runs libtorch's autograd engine (`work`); rethrows its error prefixed with `what`. With no JS
// backward node alive and no pass running, on this thread (nothing to pump); else runPumpingJs.
void runEngine(Napi::Env env, const char* what, const std::function<void()>& work) {
  bool direct;
  {
    std::lock_guard<std::mutex> lock(pumpMutex);
    direct = jsThreadPumps().pumps.empty() && liveJsNodes.load() == 0;
  }
  std::exception_ptr failure;
  if (direct) {
    try {
      work();
    } catch (...) {
      failure = std::current_exception();
    }
  } else {
    failure = runPumpingJs(env, what, work);
  }
  if (failure) {
    try {
      std::rethrow_exception(failure);
    } catch (const c10::Error& e) {
      throw Napi::Error::New(env, std::string(what) + ": " + e.what_without_backtrace());
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, std::string(what) + ": " + e.what());
    }
  }
}

// backward(outputs[], grads[] | null, retainGraph, createGraph)
Napi::Value backward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto outputs = tensorsFromArray(info[0], "backward outputs", false);
  std::vector<at::Tensor> grads;
  if (info[1].IsArray()) grads = tensorsFromArray(info[1], "backward grads", true);
  bool retainGraph = info[2].ToBoolean().Value();
  bool createGraph = info[3].ToBoolean().Value();
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (!outputs[i].requires_grad())
      throw Napi::Error::New(env, "backward: output " + std::to_string(i) + " " + describeTensor(outputs[i]) +
                                      " does not require grad (was it computed under noGrad, or from frozen parameters only?)");
    if (grads.size() <= i && outputs[i].numel() != 1)
      throw Napi::Error::New(env, "backward: output " + std::to_string(i) + " " + describeTensor(outputs[i]) +
                                      " is not a scalar: pass a gradient for it");
  }

  runEngine(env, "backward", [&] { torch::autograd::backward(outputs, grads, retainGraph, createGraph); });
  return env.Undefined();
}

// grad(outputs[], inputs[], grads[] | null, retainGraph, createGraph) -> gradients of inputs (null where unused)
Napi::Value gradOf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto outputs = tensorsFromArray(info[0], "grad outputs", false);
  auto inputs = tensorsFromArray(info[1], "grad inputs", false);
  std::vector<at::Tensor> grads;
  if (info[2].IsArray()) grads = tensorsFromArray(info[2], "grad grads", true);
  bool createGraph = info[4].ToBoolean().Value();
  c10::optional<bool> retainGraph = info[3].IsBoolean() ? c10::optional<bool>(info[3].ToBoolean().Value()) : c10::nullopt;
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (!outputs[i].requires_grad())
      throw Napi::Error::New(env, "grad: output " + std::to_string(i) + " " + describeTensor(outputs[i]) + " does not require grad");
    if (grads.size() <= i && outputs[i].numel() != 1)
      throw Napi::Error::New(env, "grad: output " + std::to_string(i) + " " + describeTensor(outputs[i]) + " is not a scalar: pass gradOutputs for it");
  }
  // Same engine thread and JS pump as backward(), so custom JS backward functions run here too.
  variable_list result;
  runEngine(env, "grad", [&] {
    result = torch::autograd::grad(outputs, inputs, grads, retainGraph, createGraph, /*allow_unused=*/true);
  });
  return tensorsToArray(env, result);
}

// customFunction(id, inputs[], outputs[]) -> outputs attached to a JS backward node with that id.
// The outputs were computed from the inputs without grad; gradients come from the JS handler.
Napi::Value customFunction(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, "customFunction", [&]() -> Napi::Value {
    int64_t id = info[0].As<Napi::Number>().Int64Value();
    auto inputs = tensorsFromArray(info[1], "customFunction inputs", false);
    auto outputs = tensorsFromArray(info[2], "customFunction outputs", false);
    bool anyRequiresGrad = false;
    for (auto& t : inputs) anyRequiresGrad = anyRequiresGrad || t.requires_grad();
    variable_list attached;
    for (auto& t : outputs) attached.push_back(t.detach());
    if (anyRequiresGrad && torch::autograd::GradMode::is_enabled()) {
      auto node = std::shared_ptr<JsBackwardNode>(new JsBackwardNode(id, &jsThreadPumps()), torch::autograd::deleteNode);
      node->set_next_edges(torch::autograd::collect_next_edges(inputs));
      for (auto& t : attached) torch::autograd::create_gradient_edge(t, node);
    }
    return tensorsToArray(env, attached);
  });
}

Napi::Value setCustomBackwardHandler(const Napi::CallbackInfo& info) {
  customBackwardHandler() = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

// Ids of custom backward nodes libtorch has freed, so JS can drop their functions.
Napi::Value takeReleasedCustomIds(const Napi::CallbackInfo& info) {
  std::vector<int64_t> ids;
  {
    std::lock_guard<std::mutex> lock(releasedMutex);
    ids.swap(releasedIds);
  }
  return toJsIntArray(info.Env(), ids);
}

Napi::Value setGradEnabled(const Napi::CallbackInfo& info) {
  bool previous = torch::autograd::GradMode::is_enabled();
  torch::autograd::GradMode::set_enabled(info[0].ToBoolean().Value());
  return Napi::Boolean::New(info.Env(), previous);
}

Napi::Value isGradEnabled(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), torch::autograd::GradMode::is_enabled());
}

Napi::Value requiresGrad(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), unwrapTensor(info[0], "requiresGrad").requires_grad());
}

Napi::Value setRequiresGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, "setRequiresGrad", [&]() -> Napi::Value {
    unwrapTensor(info[0], "setRequiresGrad").set_requires_grad(info[1].ToBoolean().Value());
    return env.Undefined();
  });
}

Napi::Value getGrad(const Napi::CallbackInfo& info) {
  return wrapTensor(info.Env(), unwrapTensor(info[0], "grad").grad());
}

Napi::Value setGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, "setGrad", [&]() -> Napi::Value {
    at::Tensor& t = unwrapTensor(info[0], "setGrad");
    if (info[1].IsNull() || info[1].IsUndefined()) t.mutable_grad().reset();
    else t.mutable_grad() = unwrapTensor(info[1], "setGrad value");
    return env.Undefined();
  });
}

Napi::Value isLeaf(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), unwrapTensor(info[0], "isLeaf").is_leaf());
}

Napi::Value gradFnName(const Napi::CallbackInfo& info) {
  const at::Tensor& t = unwrapTensor(info[0], "gradFn");
  if (!t.grad_fn()) return info.Env().Null();
  return Napi::String::New(info.Env(), t.grad_fn()->name());
}

Napi::Value retainGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, "retainGrad", [&]() -> Napi::Value {
    unwrapTensor(info[0], "retainGrad").retain_grad();
    return env.Undefined();
  });
}

}  // namespace

void registerAutogradFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("backward", Napi::Function::New(env, backward));
  exports.Set("grad", Napi::Function::New(env, gradOf));
  exports.Set("customFunction", Napi::Function::New(env, customFunction));
  exports.Set("setCustomBackwardHandler", Napi::Function::New(env, setCustomBackwardHandler));
  exports.Set("takeReleasedCustomIds", Napi::Function::New(env, takeReleasedCustomIds));
  exports.Set("setGradEnabled", Napi::Function::New(env, setGradEnabled));
  exports.Set("isGradEnabled", Napi::Function::New(env, isGradEnabled));
  exports.Set("requiresGrad", Napi::Function::New(env, requiresGrad));
  exports.Set("setRequiresGrad", Napi::Function::New(env, setRequiresGrad));
  exports.Set("getGrad", Napi::Function::New(env, getGrad));
  exports.Set("setGrad", Napi::Function::New(env, setGrad));
  exports.Set("isLeaf", Napi::Function::New(env, isLeaf));
  exports.Set("gradFnName", Napi::Function::New(env, gradFnName));
  exports.Set("retainGrad", Napi::Function::New(env, retainGrad));
}

}  // namespace bike
