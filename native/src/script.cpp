// TorchScript archives (OpenAI's CLIP `.pt` files are scripted modules): read their parameters
// and buffers by name through libtorch's own loader.
#include "common.h"
#include <torch/script.h>

namespace bike {

namespace {

// loadTorchScriptTensors(path) -> { name: tensor } for every parameter and buffer.
Napi::Value loadTorchScriptTensors(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>().Utf8Value();
  return guarded(env, "TorchScript archive " + path, [&]() -> Napi::Value {
    torch::jit::Module module = torch::jit::load(path, c10::Device(c10::kCPU));
    auto out = Napi::Object::New(env);
    for (const auto& p : module.named_parameters(/*recurse=*/true)) out.Set(p.name, wrapTensor(env, p.value.detach()));
    for (const auto& b : module.named_buffers(/*recurse=*/true)) out.Set(b.name, wrapTensor(env, b.value.detach()));
    return out;
  });
}

}  // namespace

void registerScriptFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("loadTorchScriptTensors", Napi::Function::New(env, loadTorchScriptTensors));
}

}  // namespace bike
