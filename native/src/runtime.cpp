// Process-wide switches: seeds and RNG state, threads, autocast, CUDA presence and sync, the heap's
// thresholds, version.
#include "common.h"
#include <dlfcn.h>
#include <link.h>
#include <malloc.h>
#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <ATen/core/Generator.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <mutex>
#ifdef BIKE_WITH_CUDA
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace bike {

namespace {

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define BIKE_AUTOCAST_BY_DEVICE 1
#endif

c10::DeviceType autocastDevice(const std::string& name) {
  if (name == "cpu") return c10::DeviceType::CPU;
  if (name == "cuda") return c10::DeviceType::CUDA;
  throw std::invalid_argument("autocast device must be 'cpu' or 'cuda', got '" + name + "'");
}

bool autocastEnabled(c10::DeviceType device) {
#ifdef BIKE_AUTOCAST_BY_DEVICE
  return at::autocast::is_autocast_enabled(device);
#else
  return device == c10::DeviceType::CPU ? at::autocast::is_cpu_enabled() : at::autocast::is_enabled();
#endif
}

at::ScalarType autocastDtype(c10::DeviceType device) {
#ifdef BIKE_AUTOCAST_BY_DEVICE
  return at::autocast::get_autocast_dtype(device);
#else
  return device == c10::DeviceType::CPU ? at::autocast::get_autocast_cpu_dtype() : at::autocast::get_autocast_gpu_dtype();
#endif
}

void setAutocast(c10::DeviceType device, bool enabled, at::ScalarType dtype) {
#ifdef BIKE_AUTOCAST_BY_DEVICE
  at::autocast::set_autocast_enabled(device, enabled);
  at::autocast::set_autocast_dtype(device, dtype);
#else
  if (device == c10::DeviceType::CPU) {
    at::autocast::set_cpu_enabled(enabled);
    at::autocast::set_autocast_cpu_dtype(dtype);
  } else {
    at::autocast::set_enabled(enabled);
    at::autocast::set_autocast_gpu_dtype(dtype);
  }
#endif
}

// enterAutocast(device, enabled, dtype) -> [previousEnabled, previousDtype]
Napi::Value enterAutocast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, "autocast", [&]() -> Napi::Value {
    auto device = autocastDevice(info[0].As<Napi::String>().Utf8Value());
    bool enabled = info[1].ToBoolean().Value();
    auto dtype = static_cast<at::ScalarType>(info[2].As<Napi::Number>().Int32Value());
    auto result = Napi::Array::New(env, 2);
    result.Set(0u, Napi::Boolean::New(env, autocastEnabled(device)));
    result.Set(1u, Napi::Number::New(env, static_cast<int>(autocastDtype(device))));
    setAutocast(device, enabled, dtype);
    at::autocast::increment_nesting();
    return result;
  });
}

// getAutocast(device) -> [enabled, dtype]: the current setting, e.g. to replay it later.
Napi::Value getAutocast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, "autocast", [&]() -> Napi::Value {
    auto device = autocastDevice(info[0].As<Napi::String>().Utf8Value());
    auto result = Napi::Array::New(env, 2);
    result.Set(0u, Napi::Boolean::New(env, autocastEnabled(device)));
    result.Set(1u, Napi::Number::New(env, static_cast<int>(autocastDtype(device))));
    return result;
  });
}

// exitAutocast(device, previousEnabled, previousDtype): restores, and frees cached casts at the outermost exit.
Napi::Value exitAutocast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, "autocast", [&]() -> Napi::Value {
    auto device = autocastDevice(info[0].As<Napi::String>().Utf8Value());
    bool enabled = info[1].ToBoolean().Value();
    auto dtype = static_cast<at::ScalarType>(info[2].As<Napi::Number>().Int32Value());
    setAutocast(device, enabled, dtype);
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    return env.Undefined();
  });
}

Napi::Value manualSeed(const Napi::CallbackInfo& info) {
  auto seed = static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value());
  at::manual_seed(seed);
  return info.Env().Undefined();
}

at::Generator generatorFor(const Napi::Value& deviceValue) {
  c10::Device device(deviceValue.IsString() ? deviceValue.As<Napi::String>().Utf8Value() : "cpu");
  return at::globalContext().defaultGenerator(device);
}

// getRngState(device?) -> uint8 tensor; setRngState(state, device?)
Napi::Value getRngState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, "getRngState", [&]() -> Napi::Value {
    auto gen = generatorFor(info[0]);
    std::lock_guard<std::mutex> lock(gen.mutex());
    return wrapTensor(env, gen.get_state());
  });
}

Napi::Value setRngState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, "setRngState", [&]() -> Napi::Value {
    auto gen = generatorFor(info[1]);
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(unwrapTensor(info[0], "setRngState"));
    return env.Undefined();
  });
}

Napi::Value setNumThreads(const Napi::CallbackInfo& info) {
  at::set_num_threads(info[0].As<Napi::Number>().Int32Value());
  return info.Env().Undefined();
}

Napi::Value getNumThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), at::get_num_threads());
}

Napi::Value cudaDeviceCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), at::hasCUDA() ? at::detail::getCUDAHooks().getNumGPUs() : 0);
}

Napi::Value cudaSynchronize(const Napi::CallbackInfo& info) {
#ifdef BIKE_WITH_CUDA
  c10::cuda::device_synchronize();
#endif
  return info.Env().Undefined();
}

// cudaMemory(device) -> [allocatedBytes, peakAllocatedBytes, reservedBytes]; resets the peak.
Napi::Value cudaMemory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto out = Napi::Array::New(env, 3);
#ifdef BIKE_WITH_CUDA
  int device = info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 0;
  auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device);
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 6)
  using c10::CachingDeviceAllocator::StatType;
#else
  using c10::cuda::CUDACachingAllocator::StatType;
#endif
  auto aggregate = static_cast<size_t>(StatType::AGGREGATE);
  out.Set(0u, Napi::Number::New(env, static_cast<double>(stats.allocated_bytes[aggregate].current)));
  out.Set(1u, Napi::Number::New(env, static_cast<double>(stats.allocated_bytes[aggregate].peak)));
  out.Set(2u, Napi::Number::New(env, static_cast<double>(stats.reserved_bytes[aggregate].current)));
  c10::cuda::CUDACachingAllocator::resetPeakStats(device);
#else
  for (uint32_t i = 0; i < 3; ++i) out.Set(i, Napi::Number::New(env, 0));
#endif
  return out;
}

// setMallocThresholds(mmapBytes, trimBytes) -> whether glibc took both (false elsewhere).
Napi::Value setMallocThresholds(const Napi::CallbackInfo& info) {
  bool ok = false;
#ifdef __GLIBC__
  int mmapBytes = info[0].As<Napi::Number>().Int32Value();
  int trimBytes = info[1].As<Napi::Number>().Int32Value();
  ok = mallopt(M_MMAP_THRESHOLD, mmapBytes) == 1 && mallopt(M_TRIM_THRESHOLD, trimBytes) == 1;
#endif
  return Napi::Boolean::New(info.Env(), ok);
}

// The file of the loaded library whose soname is `soname` ("" when none is loaded).
std::string loadedLibrary(const char* soname) {
  void* handle = dlopen(soname, RTLD_LAZY | RTLD_NOLOAD);
  if (!handle) return "";
  std::string file;
  struct link_map* map = nullptr;
  if (dlinfo(handle, RTLD_DI_LINKMAP, &map) == 0 && map && map->l_name) file = map->l_name;
  dlclose(handle);
  return file;
}

Napi::Value version(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto out = Napi::Object::New(env);
  out.Set("torch", Napi::String::New(env, TORCH_VERSION));
  out.Set("major", Napi::Number::New(env, TORCH_VERSION_MAJOR));
  out.Set("minor", Napi::Number::New(env, TORCH_VERSION_MINOR));
  out.Set("blas", Napi::String::New(env, loadedLibrary("libblas.so.3")));
#ifdef BIKE_WITH_CUDA
  out.Set("cuda", Napi::Boolean::New(env, true));
#else
  out.Set("cuda", Napi::Boolean::New(env, false));
#endif
  return out;
}

}  // namespace

void registerRuntimeFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("enterAutocast", Napi::Function::New(env, enterAutocast));
  exports.Set("exitAutocast", Napi::Function::New(env, exitAutocast));
  exports.Set("getAutocast", Napi::Function::New(env, getAutocast));
  exports.Set("manualSeed", Napi::Function::New(env, manualSeed));
  exports.Set("getRngState", Napi::Function::New(env, getRngState));
  exports.Set("setRngState", Napi::Function::New(env, setRngState));
  exports.Set("setNumThreads", Napi::Function::New(env, setNumThreads));
  exports.Set("getNumThreads", Napi::Function::New(env, getNumThreads));
  exports.Set("cudaDeviceCount", Napi::Function::New(env, cudaDeviceCount));
  exports.Set("cudaSynchronize", Napi::Function::New(env, cudaSynchronize));
  exports.Set("cudaMemory", Napi::Function::New(env, cudaMemory));
  exports.Set("version", Napi::Function::New(env, version));
  exports.Set("setMallocThresholds", Napi::Function::New(env, setMallocThresholds));
}

}  // namespace bike
