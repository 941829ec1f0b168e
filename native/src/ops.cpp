// Every ATen operator through one door: look up its schema once, then call it boxed through the
// dispatcher, converting JS arguments by the schema's declared types. Autograd, autocast and the
// device backends all sit behind the dispatcher, so they apply exactly as they do in PyTorch.
#include "common.h"
#include <ATen/core/dispatch/Dispatcher.h>
#include <atomic>
#include <mutex>
#include <sstream>
#include <unordered_map>

namespace bike {

namespace {

// Read on every call, so without a lock: a fixed table whose entries never change once published
// (opCount, release/acquire). Registration (once per operator, any JS thread) takes the mutex.
constexpr size_t kMaxOps = size_t(1) << 14;
std::mutex opTableMutex;
const c10::OperatorHandle* opTable[kMaxOps];
std::atomic<size_t> opCount{0};
std::unordered_map<std::string, size_t> opIndexByName;

c10::IValue toIValue(const Napi::Value& v, const c10::Argument& arg, const c10::TypePtr& type);

// An integral JS number; fractions and non-numbers are refused as Python refuses them.
int64_t integerArgument(const Napi::Value& v, const c10::Argument& arg) {
  if (!v.IsNumber()) throw std::invalid_argument("argument '" + arg.name() + "' expects an integer");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::floor(d))
    throw std::invalid_argument("argument '" + arg.name() + "' expects an integer, got " + v.ToString().Utf8Value());
  return static_cast<int64_t>(d);
}

c10::IValue toScalar(const Napi::Value& v, const c10::Argument& arg) {
  if (v.IsBoolean()) return c10::IValue(v.As<Napi::Boolean>().Value());
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    // Integral JS numbers stay integral so integer tensors are not promoted to float.
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9007199254740992.0) return c10::IValue(static_cast<int64_t>(d));
    return c10::IValue(d);
  }
  throw std::invalid_argument("argument '" + arg.name() + "' expects a number");
}

c10::IValue toList(const Napi::Value& v, const c10::Argument& arg, const c10::ListTypePtr& listType) {
  const c10::TypePtr& elem = listType->getElementType();
  auto kind = elem->kind();
  if (kind == c10::TypeKind::IntType || kind == c10::TypeKind::SymIntType) {
    if (v.IsNumber()) {
      // Python lets `int[2] stride=1` take a single number: repeat it N times.
      int64_t n = arg.N().value_or(1);
      return c10::IValue(std::vector<int64_t>(n, integerArgument(v, arg)));
    }
    return c10::IValue(toInt64Vector(v, arg.name().c_str()));
  }
  if (!v.IsArray()) throw std::invalid_argument("argument '" + arg.name() + "' expects an array");
  auto array = v.As<Napi::Array>();
  uint32_t n = array.Length();
  if (kind == c10::TypeKind::FloatType) {
    std::vector<double> out(n);
    for (uint32_t i = 0; i < n; ++i) out[i] = array.Get(i).As<Napi::Number>().DoubleValue();
    return c10::IValue(out);
  }
  if (kind == c10::TypeKind::BoolType) {
    c10::List<bool> out;
    for (uint32_t i = 0; i < n; ++i) out.push_back(array.Get(i).ToBoolean().Value());
    return c10::IValue(out);
  }
  if (kind == c10::TypeKind::TensorType) {
    std::vector<at::Tensor> out;
    out.reserve(n);
    for (uint32_t i = 0; i < n; ++i) out.push_back(unwrapTensor(array.Get(i), arg.name().c_str()));
    return c10::IValue(out);
  }
  if (kind == c10::TypeKind::OptionalType) {
    c10::List<c10::optional<at::Tensor>> out;
    for (uint32_t i = 0; i < n; ++i) {
      Napi::Value item = array.Get(i);
      if (item.IsNull() || item.IsUndefined()) out.push_back(c10::nullopt);
      else out.push_back(unwrapTensor(item, arg.name().c_str()));
    }
    return c10::IValue(out);
  }
  throw std::invalid_argument("argument '" + arg.name() + "' has unsupported list type " + listType->str());
}

c10::IValue toIValue(const Napi::Value& v, const c10::Argument& arg, const c10::TypePtr& type) {
  switch (type->kind()) {
    case c10::TypeKind::OptionalType:
      if (v.IsNull() || v.IsUndefined()) return c10::IValue();
      return toIValue(v, arg, type->expectRef<c10::OptionalType>().getElementType());
    case c10::TypeKind::TensorType:
      return c10::IValue(unwrapTensor(v, arg.name().c_str()));
    case c10::TypeKind::IntType:
    case c10::TypeKind::SymIntType:
    case c10::TypeKind::ScalarTypeType:
    case c10::TypeKind::LayoutType:
    case c10::TypeKind::MemoryFormatType:
      return c10::IValue(integerArgument(v, arg));
    case c10::TypeKind::FloatType:
      if (!v.IsNumber()) throw std::invalid_argument("argument '" + arg.name() + "' expects a number");
      return c10::IValue(v.As<Napi::Number>().DoubleValue());
    case c10::TypeKind::BoolType:
      return c10::IValue(v.ToBoolean().Value());
    case c10::TypeKind::NumberType:
      return toScalar(v, arg);
    case c10::TypeKind::StringType:
      return c10::IValue(v.ToString().Utf8Value());
    case c10::TypeKind::DeviceObjType:
      return c10::IValue(c10::Device(v.ToString().Utf8Value()));
    case c10::TypeKind::ListType:
      return toList(v, arg, type->expect<c10::ListType>());
    default:
      throw std::invalid_argument("argument '" + arg.name() + "' has unsupported type " + type->str());
  }
}

Napi::Value fromIValue(Napi::Env env, const c10::IValue& v) {
  if (v.isTensor()) return wrapTensor(env, v.toTensor());
  if (v.isNone()) return env.Null();
  if (v.isInt()) return Napi::Number::New(env, static_cast<double>(v.toInt()));
  if (v.isDouble()) return Napi::Number::New(env, v.toDouble());
  if (v.isBool()) return Napi::Boolean::New(env, v.toBool());
  if (v.isScalar()) return Napi::Number::New(env, v.toScalar().toDouble());
  if (v.isString()) return Napi::String::New(env, v.toStringRef());
  if (v.isTensorList()) {
    auto list = v.toTensorVector();
    auto out = Napi::Array::New(env, list.size());
    for (size_t i = 0; i < list.size(); ++i) out.Set(static_cast<uint32_t>(i), wrapTensor(env, list[i]));
    return out;
  }
  if (v.isIntList()) return toJsIntArray(env, v.toIntVector());
  if (v.isTuple() || v.isList()) {
    std::vector<c10::IValue> items = v.isTuple() ? v.toTupleRef().elements().vec() : v.toListRef().vec();
    auto out = Napi::Array::New(env, items.size());
    for (size_t i = 0; i < items.size(); ++i) out.Set(static_cast<uint32_t>(i), fromIValue(env, items[i]));
    return out;
  }
  throw Napi::Error::New(env, "unsupported return type " + v.tagKind());
}

std::string describeCall(const c10::FunctionSchema& schema, const torch::jit::Stack& stack) {
  std::ostringstream out;
  out << schema.name();
  if (!schema.overload_name().empty()) out << "." << schema.overload_name();
  out << "(";
  bool first = true;
  for (size_t i = 0; i < stack.size() && i < schema.arguments().size(); ++i) {
    if (!stack[i].isTensor()) continue;
    out << (first ? "" : ", ") << schema.arguments()[i].name() << "=" << describeTensor(stack[i].toTensor());
    first = false;
  }
  out << ")";
  return out.str();
}

const c10::OperatorHandle& lookup(const Napi::CallbackInfo& info) {
  int64_t index = info[0].As<Napi::Number>().Int64Value();
  if (index < 0 || static_cast<size_t>(index) >= opCount.load(std::memory_order_acquire))
    throw Napi::RangeError::New(info.Env(), "unknown op handle");
  return *opTable[index];
}

// opHandle(name, overload) -> index into the op table, or -1 when libtorch lacks the operator.
Napi::Value opHandle(const Napi::CallbackInfo& info) {
  std::string name = info[0].As<Napi::String>().Utf8Value();
  std::string overload = info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
  auto handle = c10::Dispatcher::singleton().findSchema({name, overload});
  if (!handle) return Napi::Number::New(info.Env(), -1);
  std::lock_guard<std::mutex> lock(opTableMutex);
  auto [entry, added] = opIndexByName.try_emplace(name + "." + overload, opCount.load());
  if (added) {
    if (entry->second >= kMaxOps) {
      opIndexByName.erase(entry);
      throw Napi::RangeError::New(info.Env(), "opHandle: more than " + std::to_string(kMaxOps) + " operators");
    }
    opTable[entry->second] = new c10::OperatorHandle(*handle);
    opCount.store(entry->second + 1, std::memory_order_release);
  }
  return Napi::Number::New(info.Env(), static_cast<double>(entry->second));
}

Napi::Value opSchema(const Napi::CallbackInfo& info) {
  std::ostringstream out;
  out << lookup(info).schema();
  return Napi::String::New(info.Env(), out.str());
}

// Fills `stack` from info[first..]: positional arguments in schema order; undefined takes the default.
void fillStack(torch::jit::Stack& stack, const Napi::CallbackInfo& info, size_t first, const c10::FunctionSchema& schema) {
  const auto& args = schema.arguments();
  size_t given = info.Length() - first;
  if (given > args.size())
    throw std::invalid_argument("takes " + std::to_string(args.size()) + " arguments, got " + std::to_string(given));
  stack.reserve(args.size());
  for (size_t i = 0; i < args.size(); ++i) {
    const c10::Argument& arg = args[i];
    Napi::Value v = i < given ? info[first + i] : info.Env().Undefined();
    if (v.IsUndefined()) {
      if (arg.default_value()) {
        stack.push_back(*arg.default_value());
        continue;
      }
      if (arg.type()->kind() == c10::TypeKind::OptionalType) {
        stack.emplace_back();
        continue;
      }
      throw std::invalid_argument("argument '" + arg.name() + "' is required");
    }
    stack.push_back(toIValue(v, arg, arg.real_type()));
  }
}

torch::jit::Stack buildStack(const Napi::CallbackInfo& info, size_t first, const c10::FunctionSchema& schema) {
  torch::jit::Stack stack;
  fillStack(stack, info, first, schema);
  return stack;
}

// One stack per thread, reused from call to call (its allocation was a malloc and a free per op);
// a call made while another is running on this thread gets a stack of its own.
struct StackLease {
  StackLease() : nested(inUse), stack(nested ? owned : shared) { inUse = true; }
  ~StackLease() {
    stack.clear();
    if (!nested) inUse = false;
  }
  static thread_local torch::jit::Stack shared;
  static thread_local bool inUse;
  bool nested;
  torch::jit::Stack owned;
  torch::jit::Stack& stack;
};
thread_local torch::jit::Stack StackLease::shared;
thread_local bool StackLease::inUse = false;

template <bool kReturnResult>
Napi::Value callOp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const c10::OperatorHandle& op = lookup(info);
  const c10::FunctionSchema& schema = op.schema();
  StackLease lease;
  torch::jit::Stack& stack = lease.stack;
  try {
    fillStack(stack, info, 1, schema);
  } catch (const Napi::Error&) {
    throw;
  } catch (const c10::Error& e) {
    // e.g. a malformed device string: report libtorch's message without its C++ backtrace.
    throw Napi::TypeError::New(env, schema.name() + (schema.overload_name().empty() ? "" : "." + schema.overload_name()) + ": " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw Napi::TypeError::New(env, schema.name() + (schema.overload_name().empty() ? "" : "." + schema.overload_name()) + ": " + e.what());
  }
  try {
    op.callBoxed(&stack);
  } catch (const c10::Error& e) {
    throw Napi::Error::New(env, describeCall(schema, buildStack(info, 1, schema)) + ": " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, describeCall(schema, buildStack(info, 1, schema)) + ": " + e.what());
  }
  if (!kReturnResult || stack.empty()) return env.Undefined();
  if (stack.size() == 1) return fromIValue(env, stack[0]);
  auto out = Napi::Array::New(env, stack.size());
  for (size_t i = 0; i < stack.size(); ++i) out.Set(static_cast<uint32_t>(i), fromIValue(env, stack[i]));
  return out;
}

}  // namespace

void registerOpFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("opHandle", Napi::Function::New(env, opHandle));
  exports.Set("opSchema", Napi::Function::New(env, opSchema));
  exports.Set("call", Napi::Function::New(env, callOp<true>));
  // For in-place ops whose result is `self`: skips wrapping a second handle.
  exports.Set("callVoid", Napi::Function::New(env, callOp<false>));
}

}  // namespace bike
