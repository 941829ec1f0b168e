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

// A new handle for `tensor` (null for an undefined tensor). Inside a scope the scope frees it; see
// handles.cpp.
Napi::Value wrapTensor(Napi::Env env, at::Tensor tensor);
// Throws a JS TypeError naming `what` when `value` is not a tensor handle, an Error when its tensor
// was freed.
at::Tensor& unwrapTensor(const Napi::Value& value, const char* what);

// A scope of the addon's own: handles made while it lives are freed when it ends (the handles a
// JS callback gets and returns, once C++ has read them).
class NativeScope {
 public:
  explicit NativeScope(napi_env env);
  ~NativeScope();
  NativeScope(const NativeScope&) = delete;
  NativeScope& operator=(const NativeScope&) = delete;

 private:
  napi_env env_;
};

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

void registerHandleFunctions(Napi::Env env, Napi::Object exports);
void registerTensorFunctions(Napi::Env env, Napi::Object exports);
void registerOpFunctions(Napi::Env env, Napi::Object exports);
void registerAutogradFunctions(Napi::Env env, Napi::Object exports);
void registerRuntimeFunctions(Napi::Env env, Napi::Object exports);
void registerDistributedFunctions(Napi::Env env, Napi::Object exports);
void registerImageFunctions(Napi::Env env, Napi::Object exports);
void registerVideoFunctions(Napi::Env env, Napi::Object exports);
void registerFrameKernelFunctions(Napi::Env env, Napi::Object exports);

}  // namespace bike
