// JPEG decoding with libjpeg-turbo, configured as PIL decodes (integer IDCT, fancy upsampling, RGB
// out), so frames match the original pipeline byte for byte. Built only where jpeglib.h exists.
#include "common.h"
#ifdef BIKE_WITH_JPEG
#include <csetjmp>
#include <cstdio>
#include <jpeglib.h>
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
  // Level -1 is a warning: corrupt data that libjpeg would paper over. PIL refuses those files.
  if (level < 0) {
    auto* manager = reinterpret_cast<JpegErrorManager*>(info->err);
    if (manager->warnings++ == 0) (*info->err->format_message)(info, manager->message);
  }
}

// decodeJpeg(bytes) -> { width, height, data: Uint8Array (RGB, row-major) }
Napi::Value decodeJpeg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray()) throw Napi::TypeError::New(env, "decodeJpeg: expected a Uint8Array");
  auto bytes = info[0].As<Napi::Uint8Array>();
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
  if (decoder.jpeg_color_space == JCS_CMYK || decoder.jpeg_color_space == JCS_YCCK) {
    jpeg_destroy_decompress(&decoder);
    throw Napi::Error::New(env, "decodeJpeg: CMYK JPEG is not supported here");
  }
  decoder.out_color_space = JCS_RGB;
  decoder.dct_method = JDCT_ISLOW;
  decoder.do_fancy_upsampling = TRUE;
  jpeg_start_decompress(&decoder);
  const size_t width = decoder.output_width, height = decoder.output_height;
  pixels = Napi::Uint8Array::New(env, width * height * 3);
  while (decoder.output_scanline < decoder.output_height) {
    JSAMPROW row = pixels.Data() + static_cast<size_t>(decoder.output_scanline) * width * 3;
    jpeg_read_scanlines(&decoder, &row, 1);
  }
  jpeg_finish_decompress(&decoder);
  jpeg_destroy_decompress(&decoder);
  if (errors.warnings) throw Napi::Error::New(env, std::string("decodeJpeg: corrupt data: ") + errors.message);
  auto out = Napi::Object::New(env);
  out.Set("width", Napi::Number::New(env, static_cast<double>(width)));
  out.Set("height", Napi::Number::New(env, static_cast<double>(height)));
  out.Set("data", pixels);
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
