// Tensor handles, creation from and copies to JS buffers, and cheap metadata queries.
#include "common.h"
#include <cmath>
#include <cstring>
#include <sstream>
#include <cerrno>
#include <unistd.h>

namespace bike {

static void finalizeBox(napi_env env, void* data, void*) {
  auto* box = static_cast<TensorBox*>(data);
  if (box->accountedBytes) {
    int64_t ignored;
    napi_adjust_external_memory(env, -box->accountedBytes, &ignored);
  }
  delete box;
}

Napi::Value wrapTensor(Napi::Env env, at::Tensor tensor) {
  if (!tensor.defined()) return env.Null();
  // Not yet counted as external memory: see accountMemory.
  auto* box = new TensorBox{std::move(tensor), 0};
  napi_value result;
  napi_status status = napi_create_external(env, box, finalizeBox, nullptr, &result);
  if (status != napi_ok) {
    delete box;
    throw Napi::Error::New(env, "could not create a tensor handle");
  }
  return Napi::Value(env, result);
}

bool isTensorHandle(const Napi::Value& value) { return value.IsExternal(); }

at::Tensor& unwrapTensor(const Napi::Value& value, const char* what) {
  if (!value.IsExternal()) {
    throw Napi::TypeError::New(value.Env(), std::string(what) + ": expected a tensor handle");
  }
  auto* box = value.As<Napi::External<TensorBox>>().Data();
  if (!box->tensor.defined()) {
    throw Napi::Error::New(value.Env(), std::string(what) + ": the tensor was already disposed");
  }
  return box->tensor;
}

void releaseTensor(Napi::Env env, TensorBox* box) {
  if (box->accountedBytes) {
    int64_t ignored;
    napi_adjust_external_memory(env, -box->accountedBytes, &ignored);
    box->accountedBytes = 0;
  }
  box->tensor.reset();
}

std::string describeTensor(const at::Tensor& t) {
  if (!t.defined()) return "undefined";
  std::ostringstream out;
  out << "[";
  for (size_t i = 0; i < t.sizes().size(); ++i) out << (i ? ", " : "") << t.sizes()[i];
  out << "] " << c10::toString(t.scalar_type()) << " " << t.device();
  return out.str();
}

std::vector<int64_t> toInt64Vector(const Napi::Value& value, const char* what) {
  if (!value.IsArray()) throw Napi::TypeError::New(value.Env(), std::string(what) + ": expected an array of integers");
  auto array = value.As<Napi::Array>();
  std::vector<int64_t> out(array.Length());
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Value item = array.Get(i);
    if (!item.IsNumber()) throw Napi::TypeError::New(value.Env(), std::string(what) + ": element " + std::to_string(i) + " is not a number");
    double d = item.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(d) || d != std::floor(d))
      throw Napi::TypeError::New(value.Env(), std::string(what) + ": element " + std::to_string(i) + " is not an integer (" + item.ToString().Utf8Value() + ")");
    out[i] = static_cast<int64_t>(d);
  }
  return out;
}

Napi::Array toJsIntArray(Napi::Env env, at::IntArrayRef values) {
  auto array = Napi::Array::New(env, values.size());
  for (size_t i = 0; i < values.size(); ++i) array.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(values[i])));
  return array;
}

// fromBuffer(bytes: ArrayBufferView, dtype: ScalarType code, shape: number[], device?: string)
static Napi::Value fromBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, "fromBuffer", [&]() -> Napi::Value {
    if (!info[0].IsTypedArray() && !info[0].IsBuffer() && !info[0].IsDataView())
      throw Napi::TypeError::New(env, "fromBuffer: expected a typed array");
    auto view = info[0].As<Napi::TypedArray>();
    auto scalarType = static_cast<at::ScalarType>(info[1].As<Napi::Number>().Int32Value());
    auto shape = toInt64Vector(info[2], "fromBuffer shape");
    at::Tensor t = at::empty(shape, at::TensorOptions().dtype(scalarType));
    size_t expected = t.nbytes();
    size_t byteLength = view.ByteLength();
    if (byteLength != expected)
      throw Napi::RangeError::New(env, "fromBuffer: shape " + describeTensor(t) + " needs " + std::to_string(expected) +
                                           " bytes, got " + std::to_string(byteLength));
    auto buffer = view.ArrayBuffer();
    if (expected) std::memcpy(t.data_ptr(), static_cast<uint8_t*>(buffer.Data()) + view.ByteOffset(), expected);
    if (info.Length() > 3 && info[3].IsString()) {
      c10::Device device(info[3].As<Napi::String>().Utf8Value());
      if (device != t.device()) t = t.to(device);
    }
    return wrapTensor(env, t);
  });
}

// fromFile(fd: number, offset: number, dtype: ScalarType code, shape: number[], device?: string):
// a new tensor whose bytes are read with pread straight from an open file into its storage (no JS
// buffer in between). The caller has checked offset and size against the file; a short read throws.
static Napi::Value fromFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, "fromFile", [&]() -> Napi::Value {
    int fd = info[0].As<Napi::Number>().Int32Value();
    double offsetValue = info[1].As<Napi::Number>().DoubleValue();
    if (!(offsetValue >= 0) || offsetValue > 9007199254740991.0 || offsetValue != std::floor(offsetValue))
      throw Napi::RangeError::New(env, "fromFile: offset must be a non-negative integer");
    auto scalarType = static_cast<at::ScalarType>(info[2].As<Napi::Number>().Int32Value());
    auto shape = toInt64Vector(info[3], "fromFile shape");
    at::Tensor t = at::empty(shape, at::TensorOptions().dtype(scalarType));
    auto* out = static_cast<uint8_t*>(t.data_ptr());
    size_t total = t.nbytes(), done = 0;
    auto offset = static_cast<off_t>(offsetValue);
    while (done < total) {
      ssize_t n = ::pread(fd, out + done, std::min<size_t>(total - done, size_t(1) << 30), offset + static_cast<off_t>(done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw std::runtime_error(std::string("read failed: ") + std::strerror(errno));
      if (n == 0) throw std::runtime_error("the file ends after " + std::to_string(done) + " of " + std::to_string(total) + " bytes at offset " + std::to_string(offsetValue));
      done += static_cast<size_t>(n);
    }
    if (info.Length() > 4 && info[4].IsString()) {
      c10::Device device(info[4].As<Napi::String>().Utf8Value());
      if (device != t.device()) t = t.to(device);
    }
    return wrapTensor(env, t);
  });
}

// toBuffer(t): a new ArrayBuffer with the tensor's elements, row-major, on the CPU.
static Napi::Value toBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, "toBuffer", [&]() -> Napi::Value {
    at::Tensor t = unwrapTensor(info[0], "toBuffer").detach().to(at::kCPU).contiguous();
    auto buffer = Napi::ArrayBuffer::New(env, t.nbytes());
    if (t.nbytes()) std::memcpy(buffer.Data(), t.data_ptr(), t.nbytes());
    return buffer;
  });
}

static Napi::Value dispose(const Napi::CallbackInfo& info) {
  if (info[0].IsExternal()) releaseTensor(info.Env(), info[0].As<Napi::External<TensorBox>>().Data());
  return info.Env().Undefined();
}

// Tells V8 about a tensor's memory, so that collecting its handle is worth a GC: for tensors that
// only the collector will free (created outside every tidy scope, or kept). Tensors a scope frees
// are not counted: a training step's gigabytes of short-lived activations counted each crossed
// V8's external-memory limit again and again, a major GC every 64 MB. Views share their base's
// storage: only tensors that own fresh storage count.
static Napi::Value accountMemory(const Napi::CallbackInfo& info) {
  if (!info[0].IsExternal()) return info.Env().Undefined();
  auto* box = info[0].As<Napi::External<TensorBox>>().Data();
  if (box->accountedBytes == 0 && box->tensor.defined() && !box->tensor.is_view() && box->tensor.has_storage()) {
    box->accountedBytes = static_cast<int64_t>(box->tensor.storage().nbytes());
    int64_t ignored;
    napi_adjust_external_memory(info.Env(), box->accountedBytes, &ignored);
  }
  return info.Env().Undefined();
}

static Napi::Value isLive(const Napi::CallbackInfo& info) {
  if (!info[0].IsExternal()) return Napi::Boolean::New(info.Env(), false);
  return Napi::Boolean::New(info.Env(), info[0].As<Napi::External<TensorBox>>().Data()->tensor.defined());
}

static Napi::Value shape(const Napi::CallbackInfo& info) {
  return toJsIntArray(info.Env(), unwrapTensor(info[0], "shape").sizes());
}

static Napi::Value scalarType(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<int>(unwrapTensor(info[0], "dtype").scalar_type()));
}

static Napi::Value device(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), unwrapTensor(info[0], "device").device().str());
}

static Napi::Value item(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, "item", [&]() -> Napi::Value {
    const at::Tensor& t = unwrapTensor(info[0], "item");
    if (t.numel() != 1) throw Napi::Error::New(env, "item: expected a tensor with one element, got " + describeTensor(t));
    return Napi::Number::New(env, t.item<double>());
  });
}

// Identity of the underlying storage, for tests of views and in-place updates.
static Napi::Value sameStorage(const Napi::CallbackInfo& info) {
  const at::Tensor& a = unwrapTensor(info[0], "sameStorage");
  const at::Tensor& b = unwrapTensor(info[1], "sameStorage");
  return Napi::Boolean::New(info.Env(), a.storage().is_alias_of(b.storage()));
}

static Napi::Value describe(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), describeTensor(unwrapTensor(info[0], "describe")));
}

void registerTensorFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("fromBuffer", Napi::Function::New(env, fromBuffer));
  exports.Set("fromFile", Napi::Function::New(env, fromFile));
  exports.Set("toBuffer", Napi::Function::New(env, toBuffer));
  exports.Set("dispose", Napi::Function::New(env, dispose));
  exports.Set("accountMemory", Napi::Function::New(env, accountMemory));
  exports.Set("isLive", Napi::Function::New(env, isLive));
  exports.Set("shape", Napi::Function::New(env, shape));
  exports.Set("scalarType", Napi::Function::New(env, scalarType));
  exports.Set("device", Napi::Function::New(env, device));
  exports.Set("item", Napi::Function::New(env, item));
  exports.Set("sameStorage", Napi::Function::New(env, sameStorage));
  exports.Set("describe", Napi::Function::New(env, describe));
}

}  // namespace bike
