// The per-frame pixel kernels of the data pipeline in AVX2, for x86-64 CPUs that have it: the two
// passes of Pillow's 8-bit resampling (libImaging/Resample.c: 22-bit fixed-point weights, int32
// sums, clip8) and ToTorchFormatTensor + GroupNormalize (float32 (x / 255 - mean) / std). Same
// integer and IEEE float32 arithmetic as the WebAssembly kernels (src/data/simd-kernels.ts) and the
// scalar reference (src/data/pil-resample.ts), so the same bytes and floats; twice the vector width,
// and they read the decoded frame and write the batch in place (WebAssembly can only work in its
// own memory, so a frame is copied in and its floats copied out). No pipeline logic: JS plans
// every pass (src/data/native-frame-ops.ts). Registered only where the CPU has AVX2; elsewhere JS
// uses the WebAssembly kernels.
#define NAPI_VERSION 8
#include <napi.h>
#include <algorithm>
#include <cstdint>
#include <climits>
#include <cstring>
#include <string>
#include <type_traits>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace bike {

namespace {

#if defined(__x86_64__)
constexpr int kPrecisionBits = 22;
constexpr int32_t kRoundingHalf = 1 << (kPrecisionBits - 1);
constexpr int32_t kClipMax = (1 << (kPrecisionBits + 8)) - 1;
// Weights are split as k = hi * 2^11 + lo (0 <= lo < 2^11) so that pixel pairs times weight pairs
// fit vpmaddwd's 16-bit products; the JS side makes the split tables (simd-kernels.ts).
constexpr int kSplitBits = 11;

template <typename T>
struct ArrayArg {
  T* data;
  size_t length;
};

// A typed array argument of the expected element type, named in the error.
template <typename T>
ArrayArg<T> typedArray(const Napi::CallbackInfo& info, size_t i, napi_typedarray_type type, const char* fn, const char* what) {
  if (!info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != type)
    throw Napi::TypeError::New(info.Env(), std::string(fn) + ": " + what + " must be a " +
                                               (type == napi_uint8_array   ? "Uint8Array"
                                                : type == napi_int16_array ? "Int16Array"
                                                : type == napi_int32_array ? "Int32Array"
                                                                           : "Float32Array"));
  auto array = info[i].As<Napi::TypedArrayOf<T>>();
  return {array.Data(), array.ElementLength()};
}

int64_t integerArg(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* what, int64_t min) {
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(fn) + ": " + what + " must be a number");
  const double value = info[i].As<Napi::Number>().DoubleValue();
  if (!(value >= static_cast<double>(min)) || value != static_cast<double>(static_cast<int64_t>(value)) || value > 1e15)
    throw Napi::RangeError::New(info.Env(), std::string(fn) + ": " + what + " must be an integer" +
                                                (min < 0 ? std::string() : " >= " + std::to_string(min)));
  return static_cast<int64_t>(value);
}

[[noreturn]] void outOfBounds(Napi::Env env, const char* fn, const std::string& what) {
  throw Napi::RangeError::New(env, std::string(fn) + ": " + what);
}

inline uint8_t clip8(uint32_t sum) {
  const int32_t value = static_cast<int32_t>(sum);
  if (value <= 0) return 0;
  if (value > kClipMax) return 255;
  return static_cast<uint8_t>(value >> kPrecisionBits);
}

// 16 bytes from p, zero past `end` (a pair of taps reads 6; the rest may lie past the array).
__attribute__((target("avx2"))) inline __m128i loadGuarded(const uint8_t* p, const uint8_t* end) {
  if (end - p >= 16) return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  alignas(16) uint8_t tail[16] = {};
  std::memcpy(tail, p, static_cast<size_t>(end - p));
  return _mm_load_si128(reinterpret_cast<const __m128i*>(tail));
}

// Two rows' pixels at byte q, one row per 128-bit half (the second load folds into vinserti128).
template <bool Guarded>
__attribute__((target("avx2"))) inline __m256i loadRows(const uint8_t* a, const uint8_t* b, const uint8_t* end) {
  if (Guarded) return _mm256_inserti128_si256(_mm256_castsi128_si256(loadGuarded(a, end)), loadGuarded(b, end), 1);
  return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a))),
                                 _mm_loadu_si128(reinterpret_cast<const __m128i*>(b)), 1);
}

// clip8((hi << 11) + lo) in each 32-bit lane.
__attribute__((target("avx2"))) inline __m256i clipLanes(__m256i hi, __m256i lo) {
  __m256i sum = _mm256_add_epi32(_mm256_slli_epi32(hi, kSplitBits), lo);
  sum = _mm256_min_epi32(_mm256_max_epi32(sum, _mm256_setzero_si256()), _mm256_set1_epi32(kClipMax));
  return _mm256_srai_epi32(sum, kPrecisionBits);
}

// Output columns of four rows (offsets `in` into src, one past the last byte `end`): RGB = sum over
// taps of row[xmin + t] * k[t], two rows per register; a pair of taps is one vpmaddwd on
// [R0 R1 G0 G1 B0 B1 0 0] per row, which one vpshufb makes from the loaded bytes (zero-extending).
template <bool Guarded>
__attribute__((target("avx2"))) void horizontalGroup(const uint8_t* src, const uint8_t* end, const int64_t in[4], uint8_t* const dst[4],
                                                     int64_t cols, const int32_t* bounds, const int16_t* split, int64_t pairs) {
  const __m256i pairChannels = _mm256_setr_epi8(0, -1, 3, -1, 1, -1, 4, -1, 2, -1, 5, -1, -1, -1, -1, -1,  //
                                                0, -1, 3, -1, 1, -1, 4, -1, 2, -1, 5, -1, -1, -1, -1, -1);
  const __m256i zero = _mm256_setzero_si256(), rounding = _mm256_set1_epi32(kRoundingHalf);
  for (int64_t c = 0; c < cols; ++c) {
    const int32_t xmin = bounds[2 * c], taps = bounds[2 * c + 1];
    const int16_t* kp = split + static_cast<size_t>(c) * pairs * 4;
    __m256i hi01 = zero, lo01 = rounding, hi23 = zero, lo23 = rounding;
    for (int32_t t = 0; t < taps; t += 2, kp += 4) {
      const int64_t q = static_cast<int64_t>(xmin + t) * 3;
      int32_t hiPair, loPair;
      std::memcpy(&hiPair, kp, 4);
      std::memcpy(&loPair, kp + 2, 4);
      const __m256i wHi = _mm256_set1_epi32(hiPair), wLo = _mm256_set1_epi32(loPair);
      const __m256i p01 = _mm256_shuffle_epi8(loadRows<Guarded>(src + (in[0] + q), src + (in[1] + q), end), pairChannels);
      const __m256i p23 = _mm256_shuffle_epi8(loadRows<Guarded>(src + (in[2] + q), src + (in[3] + q), end), pairChannels);
      hi01 = _mm256_add_epi32(hi01, _mm256_madd_epi16(p01, wHi));
      lo01 = _mm256_add_epi32(lo01, _mm256_madd_epi16(p01, wLo));
      hi23 = _mm256_add_epi32(hi23, _mm256_madd_epi16(p23, wHi));
      lo23 = _mm256_add_epi32(lo23, _mm256_madd_epi16(p23, wLo));
    }
    // 32-bit lanes [R0 G0 B0 . | R1 G1 B1 .] and [R2 G2 B2 . | R3 G3 B3 .] -> bytes, 4 per row.
    const __m256i words = _mm256_packs_epi32(clipLanes(hi01, lo01), clipLanes(hi23, lo23));
    const __m256i bytes = _mm256_packus_epi16(words, words);
    const uint32_t pixel[4] = {static_cast<uint32_t>(_mm256_extract_epi32(bytes, 0)), static_cast<uint32_t>(_mm256_extract_epi32(bytes, 4)),
                               static_cast<uint32_t>(_mm256_extract_epi32(bytes, 1)), static_cast<uint32_t>(_mm256_extract_epi32(bytes, 5))};
    // 4 bytes per pixel, the fourth overwritten by the next column; 3 exactly at the row's end
    // (constant sizes: one store each).
    if (c + 1 < cols)
      for (int k = 0; k < 4; ++k) std::memcpy(dst[k] + c * 3, &pixel[k], 4);
    else
      for (int k = 0; k < 4; ++k) std::memcpy(dst[k] + c * 3, &pixel[k], 3);
  }
}

// The horizontal pass: rows in groups of four (the last group repeats the last row); a group
// whose 16-byte loads all stay inside src runs without bounds checks.
__attribute__((target("avx2"))) void horizontalRows(const uint8_t* src, const uint8_t* srcEnd, int64_t srcOffset,
                                                    int64_t srcStride, int64_t rows, uint8_t* out, int64_t cols,
                                                    const int32_t* bounds, const int16_t* split, int64_t pairs) {
  int64_t loadEnd = 0;  // past the last byte any load of a row reads, from the row's offset
  for (int64_t c = 0; c < cols; ++c) loadEnd = std::max<int64_t>(loadEnd, (bounds[2 * c] + 2 * pairs - 2) * 3 + 16);
  const size_t outStride = static_cast<size_t>(cols) * 3;
  for (int64_t r0 = 0; r0 < rows; r0 += 4) {
    int64_t in[4];  // offsets into src: a row's start may lie before it, its first read does not
    uint8_t* dst[4];
    for (int k = 0; k < 4; ++k) {
      const int64_t row = std::min(r0 + k, rows - 1);
      in[k] = srcOffset + row * srcStride;
      dst[k] = out + static_cast<size_t>(row) * outStride;
    }
    if (in[3] + loadEnd <= srcEnd - src)
      horizontalGroup<false>(src, srcEnd, in, dst, cols, bounds, split, pairs);
    else
      horizontalGroup<true>(src, srcEnd, in, dst, cols, bounds, split, pairs);
  }
}

// Output row r: byte i = sum over taps of src row (ymin - srcRowFirst + t), byte i, times k[t];
// 16 bytes per step as two registers of 32-bit sums (vpmulld takes the whole weight), the rest of
// the row scalar.
__attribute__((target("avx2"))) void verticalRows(const uint8_t* src, size_t stride, int64_t srcRowFirst, uint8_t* out,
                                                  int64_t rowsOut, const int32_t* bounds, const int32_t* weights, int64_t ksize) {
  const __m256i zero = _mm256_setzero_si256(), rounding = _mm256_set1_epi32(kRoundingHalf),
                clipMax = _mm256_set1_epi32(kClipMax);
  for (int64_t r = 0; r < rowsOut; ++r) {
    const uint8_t* base = src + static_cast<size_t>(bounds[2 * r] - srcRowFirst) * stride;
    const int32_t taps = bounds[2 * r + 1];
    const int32_t* k = weights + static_cast<size_t>(r) * ksize;
    uint8_t* dst = out + static_cast<size_t>(r) * stride;
    size_t i = 0;
    for (; i + 16 <= stride; i += 16) {
      __m256i low = rounding, high = rounding;
      const uint8_t* p = base + i;
      for (int32_t t = 0; t < taps; ++t, p += stride) {
        const __m256i w = _mm256_set1_epi32(k[t]);
        low = _mm256_add_epi32(low, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))), w));
        high = _mm256_add_epi32(high, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + 8))), w));
      }
      low = _mm256_srai_epi32(_mm256_min_epi32(_mm256_max_epi32(low, zero), clipMax), kPrecisionBits);
      high = _mm256_srai_epi32(_mm256_min_epi32(_mm256_max_epi32(high, zero), clipMax), kPrecisionBits);
      // packs works per 128-bit half: [low 0-3, high 0-3 | low 4-7, high 4-7]; reorder the quarters.
      const __m256i words = _mm256_permute4x64_epi64(_mm256_packs_epi32(low, high), 0xD8);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i),
                       _mm_packus_epi16(_mm256_castsi256_si128(words), _mm256_extracti128_si256(words, 1)));
    }
    for (; i < stride; ++i) {
      uint32_t sum = kRoundingHalf;
      for (int32_t t = 0; t < taps; ++t) sum += static_cast<uint32_t>(base[i + t * stride]) * static_cast<uint32_t>(k[t]);
      dst[i] = clip8(sum);
    }
  }
}

// resampleHorizontal(src, srcOffset, srcStride, rows, out, outOffset, bounds, split, pairs):
// bounds holds (xmin, taps) per output column (cols = bounds.length / 2), split the weights as the
// WebAssembly kernel takes them (per column `pairs` pairs of taps: i16 hi, hi, lo, lo); row r reads
// src from srcOffset + r * srcStride + 3 * xmin, writes cols * 3 bytes at outOffset + r * cols * 3.
Napi::Value resampleHorizontal(const Napi::CallbackInfo& info) {
  const char* fn = "resampleHorizontal";
  Napi::Env env = info.Env();
  if (info.Length() < 9) throw Napi::TypeError::New(env, "resampleHorizontal: expected 9 arguments");
  const auto src = typedArray<uint8_t>(info, 0, napi_uint8_array, fn, "src");
  // srcOffset may point before the array: a frame decoded in part starts at the first pixel read.
  const int64_t srcOffset = integerArg(info, 1, fn, "srcOffset", -(int64_t{1} << 50)), srcStride = integerArg(info, 2, fn, "srcStride", 0),
                rows = integerArg(info, 3, fn, "rows", 1);
  const auto out = typedArray<uint8_t>(info, 4, napi_uint8_array, fn, "out");
  const int64_t outOffset = integerArg(info, 5, fn, "outOffset", 0);
  const auto bounds = typedArray<int32_t>(info, 6, napi_int32_array, fn, "bounds");
  const auto split = typedArray<int16_t>(info, 7, napi_int16_array, fn, "split");
  const int64_t pairs = integerArg(info, 8, fn, "pairs", 1);
  const int64_t cols = static_cast<int64_t>(bounds.length / 2);
  if (cols < 1 || bounds.length % 2) outOfBounds(env, fn, "bounds must hold (xmin, taps) pairs");
  if (split.length < static_cast<size_t>(cols * pairs * 4)) outOfBounds(env, fn, "split holds fewer weights than cols * pairs * 4");
  int64_t readStart = INT64_MAX, readEnd = 0;
  for (int64_t c = 0; c < cols; ++c) {
    const int64_t xmin = bounds.data[2 * c], taps = bounds.data[2 * c + 1];
    if (xmin < 0 || taps < 1 || taps > 2 * pairs)
      outOfBounds(env, fn, "column " + std::to_string(c) + " has xmin " + std::to_string(xmin) + " and " + std::to_string(taps) + " taps");
    readStart = std::min(readStart, xmin * 3);
    readEnd = std::max(readEnd, (xmin + taps) * 3);
  }
  if (srcOffset + readStart < 0) outOfBounds(env, fn, "the rows read start before src");
  if (srcOffset + (rows - 1) * srcStride + readEnd > static_cast<int64_t>(src.length))
    outOfBounds(env, fn, "the rows read end past src (" + std::to_string(src.length) + " bytes)");
  if (static_cast<uint64_t>(outOffset + rows * cols * 3) > out.length)
    outOfBounds(env, fn, "the rows written end past out (" + std::to_string(out.length) + " bytes)");
  horizontalRows(src.data, src.data + src.length, srcOffset, srcStride, rows, out.data + outOffset, cols, bounds.data, split.data,
                 pairs);
  return env.Undefined();
}

// resampleVertical(src, srcOffset, stride, srcRowFirst, out, outOffset, bounds, weights, ksize):
// output row r (rows = bounds.length / 2) = taps rows of src from row bounds[2r] - srcRowFirst
// (rows of `stride` bytes from srcOffset) weighted by weights[r * ksize + t]; written at
// outOffset + r * stride.
Napi::Value resampleVertical(const Napi::CallbackInfo& info) {
  const char* fn = "resampleVertical";
  Napi::Env env = info.Env();
  if (info.Length() < 9) throw Napi::TypeError::New(env, "resampleVertical: expected 9 arguments");
  const auto src = typedArray<uint8_t>(info, 0, napi_uint8_array, fn, "src");
  const int64_t srcOffset = integerArg(info, 1, fn, "srcOffset", 0), stride = integerArg(info, 2, fn, "stride", 1),
                srcRowFirst = integerArg(info, 3, fn, "srcRowFirst", 0);
  const auto out = typedArray<uint8_t>(info, 4, napi_uint8_array, fn, "out");
  const int64_t outOffset = integerArg(info, 5, fn, "outOffset", 0);
  const auto bounds = typedArray<int32_t>(info, 6, napi_int32_array, fn, "bounds");
  const auto weights = typedArray<int32_t>(info, 7, napi_int32_array, fn, "weights");
  const int64_t ksize = integerArg(info, 8, fn, "ksize", 1);
  const int64_t rowsOut = static_cast<int64_t>(bounds.length / 2);
  if (rowsOut < 1 || bounds.length % 2) outOfBounds(env, fn, "bounds must hold (ymin, taps) pairs");
  if (weights.length < static_cast<size_t>(rowsOut * ksize)) outOfBounds(env, fn, "weights holds fewer than rows * ksize");
  int64_t rowEnd = 0;
  for (int64_t r = 0; r < rowsOut; ++r) {
    const int64_t ymin = bounds.data[2 * r] - srcRowFirst, taps = bounds.data[2 * r + 1];
    if (ymin < 0 || taps < 1 || taps > ksize)
      outOfBounds(env, fn, "row " + std::to_string(r) + " starts at source row " + std::to_string(ymin + srcRowFirst) + " with " +
                               std::to_string(taps) + " taps");
    rowEnd = std::max(rowEnd, ymin + taps);
  }
  if (static_cast<uint64_t>(srcOffset + rowEnd * stride) > src.length)
    outOfBounds(env, fn, "the rows read end past src (" + std::to_string(src.length) + " bytes)");
  if (static_cast<uint64_t>(outOffset + rowsOut * stride) > out.length)
    outOfBounds(env, fn, "the rows written end past out (" + std::to_string(out.length) + " bytes)");
  verticalRows(src.data + srcOffset, static_cast<size_t>(stride), srcRowFirst, out.data + outOffset, rowsOut, bounds.data,
               weights.data, ksize);
  return env.Undefined();
}

// [3, height, width] planes from RGB rows through each channel's 256 values (table[c * 256 + v]).
template <bool Flip, bool Grey>
void normalizeRows(const uint8_t* rows, int64_t srcStride, int64_t width, int64_t height, float* red, const float* table) {
  const size_t plane = static_cast<size_t>(width * height);
  float* green = red + plane;
  float* blue = green + plane;
  for (int64_t y = 0; y < height; ++y) {
    const uint8_t* row = rows + static_cast<size_t>(y) * srcStride;
    const size_t at = static_cast<size_t>(y * width);
    for (int64_t x = 0; x < width; ++x) {
      const uint8_t* p = row + 3 * (Flip ? width - 1 - x : x);
      if (Grey) {
        const uint32_t level = (p[0] * 19595u + p[1] * 38470u + p[2] * 7471u + 0x8000u) >> 16;
        red[at + x] = table[level];
        green[at + x] = table[256 + level];
        blue[at + x] = table[512 + level];
      } else {
        red[at + x] = table[p[0]];
        green[at + x] = table[256 + p[1]];
        blue[at + x] = table[512 + p[2]];
      }
    }
  }
}

// normalizeFrame(src, srcOffset, srcStride, width, height, out, outOffset, table, flip, grey):
// [3, height, width] float32 planes at out[outOffset...] from RGB rows, each byte v of channel c
// replaced by table[c * 256 + v] (JS makes the table with torch's float32 operations:
// normalizationTable in src/data/frame-tensor.ts), mirrored and/or PIL's grey
// (L = (19595 R + 38470 G + 7471 B + 0x8000) >> 16 in every channel).
Napi::Value normalizeFrame(const Napi::CallbackInfo& info) {
  const char* fn = "normalizeFrame";
  Napi::Env env = info.Env();
  if (info.Length() < 10) throw Napi::TypeError::New(env, "normalizeFrame: expected 10 arguments");
  const auto src = typedArray<uint8_t>(info, 0, napi_uint8_array, fn, "src");
  const int64_t srcOffset = integerArg(info, 1, fn, "srcOffset", 0), srcStride = integerArg(info, 2, fn, "srcStride", 0),
                width = integerArg(info, 3, fn, "width", 1), height = integerArg(info, 4, fn, "height", 1);
  const auto out = typedArray<float>(info, 5, napi_float32_array, fn, "out");
  const int64_t outOffset = integerArg(info, 6, fn, "outOffset", 0);
  const auto table = typedArray<float>(info, 7, napi_float32_array, fn, "table");
  const bool flip = info[8].ToBoolean().Value(), grey = info[9].ToBoolean().Value();
  if (table.length != 3 * 256) outOfBounds(env, fn, "table must hold 3 x 256 values");
  if (srcStride < width * 3 || static_cast<uint64_t>(srcOffset + (height - 1) * srcStride + width * 3) > src.length)
    outOfBounds(env, fn, "the rows read end past src (" + std::to_string(src.length) + " bytes)");
  const size_t plane = static_cast<size_t>(width * height);
  if (outOffset + 3 * plane > out.length) outOfBounds(env, fn, "the planes written end past out (" + std::to_string(out.length) + " values)");
  // One loop per case: the compiler does not take the tests out of the loop at -O2.
  const auto rows = [&](auto flipped, auto greyed) {
    normalizeRows<decltype(flipped)::value, decltype(greyed)::value>(src.data + srcOffset, srcStride, width, height,
                                                                      out.data + outOffset, table.data);
  };
  if (flip)
    grey ? rows(std::true_type(), std::true_type()) : rows(std::true_type(), std::false_type());
  else
    grey ? rows(std::false_type(), std::true_type()) : rows(std::false_type(), std::false_type());
  return env.Undefined();
}
#endif

}  // namespace

void registerFrameKernelFunctions(Napi::Env env, Napi::Object exports) {
#if defined(__x86_64__)
  if (!__builtin_cpu_supports("avx2")) return;
  exports.Set("resampleHorizontal", Napi::Function::New(env, resampleHorizontal));
  exports.Set("resampleVertical", Napi::Function::New(env, resampleVertical));
  exports.Set("normalizeFrame", Napi::Function::New(env, normalizeFrame));
#endif
}

}  // namespace bike
