// Video frames through FFmpeg's libraries (Debian's libavformat/libavcodec/libswscale), in process:
// the container's frame count (or a packet count), and the RGB pixels of chosen frames. The stream's
// packets are indexed first (demuxing only, as decord does); frame n is the n-th presentation
// timestamp, and decoding seeks to the key packet of a wanted frame that lies ahead, so a frame costs
// about one GOP however long the video. Streams without unique timestamps decode from the start,
// counting frames. Built only where the FFmpeg headers exist.
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
#include <unordered_map>
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

// probeVideoFile(path) -> { width, height, frameCount, frameCountSource, fps } (fps 0 when the container gives none)
Napi::Value probeVideoFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>().Utf8Value();
  return guarded(env, "video " + path, [&]() -> Napi::Value {
    VideoFile file(path);
    const AVCodecParameters* params = file.format->streams[file.stream]->codecpar;
    AVStream* stream = file.format->streams[file.stream];
    int64_t count = stream->nb_frames;
    std::string source = "container";
#if LIBAVFORMAT_VERSION_MAJOR >= 59
    // mp4 edit lists can start the video after some stored frames: the container counts them, but
    // decoders drop them. Where the index lists every frame, the dropped ones are not counted.
    if (count > 0 && avformat_index_get_entries_count(stream) == count) {
      int64_t shown = 0;
      for (int i = 0; i < count; ++i)
        if (!(avformat_index_get_entry(stream, i)->flags & AVINDEX_DISCARD_FRAME)) ++shown;
      count = shown;
    }
#endif
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
    AVRational rate = stream->avg_frame_rate.num > 0 && stream->avg_frame_rate.den > 0 ? stream->avg_frame_rate : stream->r_frame_rate;
    out.Set("fps", Napi::Number::New(env, rate.num > 0 && rate.den > 0 ? av_q2d(rate) : 0.0));
    return out;
  });
}

// One packet of the video stream, in decode order (demuxed, not decoded).
struct IndexedPacket {
  int64_t pts;
  int64_t dts;
  bool key;
  bool discard;  // dropped by the decoder (e.g. before an mp4 edit list's start): not a frame
};

std::vector<IndexedPacket> indexPackets(VideoFile& file) {
  std::vector<IndexedPacket> packets;
  std::unique_ptr<AVPacket, void (*)(AVPacket*)> packet(av_packet_alloc(), [](AVPacket* p) { av_packet_free(&p); });
  while (av_read_frame(file.format, packet.get()) >= 0) {
    if (packet->stream_index == file.stream)
      packets.push_back({packet->pts, packet->dts, (packet->flags & AV_PKT_FLAG_KEY) != 0, (packet->flags & AV_PKT_FLAG_DISCARD) != 0});
    av_packet_unref(packet.get());
  }
  return packets;
}

// Where each wanted frame is: its timestamp and the key packet to start decoding from. Frame n is
// the n-th smallest presentation timestamp, which is the n-th frame a decoder outputs.
struct SeekPlan {
  std::vector<int64_t> pts;     // per wanted frame
  std::vector<size_t> key;      // per wanted frame: decode index of its key packet
  std::unordered_map<int64_t, size_t> packetOfPts;
};

// Null when the stream cannot be addressed by timestamp (missing or repeated ones).
std::unique_ptr<SeekPlan> planSeeks(const std::vector<IndexedPacket>& packets, const std::vector<int64_t>& wanted) {
  auto plan = std::make_unique<SeekPlan>();
  std::vector<int64_t> order;
  for (size_t i = 0; i < packets.size(); ++i) {
    const auto& p = packets[i];
    if (p.pts == AV_NOPTS_VALUE) return nullptr;
    if (!plan->packetOfPts.emplace(p.pts, i).second) return nullptr;
    if (!p.discard) order.push_back(p.pts);
  }
  std::sort(order.begin(), order.end());
  for (int64_t n : wanted) {
    if (n < 0 || static_cast<size_t>(n) >= order.size()) return nullptr;
    const int64_t pts = order[static_cast<size_t>(n)];
    const size_t at = plan->packetOfPts[pts];
    // The last key packet at or before it in decode order that is not shown after it (a frame
    // shown before its GOP's key picture needs the previous GOP).
    size_t key = at;
    while (!(packets[key].key && packets[key].pts <= pts)) {
      if (key == 0) return nullptr;
      --key;
    }
    plan->pts.push_back(pts);
    plan->key.push_back(key);
  }
  return plan;
}

// Converts decoded frames to RGB24 into the output, frame after frame.
struct RgbWriter {
  int width, height;
  size_t frameBytes;
  uint8_t* out;
  SwsContext* scaler = nullptr;
  int scratchStride;
  std::vector<uint8_t> scratch;

  RgbWriter(int w, int h, uint8_t* output)
      : width(w), height(h), frameBytes(static_cast<size_t>(w) * h * 3), out(output), scratchStride(FFALIGN(w * 3, 64)),
        scratch(static_cast<size_t>(scratchStride) * (h + 1) + 64) {}
  ~RgbWriter() { sws_freeContext(scaler); }

  void write(const AVFrame* frame, size_t slot) {
    scaler = sws_getCachedContext(scaler, width, height, static_cast<AVPixelFormat>(frame->format), width, height,
                                  AV_PIX_FMT_RGB24, SWS_BICUBIC, nullptr, nullptr, nullptr);
    if (!scaler) throw std::runtime_error("no conversion from this pixel format to RGB");
    // swscale's SIMD writers store whole vectors past the end of a row, so they write into a padded
    // scratch image and the rows are copied out (writing straight into the exact-size output
    // corrupted the heap for widths such as 427).
    uint8_t* dst[4] = {scratch.data(), nullptr, nullptr, nullptr};
    int dstStride[4] = {scratchStride, 0, 0, 0};
    sws_scale(scaler, frame->data, frame->linesize, 0, height, dst, dstStride);
    uint8_t* target = out + slot * frameBytes;
    for (int y = 0; y < height; ++y)
      std::memcpy(target + static_cast<size_t>(y) * width * 3, scratch.data() + static_cast<size_t>(y) * scratchStride, static_cast<size_t>(width) * 3);
  }
};

using PacketPtr = std::unique_ptr<AVPacket, void (*)(AVPacket*)>;
using FramePtr = std::unique_ptr<AVFrame, void (*)(AVFrame*)>;
PacketPtr newPacket() { return PacketPtr(av_packet_alloc(), [](AVPacket* p) { av_packet_free(&p); }); }
FramePtr newFrame() { return FramePtr(av_frame_alloc(), [](AVFrame* f) { av_frame_free(&f); }); }

// Decodes from the start, counting output frames (streams without usable timestamps). Returns the
// number of frames decoded.
int64_t decodeCounting(VideoFile& file, const std::vector<int64_t>& wanted, RgbWriter& writer) {
  auto packet = newPacket();
  auto frame = newFrame();
  size_t next = 0;
  int64_t decoded = 0;
  auto takeFrames = [&]() {
    while (next < wanted.size()) {
      int rc = avcodec_receive_frame(file.codec, frame.get());
      if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return;
      if (rc < 0) throw std::runtime_error("frame " + std::to_string(decoded) + " cannot be decoded (" + averror(rc) + ")");
      if (decoded == wanted[next]) writer.write(frame.get(), next++);
      ++decoded;
      av_frame_unref(frame.get());
    }
  };
  while (next < wanted.size() && av_read_frame(file.format, packet.get()) >= 0) {
    if (packet->stream_index == file.stream) {
      int rc = avcodec_send_packet(file.codec, packet.get());
      av_packet_unref(packet.get());
      if (rc < 0 && rc != AVERROR(EAGAIN)) throw std::runtime_error("packet of frame " + std::to_string(decoded) + " cannot be decoded (" + averror(rc) + ")");
      takeFrames();
    } else {
      av_packet_unref(packet.get());
    }
  }
  if (next < wanted.size()) {
    avcodec_send_packet(file.codec, nullptr);  // flush the decoder's delayed frames
    takeFrames();
  }
  if (next < wanted.size())
    throw std::runtime_error("decoded " + std::to_string(decoded) + " frames but frame " + std::to_string(wanted[next]) +
                             " was requested: the file is truncated or damaged");
  return decoded;
}

struct SeekFailed {};

// Decodes the wanted frames by timestamp, seeking to a frame's key packet when it lies ahead of
// the read position (so a long video costs about one GOP per frame, not every frame up to the
// last). Throws SeekFailed when the demuxer does not land where the index says. Returns the number
// of frames decoded.
int64_t decodeSeeking(VideoFile& file, const std::vector<IndexedPacket>& packets, const std::vector<int64_t>& wanted,
                      const SeekPlan& plan, RgbWriter& writer) {
  auto packet = newPacket();
  auto frame = newFrame();
  std::unordered_map<int64_t, size_t> slotOfPts;
  for (size_t i = 0; i < wanted.size(); ++i) slotOfPts[plan.pts[i]] = i;
  std::vector<bool> done(wanted.size(), false);
  size_t taken = 0, target = 0;
  size_t position = SIZE_MAX;  // decode index of the next packet to read; unknown before the first seek
  bool flushed = false;        // the decoder was drained at the end of the stream
  size_t seekedFor = SIZE_MAX;
  int64_t decoded = 0;
  auto takeFrames = [&]() {
    for (;;) {
      int rc = avcodec_receive_frame(file.codec, frame.get());
      if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return;
      if (rc < 0) throw std::runtime_error("a frame before frame " + std::to_string(wanted[target]) + " cannot be decoded (" + averror(rc) + ")");
      ++decoded;
      const int64_t pts = frame->pts != AV_NOPTS_VALUE ? frame->pts : frame->best_effort_timestamp;
      auto found = slotOfPts.find(pts);
      if (found != slotOfPts.end() && !done[found->second]) {
        writer.write(frame.get(), found->second);
        done[found->second] = true;
        ++taken;
      }
      av_frame_unref(frame.get());
    }
  };
  auto send = [&](AVPacket* p) {
    int rc = avcodec_send_packet(file.codec, p);
    if (rc < 0 && rc != AVERROR(EAGAIN) && rc != AVERROR_EOF)
      throw std::runtime_error("a packet before frame " + std::to_string(wanted[target]) + " cannot be decoded (" + averror(rc) + ")");
    takeFrames();
  };
  while (taken < wanted.size()) {
    while (done[target]) ++target;
    const size_t key = plan.key[target];
    // Seek once per target: a demuxer may land on an earlier key packet, from which decoding on works too.
    if ((position == SIZE_MAX || key > position) && seekedFor != target) {
      seekedFor = target;
      const IndexedPacket& k = packets[key];
      // Demuxers index by presentation (Matroska, recent mp4) or decode time; a seek that lands past
      // the key packet is tried again with the other.
      bool landed = false;
      for (int64_t timestamp : {k.pts, k.dts}) {
        if (landed || timestamp == AV_NOPTS_VALUE) continue;
        avcodec_flush_buffers(file.codec);
        flushed = false;
        if (av_seek_frame(file.format, file.stream, timestamp, AVSEEK_FLAG_BACKWARD) < 0) continue;
        // Identify the packet the demuxer landed on: it must be a key packet no later than `key`.
        // Timestamps are unique (planSeeks checked), so the pts names the packet; demuxers such as
        // Matroska's leave the first dts after a seek unset.
        while (av_read_frame(file.format, packet.get()) >= 0) {
          if (packet->stream_index != file.stream) { av_packet_unref(packet.get()); continue; }
          auto at = plan.packetOfPts.find(packet->pts);
          if (at != plan.packetOfPts.end() && at->second <= key && packets[at->second].key) {
            position = at->second + 1;
            landed = true;
            send(packet.get());
          }
          av_packet_unref(packet.get());
          break;
        }
      }
      if (!landed) throw SeekFailed{};
      continue;
    }
    if (flushed) break;  // the stream ended without this frame
    if (av_read_frame(file.format, packet.get()) >= 0) {
      if (packet->stream_index == file.stream) {
        ++position;
        send(packet.get());
      }
      av_packet_unref(packet.get());
    } else {
      send(nullptr);  // drain the decoder's delayed frames
      flushed = true;
    }
  }
  if (taken < wanted.size()) {
    size_t missing = 0;
    while (done[missing]) ++missing;
    throw std::runtime_error("frame " + std::to_string(wanted[missing]) + " was not in the decoded stream: the file is truncated or damaged");
  }
  return decoded;
}

// decodeVideoFrames(path, frames: ascending distinct 0-based numbers)
//   -> { width, height, data (RGB24, frame after frame), decodedFrames }
Napi::Value decodeVideoFrames(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>().Utf8Value();
  auto wanted = toInt64Vector(info[1], "decodeVideoFrames frames");
  return guarded(env, "video " + path, [&]() -> Napi::Value {
    // Index the packets, then seek and decode on the same demuxer; streams that cannot be
    // addressed by timestamp (or a demuxer that seeks elsewhere) decode from the start.
    auto file = std::make_unique<VideoFile>(path);
    file->openDecoder();
    const int width = file->codec->width, height = file->codec->height;
    if (width <= 0 || height <= 0) throw std::runtime_error("video stream has no valid size");
    auto pixels = Napi::Uint8Array::New(env, static_cast<size_t>(width) * height * 3 * wanted.size());
    RgbWriter writer(width, height, pixels.Data());
    const std::vector<IndexedPacket> packets = indexPackets(*file);
    int64_t decoded = -1;
    if (auto plan = planSeeks(packets, wanted)) {
      try {
        decoded = decodeSeeking(*file, packets, wanted, *plan, writer);
      } catch (const SeekFailed&) {
        decoded = -1;
      }
    }
    if (decoded < 0) {
      file = std::make_unique<VideoFile>(path);
      file->openDecoder();
      if (file->codec->width != width || file->codec->height != height) throw std::runtime_error("video stream changed size between reads");
      decoded = decodeCounting(*file, wanted, writer);
    }
    auto out = Napi::Object::New(env);
    out.Set("width", Napi::Number::New(env, width));
    out.Set("height", Napi::Number::New(env, height));
    out.Set("data", pixels);
    out.Set("decodedFrames", Napi::Number::New(env, static_cast<double>(decoded)));
    return out;
  });
}
#endif

}  // namespace

void registerVideoFunctions(Napi::Env env, Napi::Object exports) {
#ifdef BIKE_WITH_FFMPEG
  // Failures reach callers as errors naming the file; FFmpeg's own log would repeat them on stderr
  // (and decoding on from a key picture logs about references it never needed).
  av_log_set_level(AV_LOG_QUIET);
  exports.Set("probeVideoFile", Napi::Function::New(env, probeVideoFile));
  exports.Set("decodeVideoFrames", Napi::Function::New(env, decodeVideoFrames));
#endif
}

}  // namespace bike
