// Entry point of the libtorch addon. Each register* function lives beside the code it exposes.
#include "common.h"

namespace bike {

Napi::Object init(Napi::Env env, Napi::Object exports) {
  registerHandleFunctions(env, exports);
  registerTensorFunctions(env, exports);
  registerOpFunctions(env, exports);
  registerAutogradFunctions(env, exports);
  registerRuntimeFunctions(env, exports);
  registerDistributedFunctions(env, exports);
  registerImageFunctions(env, exports);
  registerVideoFunctions(env, exports);
  registerFrameKernelFunctions(env, exports);
  return exports;
}

}  // namespace bike

static Napi::Object initAddon(Napi::Env env, Napi::Object exports) { return bike::init(env, exports); }

NODE_API_MODULE(bike_torch, initAddon)
