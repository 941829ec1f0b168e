// c10d process groups (Gloo on CPU, NCCL on CUDA builds) with a TCPStore rendezvous, as torchrun
// sets it up. Collectives run synchronously on the calling thread and update tensors in place.
#include "common.h"
#ifdef USE_C10D_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef BIKE_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#include <chrono>

namespace bike {

namespace {

// libtorch 2 split process groups into a front end and per-backend `Backend`s; the collectives we
// call have the same signatures on both.
#if TORCH_VERSION_MAJOR >= 2
using GroupBase = c10d::Backend;
#else
using GroupBase = c10d::ProcessGroup;
#endif

struct GroupBox {
  c10::intrusive_ptr<c10d::TCPStore> store;
  c10::intrusive_ptr<GroupBase> group;
  int rank;
  int worldSize;
  std::chrono::milliseconds timeout;
};

GroupBox* unwrapGroup(const Napi::Value& value) {
  if (!value.IsExternal()) throw Napi::TypeError::New(value.Env(), "expected a process group handle");
  auto* box = value.As<Napi::External<GroupBox>>().Data();
  if (!box->group) throw Napi::Error::New(value.Env(), "the process group was destroyed");
  return box;
}

std::vector<at::Tensor> tensorList(const Napi::Value& value, const char* what) {
  auto array = value.As<Napi::Array>();
  std::vector<at::Tensor> out;
  for (uint32_t i = 0; i < array.Length(); ++i) out.push_back(unwrapTensor(array.Get(i), what));
  return out;
}

void waitFor(GroupBox* box, const c10::intrusive_ptr<c10d::Work>& work) {
  work->wait(box->timeout);
}

// createProcessGroup(backend, masterAddr, masterPort, rank, worldSize, timeoutMs)
Napi::Value createProcessGroup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string backend = info[0].As<Napi::String>().Utf8Value();
  std::string host = info[1].As<Napi::String>().Utf8Value();
  int port = info[2].As<Napi::Number>().Int32Value();
  int rank = info[3].As<Napi::Number>().Int32Value();
  int worldSize = info[4].As<Napi::Number>().Int32Value();
  std::chrono::milliseconds timeout(info[5].As<Napi::Number>().Int64Value());
  return guarded(env, "init process group (" + backend + ", rank " + std::to_string(rank) + " of " +
                          std::to_string(worldSize) + ", " + host + ":" + std::to_string(port) + ")",
                 [&]() -> Napi::Value {
    c10d::TCPStoreOptions options;
    options.port = static_cast<uint16_t>(port);
    options.isServer = rank == 0;
    options.numWorkers = worldSize;
    options.waitWorkers = true;
    options.timeout = timeout;
    auto store = c10::make_intrusive<c10d::TCPStore>(host, options);
    auto prefixed = c10::make_intrusive<c10d::PrefixStore>("bike/" + backend, store);
    c10::intrusive_ptr<GroupBase> group;
    if (backend == "gloo") {
#ifdef USE_C10D_GLOO
      auto glooOptions = c10d::ProcessGroupGloo::Options::create();
      glooOptions->timeout = timeout;
      const char* iface = std::getenv("GLOO_SOCKET_IFNAME");
      if (iface) {
        glooOptions->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(iface));
      } else if (host == "127.0.0.1" || host == "localhost") {
        glooOptions->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
      } else {
        glooOptions->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      }
      group = c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, rank, worldSize, glooOptions);
#else
      throw std::runtime_error("this addon was built without Gloo (its headers were not found)");
#endif
    } else if (backend == "nccl") {
#ifdef BIKE_WITH_NCCL
      auto ncclOptions = c10d::ProcessGroupNCCL::Options::create();
      ncclOptions->timeout = timeout;
      group = c10::make_intrusive<c10d::ProcessGroupNCCL>(prefixed, rank, worldSize, ncclOptions);
#else
      throw std::runtime_error("this addon was built without NCCL (build against a CUDA libtorch with TORCH_DIR)");
#endif
    } else {
      throw std::invalid_argument("unknown backend '" + backend + "' (expected gloo or nccl)");
    }
    auto* box = new GroupBox{store, group, rank, worldSize, timeout};
    return Napi::External<GroupBox>::New(env, box, [](Napi::Env, GroupBox* b) { delete b; });
  });
}

c10d::ReduceOp reduceOp(const std::string& name) {
  if (name == "sum") return c10d::ReduceOp(c10d::ReduceOp::SUM);
  if (name == "max") return c10d::ReduceOp(c10d::ReduceOp::MAX);
  if (name == "min") return c10d::ReduceOp(c10d::ReduceOp::MIN);
  if (name == "product") return c10d::ReduceOp(c10d::ReduceOp::PRODUCT);
  throw std::invalid_argument("unknown reduce op '" + name + "'");
}

// allReduce(group, tensors[], op): each tensor reduced in place across ranks.
Napi::Value allReduce(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GroupBox* box = unwrapGroup(info[0]);
  return guarded(env, "allReduce on rank " + std::to_string(box->rank), [&]() -> Napi::Value {
    auto tensors = tensorList(info[1], "allReduce");
    c10d::AllreduceOptions options;
    options.reduceOp = reduceOp(info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "sum");
    for (auto& t : tensors) {
      std::vector<at::Tensor> one{t};
      waitFor(box, box->group->allreduce(one, options));
    }
    return env.Undefined();
  });
}

// allGather(group, tensor) -> one tensor per rank (same shape on every rank).
Napi::Value allGather(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GroupBox* box = unwrapGroup(info[0]);
  return guarded(env, "allGather on rank " + std::to_string(box->rank), [&]() -> Napi::Value {
    at::Tensor input = unwrapTensor(info[1], "allGather").contiguous();
    std::vector<std::vector<at::Tensor>> outputs(1);
    for (int i = 0; i < box->worldSize; ++i) outputs[0].push_back(at::empty_like(input));
    std::vector<at::Tensor> inputs{input};
    waitFor(box, box->group->allgather(outputs, inputs));
    auto out = Napi::Array::New(env, outputs[0].size());
    for (size_t i = 0; i < outputs[0].size(); ++i) out.Set(static_cast<uint32_t>(i), wrapTensor(env, outputs[0][i]));
    return out;
  });
}

// broadcast(group, tensors[], root): in place.
Napi::Value broadcast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GroupBox* box = unwrapGroup(info[0]);
  return guarded(env, "broadcast on rank " + std::to_string(box->rank), [&]() -> Napi::Value {
    auto tensors = tensorList(info[1], "broadcast");
    c10d::BroadcastOptions options;
    options.rootRank = info[2].As<Napi::Number>().Int32Value();
    for (auto& t : tensors) {
      std::vector<at::Tensor> one{t};
      waitFor(box, box->group->broadcast(one, options));
    }
    return env.Undefined();
  });
}

Napi::Value barrier(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GroupBox* box = unwrapGroup(info[0]);
  return guarded(env, "barrier on rank " + std::to_string(box->rank), [&]() -> Napi::Value {
    waitFor(box, box->group->barrier());
    return env.Undefined();
  });
}

// storeSet(group, key, value) / storeGet(group, key, timeoutMs) -> string: small messages between ranks.
Napi::Value storeSet(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GroupBox* box = unwrapGroup(info[0]);
  return guarded(env, "store set", [&]() -> Napi::Value {
    std::string value = info[2].As<Napi::String>().Utf8Value();
    box->store->set(info[1].As<Napi::String>().Utf8Value(), std::vector<uint8_t>(value.begin(), value.end()));
    return env.Undefined();
  });
}

Napi::Value storeGet(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GroupBox* box = unwrapGroup(info[0]);
  std::string key = info[1].As<Napi::String>().Utf8Value();
  return guarded(env, "store get '" + key + "'", [&]() -> Napi::Value {
    std::vector<std::string> keys{key};
    box->store->wait(keys, std::chrono::milliseconds(info[2].As<Napi::Number>().Int64Value()));
    auto value = box->store->get(key);
    return Napi::String::New(env, std::string(value.begin(), value.end()));
  });
}

Napi::Value destroyProcessGroup(const Napi::CallbackInfo& info) {
  if (info[0].IsExternal()) {
    auto* box = info[0].As<Napi::External<GroupBox>>().Data();
    box->group.reset();
    box->store.reset();
  }
  return info.Env().Undefined();
}

}  // namespace

void registerDistributedFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("createProcessGroup", Napi::Function::New(env, createProcessGroup));
  exports.Set("allReduce", Napi::Function::New(env, allReduce));
  exports.Set("allGather", Napi::Function::New(env, allGather));
  exports.Set("broadcast", Napi::Function::New(env, broadcast));
  exports.Set("barrier", Napi::Function::New(env, barrier));
  exports.Set("storeSet", Napi::Function::New(env, storeSet));
  exports.Set("storeGet", Napi::Function::New(env, storeGet));
  exports.Set("destroyProcessGroup", Napi::Function::New(env, destroyProcessGroup));
}

}  // namespace bike
