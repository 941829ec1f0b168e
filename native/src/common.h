// Shared pieces of the addon: the tensor handle and JS <-> libtorch conversions.
// The addon is deliberately thin: it moves tensors and calls libtorch, nothing else.
#pragma once
#define NAPI_VERSION 8
#include <napi.h>
#include <ATen/ATen.h>
#include <torch/csrc/api/include/torch/version.h>
#include <string>
#include <vector>

namespace bike {

// A libtorch tensor owned by a JS external. `release` frees it early (explicit dispose); the
// external's finalizer frees whatever is left when the GC collects the JS value.
struct TensorBox {
  at::Tensor tensor;
  int64_t accountedBytes = 0;
};

Napi::Value wrapTensor(Napi::Env env, at::Tensor tensor);
// Throws a JS TypeError naming `what` when `value` is not a live tensor handle.
at::Tensor& unwrapTensor(const Napi::Value& value, const char* what);
bool isTensorHandle(const Napi::Value& value);
void releaseTensor(Napi::Env env, TensorBox* box);

std::string describeTensor(const at::Tensor& t);
std::vector<int64_t> toInt64Vector(const Napi::Value& value, const char* what);
Napi::Array toJsIntArray(Napi::Env env, at::IntArrayRef values);

// Runs `body`, turning C++ exceptions (c10::Error included) into JS errors prefixed with `context`.
template <typename F>
Napi::Value guarded(Napi::Env env, const std::string& context, F&& body) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (const c10::Error& e) {
    throw Napi::Error::New(env, context + ": " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, context + ": " + e.what());
  }
}

void registerTensorFunctions(Napi::Env env, Napi::Object exports);
void registerOpFunctions(Napi::Env env, Napi::Object exports);
void registerAutogradFunctions(Napi::Env env, Napi::Object exports);
void registerRuntimeFunctions(Napi::Env env, Napi::Object exports);
void registerDistributedFunctions(Napi::Env env, Napi::Object exports);
void registerImageFunctions(Napi::Env env, Napi::Object exports);
void registerVideoFunctions(Napi::Env env, Napi::Object exports);
void registerFrameKernelFunctions(Napi::Env env, Napi::Object exports);

}  // namespace bike
