// Tensors made from and copied to JS buffers and files, and cheap metadata queries.
#include "common.h"
#include <cmath>
#include <cstring>
#include <sstream>
#include <cerrno>
#include <unistd.h>

namespace bike {

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
  exports.Set("shape", Napi::Function::New(env, shape));
  exports.Set("scalarType", Napi::Function::New(env, scalarType));
  exports.Set("device", Napi::Function::New(env, device));
  exports.Set("item", Napi::Function::New(env, item));
  exports.Set("sameStorage", Napi::Function::New(env, sameStorage));
  exports.Set("describe", Napi::Function::New(env, describe));
}

}  // namespace bike
