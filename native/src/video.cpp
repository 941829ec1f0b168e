// Video frames through FFmpeg's libraries (Debian's libavformat/libavcodec/libswscale), in process:
// the container's frame count (or a packet count), and the RGB pixels of chosen frames, decoding in
// order and stopping after the last one needed. Built only where the FFmpeg headers exist.
#include "common.h"
#ifdef BIKE_WITH_FFMPEG
extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libswscale/swscale.h>
#include <libavutil/imgutils.h>
}
#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>
#endif

namespace bike {

namespace {

#ifdef BIKE_WITH_FFMPEG
std::string averror(int code) {
  char text[AV_ERROR_MAX_STRING_SIZE] = {0};
  av_strerror(code, text, sizeof(text));
  return text;
}

// Owns the demuxer and decoder of one file's first video stream.
struct VideoFile {
  AVFormatContext* format = nullptr;
  AVCodecContext* codec = nullptr;
  int stream = -1;

  explicit VideoFile(const std::string& path) {
    int rc = avformat_open_input(&format, path.c_str(), nullptr, nullptr);
    if (rc < 0) throw std::runtime_error("cannot be opened (" + averror(rc) + ")");
    rc = avformat_find_stream_info(format, nullptr);
    if (rc < 0) throw std::runtime_error("has no readable stream information (" + averror(rc) + ")");
    stream = av_find_best_stream(format, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
    if (stream < 0) throw std::runtime_error("has no video stream");
  }
  void openDecoder() {
    const AVCodecParameters* params = format->streams[stream]->codecpar;
    const AVCodec* decoder = avcodec_find_decoder(params->codec_id);
    if (!decoder) throw std::runtime_error(std::string("uses a codec this FFmpeg cannot decode (") + avcodec_get_name(params->codec_id) + ")");
    codec = avcodec_alloc_context3(decoder);
    avcodec_parameters_to_context(codec, params);
    codec->thread_count = 1;
    int rc = avcodec_open2(codec, decoder, nullptr);
    if (rc < 0) throw std::runtime_error("decoder cannot be opened (" + averror(rc) + ")");
  }
  ~VideoFile() {
    if (codec) avcodec_free_context(&codec);
    if (format) avformat_close_input(&format);
  }
};

// probeVideoFile(path) -> { width, height, frameCount, frameCountSource }
Napi::Value probeVideoFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>().Utf8Value();
  return guarded(env, "video " + path, [&]() -> Napi::Value {
    VideoFile file(path);
    const AVCodecParameters* params = file.format->streams[file.stream]->codecpar;
    int64_t count = file.format->streams[file.stream]->nb_frames;
    std::string source = "container";
    if (count <= 0) {
      // Containers such as webm and mkv store no count: count the stream's packets.
      count = 0;
      AVPacket* packet = av_packet_alloc();
      while (av_read_frame(file.format, packet) >= 0) {
        if (packet->stream_index == file.stream) ++count;
        av_packet_unref(packet);
      }
      av_packet_free(&packet);
      source = "packet count";
    }
    auto out = Napi::Object::New(env);
    out.Set("width", Napi::Number::New(env, params->width));
    out.Set("height", Napi::Number::New(env, params->height));
    out.Set("frameCount", Napi::Number::New(env, static_cast<double>(count)));
    out.Set("frameCountSource", Napi::String::New(env, source));
    return out;
  });
}

// decodeVideoFrames(path, frames: ascending distinct 0-based numbers) -> { width, height, data } (RGB24, frame after frame)
Napi::Value decodeVideoFrames(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>().Utf8Value();
  auto wanted = toInt64Vector(info[1], "decodeVideoFrames frames");
  return guarded(env, "video " + path, [&]() -> Napi::Value {
    VideoFile file(path);
    file.openDecoder();
    const int width = file.codec->width, height = file.codec->height;
    if (width <= 0 || height <= 0) throw std::runtime_error("video stream has no valid size");
    const size_t frameBytes = static_cast<size_t>(width) * height * 3;
    auto pixels = Napi::Uint8Array::New(env, frameBytes * wanted.size());
    std::unique_ptr<AVPacket, void (*)(AVPacket*)> packet(av_packet_alloc(), [](AVPacket* p) { av_packet_free(&p); });
    std::unique_ptr<AVFrame, void (*)(AVFrame*)> frame(av_frame_alloc(), [](AVFrame* f) { av_frame_free(&f); });
    SwsContext* scaler = nullptr;
    const int scratchStride = FFALIGN(width * 3, 64);
    std::vector<uint8_t> scratch(static_cast<size_t>(scratchStride) * (height + 1) + 64);
    size_t next = 0;
    int64_t decoded = 0;
    auto takeFrames = [&]() {
      while (next < wanted.size()) {
        int rc = avcodec_receive_frame(file.codec, frame.get());
        if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return;
        if (rc < 0) throw std::runtime_error("frame " + std::to_string(decoded) + " cannot be decoded (" + averror(rc) + ")");
        if (decoded == wanted[next]) {
          scaler = sws_getCachedContext(scaler, width, height, static_cast<AVPixelFormat>(frame->format), width, height,
                                        AV_PIX_FMT_RGB24, SWS_BICUBIC, nullptr, nullptr, nullptr);
          // swscale's SIMD writers store whole vectors past the end of a row, so they write into a
          // padded scratch image and the rows are copied out (writing straight into the exact-size
          // output corrupted the heap for widths such as 427).
          uint8_t* dst[4] = {scratch.data(), nullptr, nullptr, nullptr};
          int dstStride[4] = {scratchStride, 0, 0, 0};
          sws_scale(scaler, frame->data, frame->linesize, 0, height, dst, dstStride);
          uint8_t* out = pixels.Data() + next * frameBytes;
          for (int y = 0; y < height; ++y) std::memcpy(out + static_cast<size_t>(y) * width * 3, scratch.data() + static_cast<size_t>(y) * scratchStride, static_cast<size_t>(width) * 3);
          ++next;
        }
        ++decoded;
        av_frame_unref(frame.get());
      }
    };
    while (next < wanted.size() && av_read_frame(file.format, packet.get()) >= 0) {
      if (packet->stream_index == file.stream) {
        int rc = avcodec_send_packet(file.codec, packet.get());
        av_packet_unref(packet.get());
        if (rc < 0 && rc != AVERROR(EAGAIN)) {
          sws_freeContext(scaler);
          throw std::runtime_error("packet of frame " + std::to_string(decoded) + " cannot be decoded (" + averror(rc) + ")");
        }
        try {
          takeFrames();
        } catch (...) {
          sws_freeContext(scaler);
          throw;
        }
      } else {
        av_packet_unref(packet.get());
      }
    }
    if (next < wanted.size()) {
      avcodec_send_packet(file.codec, nullptr);  // flush the decoder's delayed frames
      try {
        takeFrames();
      } catch (...) {
        sws_freeContext(scaler);
        throw;
      }
    }
    sws_freeContext(scaler);
    if (next < wanted.size())
      throw std::runtime_error("decoded " + std::to_string(decoded) + " frames but frame " + std::to_string(wanted[next]) +
                               " was requested: the file is truncated or damaged");
    auto out = Napi::Object::New(env);
    out.Set("width", Napi::Number::New(env, width));
    out.Set("height", Napi::Number::New(env, height));
    out.Set("data", pixels);
    return out;
  });
}
#endif

}  // namespace

void registerVideoFunctions(Napi::Env env, Napi::Object exports) {
#ifdef BIKE_WITH_FFMPEG
  exports.Set("probeVideoFile", Napi::Function::New(env, probeVideoFile));
  exports.Set("decodeVideoFrames", Napi::Function::New(env, decodeVideoFrames));
#endif
}

}  // namespace bike
