// JPEG decoding with libjpeg-turbo, configured as PIL decodes (integer IDCT, fancy upsampling, RGB
// out), so frames match the original pipeline byte for byte. Built only where jpeglib.h exists.
#include "common.h"
#ifdef BIKE_WITH_JPEG
#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <vector>
#include <jpeglib.h>
#include <jerror.h>
#endif

namespace bike {

namespace {

#ifdef BIKE_WITH_JPEG
struct JpegErrorManager {
  jpeg_error_mgr base;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  int warnings = 0;
};

void onError(j_common_ptr info) {
  auto* manager = reinterpret_cast<JpegErrorManager*>(info->err);
  (*info->err->format_message)(info, manager->message);
  longjmp(manager->jump, 1);
}

void onMessage(j_common_ptr info, int level) {
  // Level -1 is a warning: data libjpeg decodes on from (junk between segments, a damaged entropy
  // segment). PIL decodes those too; it refuses only a file that ends before the decoder is done
  // (it raises "image file is truncated" when its reads run dry), which libjpeg reports as a
  // premature end: that one is an error here.
  if (level < 0) {
    auto* manager = reinterpret_cast<JpegErrorManager*>(info->err);
    if (info->err->msg_code == JWRN_JPEG_EOF) {
      std::snprintf(manager->message, sizeof(manager->message), "the data end before the image does (the file is truncated)");
      longjmp(manager->jump, 1);
    }
    ++manager->warnings;
  }
}

// PIL's CMYK to RGB (Convert.c cmyk2rgb) on libjpeg's CMYK output, which PIL reads with Adobe's
// inverted polarity ("CMYK;I") whatever the file says.
inline uint8_t pilCmykChannel(int inverted, int nk) {
  const int c = 255 - inverted;
  const int tmp = c * nk + 128;
  const int value = nk - (((tmp >> 8) + tmp) >> 8);
  return static_cast<uint8_t>(value < 0 ? 0 : value > 255 ? 255 : value);
}

void cmykToRgb(const JSAMPLE* in, uint8_t* out, size_t pixels) {
  for (size_t i = 0; i < pixels; ++i, in += 4, out += 3) {
    const int nk = in[3];  // 255 - k, with k = 255 - in[3]
    out[0] = pilCmykChannel(in[0], nk);
    out[1] = pilCmykChannel(in[1], nk);
    out[2] = pilCmykChannel(in[2], nk);
  }
}

// decodeJpeg(bytes, region?: [x, y, width, height], maxPixels?, into?) -> { width, height, region: [x, y, w, h], data }
// width/height are the image's; data holds the RGB rows of `region` (row-major, w * h * 3 bytes):
// the first bytes of `into` when it is large enough (callers reuse buffers: a fresh one per frame
// is zeroed, and its external memory drives V8's collections), else a new array.
// Given a region, little more than it is decoded: columns outside it skip the IDCT, upsampling and
// colour conversion (jpeg_crop_scanline), rows above it are skipped and decoding stops after its
// last row. The pixels equal the full decode's; data past the region is not checked for damage.
// An image of more than maxPixels pixels (by its frame header) is refused before anything is
// allocated for it. CMYK and YCCK files decode to PIL's RGB (see cmykToRgb).
Napi::Value decodeJpeg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray()) throw Napi::TypeError::New(env, "decodeJpeg: expected a Uint8Array");
  auto bytes = info[0].As<Napi::Uint8Array>();
  bool wantRegion = info.Length() > 1 && !info[1].IsUndefined() && !info[1].IsNull();
  double wanted[4] = {0, 0, 0, 0};
  if (wantRegion) {
    if (!info[1].IsArray() || info[1].As<Napi::Array>().Length() != 4) throw Napi::TypeError::New(env, "decodeJpeg: region must be [x, y, width, height]");
    auto array = info[1].As<Napi::Array>();
    for (uint32_t i = 0; i < 4; ++i) {
      Napi::Value v = array.Get(i);
      if (!v.IsNumber()) throw Napi::TypeError::New(env, "decodeJpeg: region must be [x, y, width, height] numbers");
      wanted[i] = v.As<Napi::Number>().DoubleValue();
    }
    if (wanted[0] < 0 || wanted[1] < 0 || wanted[2] < 1 || wanted[3] < 1) throw Napi::RangeError::New(env, "decodeJpeg: region must have x, y >= 0 and a positive size");
  }
  double maxPixels = 178956970;
  if (info.Length() > 2 && !info[2].IsUndefined()) {
    if (!info[2].IsNumber() || !(info[2].As<Napi::Number>().DoubleValue() >= 1)) throw Napi::TypeError::New(env, "decodeJpeg: maxPixels must be a positive number");
    maxPixels = info[2].As<Napi::Number>().DoubleValue();
  }
  const bool haveInto = info.Length() > 3 && !info[3].IsUndefined() && !info[3].IsNull();
  if (haveInto && !(info[3].IsTypedArray() && info[3].As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array))
    throw Napi::TypeError::New(env, "decodeJpeg: into must be a Uint8Array");
  jpeg_decompress_struct decoder;
  JpegErrorManager errors;
  decoder.err = jpeg_std_error(&errors.base);
  errors.base.error_exit = onError;
  errors.base.emit_message = onMessage;
  // Declared before setjmp so a longjmp leaves them in a defined state.
  Napi::Uint8Array pixels;
  if (setjmp(errors.jump)) {
    jpeg_destroy_decompress(&decoder);
    throw Napi::Error::New(env, std::string("decodeJpeg: ") + errors.message);
  }
  jpeg_create_decompress(&decoder);
  jpeg_mem_src(&decoder, bytes.Data(), bytes.ByteLength());
  jpeg_read_header(&decoder, TRUE);
  const double headerPixels = static_cast<double>(decoder.image_width) * decoder.image_height;
  if (headerPixels > maxPixels) {
    std::snprintf(errors.message, sizeof(errors.message), "%ux%u is %.0f pixels, above the limit of %.0f (BIKE_MAX_PIXELS)",
                  static_cast<unsigned>(decoder.image_width), static_cast<unsigned>(decoder.image_height), headerPixels, maxPixels);
    jpeg_destroy_decompress(&decoder);
    throw Napi::Error::New(env, std::string("decodeJpeg: ") + errors.message);
  }
  const bool cmyk = decoder.jpeg_color_space == JCS_CMYK || decoder.jpeg_color_space == JCS_YCCK;
  decoder.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
  decoder.dct_method = JDCT_ISLOW;
  decoder.do_fancy_upsampling = TRUE;
  jpeg_start_decompress(&decoder);
  const JDIMENSION imageWidth = decoder.output_width, imageHeight = decoder.output_height;
  // The region, clipped to the image (an empty intersection keeps one row and column).
  JDIMENSION x = 0, y = 0, width = imageWidth, rowEnd = imageHeight;
  if (wantRegion) {
    x = static_cast<JDIMENSION>(std::min<double>(wanted[0], imageWidth - 1));
    y = static_cast<JDIMENSION>(std::min<double>(wanted[1], imageHeight - 1));
    width = static_cast<JDIMENSION>(std::max<double>(1, std::min<double>(wanted[0] + wanted[2], imageWidth) - x));
    rowEnd = static_cast<JDIMENSION>(std::max<double>(y + 1, std::min<double>(wanted[1] + wanted[3], imageHeight)));
  }
  const size_t rowBytes = static_cast<size_t>(width) * 3;
  const size_t pixelBytes = rowBytes * (rowEnd - y);
  if (haveInto && info[3].As<Napi::Uint8Array>().ByteLength() >= pixelBytes) {
    auto into = info[3].As<Napi::Uint8Array>();
    pixels = Napi::Uint8Array::New(env, pixelBytes, into.ArrayBuffer(), into.ByteOffset());
  } else {
    pixels = Napi::Uint8Array::New(env, pixelBytes);
  }
  // Decoded columns [cropX, cropX + cropWidth): fancy upsampling treats the edges of a cropped
  // scanline as image edges, so the crop keeps a margin of a few pixels (cut off when copying out).
  JDIMENSION cropX = 0, cropWidth = imageWidth;
  if (x > 0 || width < imageWidth) {
    const JDIMENSION margin = 2 * static_cast<JDIMENSION>(decoder.max_h_samp_factor);
    cropX = x > margin ? x - margin : 0;
    cropWidth = std::min(imageWidth, x + width + margin) - cropX;
    if (cropX > 0 || cropWidth < imageWidth) jpeg_crop_scanline(&decoder, &cropX, &cropWidth);
  }
  if (y > 0) jpeg_skip_scanlines(&decoder, y);
  const size_t channels = cmyk ? 4 : 3;
  // From libjpeg's image pool: freed by jpeg_destroy_decompress on every path, the longjmp of an
  // error (or of a truncated file) included, which would skip a C++ destructor.
  JSAMPLE* scanline = (*decoder.mem->alloc_sarray)(reinterpret_cast<j_common_ptr>(&decoder), JPOOL_IMAGE,
                                                   static_cast<JDIMENSION>(cropWidth * channels), 1)[0];
  const bool direct = !cmyk && cropX == x && cropWidth == width;
  while (decoder.output_scanline < rowEnd) {
    JSAMPLE* target = pixels.Data() + static_cast<size_t>(decoder.output_scanline - y) * rowBytes;
    JSAMPROW row = direct ? target : scanline;
    jpeg_read_scanlines(&decoder, &row, 1);
    if (cmyk) cmykToRgb(scanline + static_cast<size_t>(x - cropX) * 4, target, width);
    else if (!direct) std::memcpy(target, scanline + static_cast<size_t>(x - cropX) * 3, rowBytes);
  }
  if (decoder.output_scanline < decoder.output_height) jpeg_abort_decompress(&decoder);
  else jpeg_finish_decompress(&decoder);
  jpeg_destroy_decompress(&decoder);
  auto out = Napi::Object::New(env);
  out.Set("width", Napi::Number::New(env, static_cast<double>(imageWidth)));
  out.Set("height", Napi::Number::New(env, static_cast<double>(imageHeight)));
  auto region = Napi::Array::New(env, 4);
  region.Set(0u, Napi::Number::New(env, x));
  region.Set(1u, Napi::Number::New(env, y));
  region.Set(2u, Napi::Number::New(env, width));
  region.Set(3u, Napi::Number::New(env, rowEnd - y));
  out.Set("region", region);
  out.Set("data", pixels);
  // Warnings libjpeg decoded past (as PIL does), for callers that want to know.
  out.Set("warnings", Napi::Number::New(env, errors.warnings));
  return out;
}
#endif

}  // namespace

void registerImageFunctions(Napi::Env env, Napi::Object exports) {
#ifdef BIKE_WITH_JPEG
  exports.Set("decodeJpeg", Napi::Function::New(env, decodeJpeg));
#endif
}

}  // namespace bike
