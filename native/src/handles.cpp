// Tensor handles and the scopes that free them.
//
// A handle's value is a slot number and a generation in this environment's handle table, not a
// pointer: a handle used after its tensor was freed is caught (the slot's generation moved on)
// instead of reading freed memory.
//
// Inside a scope (openScope / closeScope, driven by tidy() in src/torch/scope.ts) a handle is a
// BigInt: the scope lists the slots made while it is open and frees them when it closes, raw
// handles never wrapped in a JS Tensor included, so these handles need nothing from the garbage
// collector. Node-API gives every external a weak global handle (and a malloc'd wrapper) that V8
// visits at each scavenge; with one on every handle, a tiny op spent about 30% of its time in the
// collector. Outside every scope a handle is an external whose finalizer frees the tensor when the
// handle is collected. A scoped tensor that escapes (keep(), or returned from the outermost scope)
// is then owned by its JS Tensor, which src/torch/scope.ts registers with a FinalizationRegistry.
#include "common.h"

namespace bike {

namespace {

// Set in every tensor handle's value; user-space pointers (the addon's other externals) have it
// clear, so they are refused as "not a tensor handle" rather than read as one.
constexpr uint64_t kHandleTag = uint64_t(1) << 63;
constexpr uint32_t kGenerationMask = 0x7fffffff;
constexpr uint32_t kChunkBits = 12;
constexpr uint32_t kChunkSize = uint32_t(1) << kChunkBits;

enum class SlotState : uint8_t {
  kFree,
  kScoped,         // freed by the scope at `depth` when it closes (a BigInt handle)
  kOwnedByHandle,  // an external handle: freed by dispose() or its finalizer
  kOwnedByTensor,  // escaped from its scopes: freed by dispose(), which the JS Tensor's finalizer calls
};

struct Slot {
  at::Tensor tensor;
  uint32_t generation = 0;
  SlotState state = SlotState::kFree;
  uint32_t depth = 0;
  int64_t accountedBytes = 0;
};

struct ScopeEntry {
  uint32_t index;
  uint32_t generation;
};

struct HandleTable {
  // Chunks, so that a slot never moves: unwrapTensor hands out references that callers hold
  // while more handles are made.
  std::vector<std::unique_ptr<Slot[]>> chunks;
  uint32_t size = 0;
  std::vector<uint32_t> freeSlots;
  // scopes[0 .. depth-1] are open; closed ones keep their capacity for the next scope.
  std::vector<std::vector<ScopeEntry>> scopes;
  uint32_t depth = 0;
  // Finalizers not yet run: the table outlives the environment until the last one has.
  int64_t pendingFinalizers = 0;
  bool environmentClosed = false;

  Slot& at(uint32_t index) { return chunks[index >> kChunkBits][index & (kChunkSize - 1)]; }

  uint32_t allocate() {
    if (!freeSlots.empty()) {
      uint32_t index = freeSlots.back();
      freeSlots.pop_back();
      return index;
    }
    if ((size & (kChunkSize - 1)) == 0) chunks.emplace_back(new Slot[kChunkSize]);
    return size++;
  }

  // The live slot a handle value names, or null (stale, freed, or from another table).
  Slot* find(uint64_t value, uint32_t* indexOut = nullptr) {
    uint32_t index = static_cast<uint32_t>(value);
    uint32_t generation = static_cast<uint32_t>(value >> 32) & kGenerationMask;
    if (index >= size) return nullptr;
    Slot& slot = at(index);
    if (slot.state == SlotState::kFree || slot.generation != generation) return nullptr;
    if (indexOut) *indexOut = index;
    return &slot;
  }
};

uint64_t handleValue(uint32_t index, uint32_t generation) {
  return kHandleTag | (static_cast<uint64_t>(generation) << 32) | index;
}

HandleTable& tableOf(napi_env env) {
  void* data = nullptr;
  napi_get_instance_data(env, &data);
  if (!data) throw Napi::Error::New(env, "the tensor handle table is not set up");
  return *static_cast<HandleTable*>(data);
}

// The value of a tensor handle, or false when `value` is not one (another value or external).
bool handleBits(napi_env env, napi_value value, uint64_t* out) {
  bool lossless = false;
  if (napi_get_value_bigint_uint64(env, value, out, &lossless) == napi_ok) return lossless && (*out & kHandleTag);
  void* data = nullptr;
  if (napi_get_value_external(env, value, &data) != napi_ok) return false;
  *out = reinterpret_cast<uint64_t>(data);
  return (*out & kHandleTag) != 0;
}

// The live slot `value` names, or null when it is not a tensor handle or its tensor was freed.
Slot* liveSlot(napi_env env, HandleTable& table, napi_value value, uint32_t* indexOut = nullptr) {
  uint64_t bits;
  return handleBits(env, value, &bits) ? table.find(bits, indexOut) : nullptr;
}

// V8 counts the memory of tensors that only the collector will free, so that collecting their
// handles is worth a GC. Views share their base's storage: only fresh storage counts. Tensors a
// scope frees are not counted: a training step's gigabytes of short-lived activations counted each
// crossed V8's external-memory limit again and again, a major GC every 64 MB.
void accountMemory(napi_env env, Slot& slot) {
  const at::Tensor& t = slot.tensor;
  if (slot.accountedBytes != 0 || t.is_view() || !t.has_storage()) return;
  slot.accountedBytes = static_cast<int64_t>(t.storage().nbytes());
  int64_t ignored;
  napi_adjust_external_memory(env, slot.accountedBytes, &ignored);
}

void freeSlot(napi_env env, HandleTable& table, uint32_t index) {
  Slot& slot = table.at(index);
  if (slot.accountedBytes) {
    int64_t ignored;
    napi_adjust_external_memory(env, -slot.accountedBytes, &ignored);
  }
  slot.accountedBytes = 0;
  slot.tensor.reset();
  slot.state = SlotState::kFree;
  slot.generation = (slot.generation + 1) & kGenerationMask;
  table.freeSlots.push_back(index);
}

void finalizeHandle(napi_env env, void* data, void* hint) {
  auto* table = static_cast<HandleTable*>(hint);
  --table->pendingFinalizers;
  if (table->environmentClosed) {
    if (table->pendingFinalizers == 0) delete table;
    return;
  }
  uint32_t index;
  Slot* slot = table->find(reinterpret_cast<uint64_t>(data), &index);
  if (slot && slot->state == SlotState::kOwnedByHandle) freeSlot(env, *table, index);
}

void closeTable(napi_env, void* data, void*) {
  auto* table = static_cast<HandleTable*>(data);
  table->environmentClosed = true;
  for (uint32_t i = 0; i < table->size; ++i) table->at(i).tensor.reset();
  if (table->pendingFinalizers == 0) delete table;
}

// No scope will free the slot now: its JS Tensor owns it.
void escape(napi_env env, Slot& slot) {
  slot.state = SlotState::kOwnedByTensor;
  accountMemory(env, slot);
}

void openScopeIn(HandleTable& table) {
  if (table.scopes.size() == table.depth) table.scopes.emplace_back();
  table.scopes[table.depth].clear();
  ++table.depth;
}

// Frees what the innermost scope made and still holds, and closes it.
void closeScopeIn(napi_env env, HandleTable& table) {
  uint32_t depth = table.depth;
  std::vector<ScopeEntry>& entries = table.scopes[depth - 1];
  for (const ScopeEntry& entry : entries) {
    Slot& slot = table.at(entry.index);
    if (slot.generation == entry.generation && slot.state == SlotState::kScoped && slot.depth == depth)
      freeSlot(env, table, entry.index);
  }
  entries.clear();
  --table.depth;
}

}  // namespace

NativeScope::NativeScope(napi_env env) : env_(env) { openScopeIn(tableOf(env)); }
NativeScope::~NativeScope() { closeScopeIn(env_, tableOf(env_)); }

Napi::Value wrapTensor(Napi::Env env, at::Tensor tensor) {
  if (!tensor.defined()) return env.Null();
  HandleTable& table = tableOf(env);
  uint32_t index = table.allocate();
  Slot& slot = table.at(index);
  slot.tensor = std::move(tensor);
  void* value = reinterpret_cast<void*>(handleValue(index, slot.generation));
  napi_value result;
  napi_status status;
  if (table.depth > 0) {
    slot.state = SlotState::kScoped;
    slot.depth = table.depth;
    status = napi_create_bigint_uint64(env, reinterpret_cast<uint64_t>(value), &result);
    if (status == napi_ok) table.scopes[table.depth - 1].push_back({index, slot.generation});
  } else {
    slot.state = SlotState::kOwnedByHandle;
    status = napi_create_external(env, value, finalizeHandle, &table, &result);
    if (status == napi_ok) {
      ++table.pendingFinalizers;
      accountMemory(env, slot);
    }
  }
  if (status != napi_ok) {
    freeSlot(env, table, index);
    throw Napi::Error::New(env, "could not create a tensor handle");
  }
  return Napi::Value(env, result);
}

at::Tensor& unwrapTensor(const Napi::Value& value, const char* what) {
  napi_env env = value.Env();
  uint64_t bits;
  if (!handleBits(env, value, &bits))
    throw Napi::TypeError::New(env, std::string(what) + ": expected a tensor handle");
  Slot* slot = tableOf(env).find(bits);
  if (!slot)
    throw Napi::Error::New(env, std::string(what) + ": this tensor was disposed (by dispose() or by the tidy() scope "
                                                    "that created it; return it from tidy() or call keep() to keep it)");
  return slot->tensor;
}

namespace {

// dispose(handle): frees the tensor now; a stale handle or a non-handle is ignored.
Napi::Value dispose(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  HandleTable& table = tableOf(env);
  uint32_t index;
  if (liveSlot(env, table, info[0], &index)) freeSlot(env, table, index);
  return info.Env().Undefined();
}

Napi::Value isLive(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), liveSlot(info.Env(), tableOf(info.Env()), info[0]) != nullptr);
}

// openScope(): handles made from now on belong to a new innermost scope.
Napi::Value openScope(const Napi::CallbackInfo& info) {
  openScopeIn(tableOf(info.Env()));
  return info.Env().Undefined();
}

// closeScope(kept: handle[]): frees every tensor the innermost scope made except `kept`, which
// move to the enclosing scope or, from the outermost one, to their JS Tensors. Returns the
// positions in `kept` of the tensors that JS Tensors own now (undefined when none).
Napi::Value closeScope(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  HandleTable& table = tableOf(env);
  if (table.depth == 0) throw Napi::Error::New(env, "closeScope: no scope is open");
  uint32_t depth = table.depth;
  Napi::Value owned = info.Env().Undefined();
  if (info[0].IsArray()) {
    auto kept = info[0].As<Napi::Array>();
    for (uint32_t i = 0, n = kept.Length(); i < n; ++i) {
      uint32_t index;
      Slot* slot = liveSlot(env, table, kept.Get(i), &index);
      if (!slot || slot->state != SlotState::kScoped || slot->depth != depth) continue;
      if (depth > 1) {
        slot->depth = depth - 1;
        table.scopes[depth - 2].push_back({index, slot->generation});
      } else {
        escape(env, *slot);
        if (owned.IsUndefined()) owned = Napi::Array::New(env);
        auto positions = owned.As<Napi::Array>();
        positions.Set(positions.Length(), Napi::Number::New(env, i));
      }
    }
  }
  closeScopeIn(env, table);
  return owned;
}

// escapeScopes(handle) -> whether the tensor left a scope (keep()): its JS Tensor owns it now.
Napi::Value escapeScopes(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  Slot* slot = liveSlot(env, tableOf(env), info[0]);
  bool escaped = slot && slot->state == SlotState::kScoped;
  if (escaped) escape(env, *slot);
  return Napi::Boolean::New(env, escaped);
}

// Live tensor handles of this environment: for tests that nothing is left behind.
Napi::Value liveHandles(const Napi::CallbackInfo& info) {
  HandleTable& table = tableOf(info.Env());
  return Napi::Number::New(info.Env(), static_cast<double>(table.size - table.freeSlots.size()));
}

}  // namespace

void registerHandleFunctions(Napi::Env env, Napi::Object exports) {
  // A handle's value keeps all 64 bits only where V8 stores externals unmodified; check once.
  napi_value probe;
  void* back = nullptr;
  void* wanted = reinterpret_cast<void*>(handleValue(0x12345678, 0x5a5a5a5a));
  if (napi_create_external(env, wanted, nullptr, nullptr, &probe) != napi_ok ||
      napi_get_value_external(env, probe, &back) != napi_ok || back != wanted)
    throw Napi::Error::New(env, "this Node.js does not keep 64-bit external values; tensor handles cannot work");
  if (napi_set_instance_data(env, new HandleTable(), closeTable, nullptr) != napi_ok)
    throw Napi::Error::New(env, "could not set up the tensor handle table");
  exports.Set("dispose", Napi::Function::New(env, dispose));
  exports.Set("isLive", Napi::Function::New(env, isLive));
  exports.Set("openScope", Napi::Function::New(env, openScope));
  exports.Set("closeScope", Napi::Function::New(env, closeScope));
  exports.Set("escapeScopes", Napi::Function::New(env, escapeScopes));
  exports.Set("liveHandles", Napi::Function::New(env, liveHandles));
}

}  // namespace bike
