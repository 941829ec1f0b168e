// Autograd entry points: grad mode, backward, gradients of leaves, and custom backward functions
// written in JS. Backward runs libtorch's engine on a helper thread while this (the JS) thread
// waits and services the JS backward functions the engine asks for, so a custom backward works
// whichever thread the engine runs it on (CPU work on the caller, CUDA work on device threads).
#include "common.h"
#include <ATen/Parallel.h>
#include <ATen/ThreadLocalState.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/csrc/autograd/variable.h>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

namespace bike {

using torch::autograd::variable_list;

namespace {

struct BackwardRequest {
  int64_t id;
  variable_list grads;
  std::promise<variable_list> result;
};

// The JS thread's side of a running backward: requests from custom nodes, and completion.
struct BackwardPump {
  std::mutex mutex;
  std::condition_variable wake;
  std::deque<BackwardRequest*> requests;
  bool done = false;
};

std::mutex pumpMutex;
BackwardPump* activePump = nullptr;

std::mutex releasedMutex;
std::vector<int64_t> releasedIds;

struct JsBackwardNode : public torch::autograd::Node {
  explicit JsBackwardNode(int64_t id) : id(id) {}
  ~JsBackwardNode() override {
    std::lock_guard<std::mutex> lock(releasedMutex);
    releasedIds.push_back(id);
  }
  std::string name() const override { return "JsBackward#" + std::to_string(id); }

  variable_list apply(variable_list&& grads) override {
    BackwardPump* pump;
    {
      std::lock_guard<std::mutex> lock(pumpMutex);
      pump = activePump;
    }
    if (!pump) throw std::runtime_error("a JS custom backward ran outside backward()");
    BackwardRequest request{id, std::move(grads), {}};
    auto future = request.result.get_future();
    {
      std::lock_guard<std::mutex> lock(pump->mutex);
      pump->requests.push_back(&request);
    }
    pump->wake.notify_all();
    return future.get();
  }

  int64_t id;
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

void serviceRequest(Napi::Env env, BackwardRequest* request, bool createGraph) {
  try {
    Napi::FunctionReference& handler = customBackwardHandler();
    if (handler.IsEmpty()) throw std::runtime_error("no custom backward handler is registered");
    torch::autograd::AutoGradMode gradMode(createGraph);
    Napi::Value result = handler.Call({Napi::Number::New(env, static_cast<double>(request->id)), tensorsToArray(env, request->grads)});
    request->result.set_value(tensorsFromArray(result, "custom backward result", true));
  } catch (const Napi::Error& e) {
    request->result.set_exception(std::make_exception_ptr(std::runtime_error(e.Message())));
  } catch (...) {
    request->result.set_exception(std::current_exception());
  }
}

// Runs libtorch's autograd engine (`work`) on a helper thread while this, the JS thread, services
// the JS custom backward functions it asks for; rethrows the engine's error prefixed with `what`.
void runEngine(Napi::Env env, const char* what, bool createGraph, const std::function<void()>& work) {
  BackwardPump pump;
  {
    std::lock_guard<std::mutex> lock(pumpMutex);
    if (activePump) throw Napi::Error::New(env, std::string(what) + ": another backward is already running");
    activePump = &pump;
  }
  std::exception_ptr failure;
  at::ThreadLocalState callerState;
  std::thread worker([&] {
    // A fresh thread starts with OpenMP's default thread count; take the one set by setNumThreads,
    // as PyTorch's own autograd threads do.
    at::init_num_threads();
    at::ThreadLocalStateGuard guard(callerState);
    try {
      work();
    } catch (...) {
      failure = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(pump.mutex);
      pump.done = true;
    }
    pump.wake.notify_all();
  });
  for (;;) {
    BackwardRequest* request = nullptr;
    {
      std::unique_lock<std::mutex> lock(pump.mutex);
      pump.wake.wait(lock, [&] { return pump.done || !pump.requests.empty(); });
      if (!pump.requests.empty()) {
        request = pump.requests.front();
        pump.requests.pop_front();
      } else if (pump.done) {
        break;
      }
    }
    if (request) serviceRequest(env, request, createGraph);
  }
  worker.join();
  {
    std::lock_guard<std::mutex> lock(pumpMutex);
    activePump = nullptr;
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

  runEngine(env, "backward", createGraph, [&] { torch::autograd::backward(outputs, grads, retainGraph, createGraph); });
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
  runEngine(env, "grad", createGraph, [&] {
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
      auto node = std::shared_ptr<JsBackwardNode>(new JsBackwardNode(id), torch::autograd::deleteNode);
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
