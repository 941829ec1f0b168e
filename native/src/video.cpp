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
#include <climits>
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

// Frames above the pixel limit are refused by the size the container states, before
// avformat_find_stream_info decodes one, and again by the size the stream information settles on.
void checkFrameSize(int width, int height, double maxPixels) {
  const double pixels = static_cast<double>(width) * height;
  if (pixels > maxPixels)
    throw std::runtime_error("too large: frames of " + std::to_string(width) + "x" + std::to_string(height) + " are " +
                             std::to_string(static_cast<int64_t>(pixels)) + " pixels, above the limit of " +
                             std::to_string(static_cast<int64_t>(maxPixels)) + " (BIKE_MAX_PIXELS)");
}

// Owns the demuxer and decoder of one file's video stream: the one av_find_best_stream picks (as
// decord and the ffmpeg tools pick it), for the frame count and the frames alike.
struct VideoFile {
  AVFormatContext* format = nullptr;
  AVCodecContext* codec = nullptr;
  int stream = -1;
  double maxPixels;

  VideoFile(const std::string& path, double maxPixels) : maxPixels(maxPixels) {
    int rc = avformat_open_input(&format, path.c_str(), nullptr, nullptr);
    if (rc < 0) throw std::runtime_error("cannot be opened (" + averror(rc) + ")");
    for (unsigned i = 0; i < format->nb_streams; ++i) {
      const AVCodecParameters* params = format->streams[i]->codecpar;
      if (params->codec_type == AVMEDIA_TYPE_VIDEO) checkFrameSize(params->width, params->height, maxPixels);
    }
    rc = avformat_find_stream_info(format, nullptr);
    if (rc < 0) throw std::runtime_error("has no readable stream information (" + averror(rc) + ")");
    stream = av_find_best_stream(format, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
    if (stream < 0) throw std::runtime_error("has no video stream");
    checkFrameSize(format->streams[stream]->codecpar->width, format->streams[stream]->codecpar->height, maxPixels);
  }
  void openDecoder() {
    const AVCodecParameters* params = format->streams[stream]->codecpar;
    const AVCodec* decoder = avcodec_find_decoder(params->codec_id);
    if (!decoder) throw std::runtime_error(std::string("uses a codec this FFmpeg cannot decode (") + avcodec_get_name(params->codec_id) + ")");
    codec = avcodec_alloc_context3(decoder);
    avcodec_parameters_to_context(codec, params);
    codec->thread_count = 1;
    // The decoder refuses pictures above the limit too (a stream may change size mid-way).
    codec->max_pixels = static_cast<int64_t>(std::min<double>(maxPixels, static_cast<double>(INT_MAX)));
    int rc = avcodec_open2(codec, decoder, nullptr);
    if (rc < 0) throw std::runtime_error("decoder cannot be opened (" + averror(rc) + ")");
  }
  ~VideoFile() {
    if (codec) avcodec_free_context(&codec);
    if (format) avformat_close_input(&format);
  }
};

double positiveNumber(const Napi::CallbackInfo& info, size_t at, double fallback, const char* what) {
  if (info.Length() <= at || info[at].IsUndefined()) return fallback;
  if (!info[at].IsNumber() || !(info[at].As<Napi::Number>().DoubleValue() >= 1))
    throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a positive number");
  return info[at].As<Napi::Number>().DoubleValue();
}

constexpr double kDefaultMaxPixels = 178956970;     // media-limits.ts' defaults
constexpr double kDefaultMaxVideoPixels = 1073741824;

// probeVideoFile(path, maxPixels?) -> { width, height, frameCount, frameCountSource, stream, fps } (fps 0 when the container gives none)
Napi::Value probeVideoFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>().Utf8Value();
  const double maxPixels = positiveNumber(info, 1, kDefaultMaxPixels, "probeVideoFile maxPixels");
  return guarded(env, "video " + path, [&]() -> Napi::Value {
    VideoFile file(path, maxPixels);
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
    out.Set("stream", Napi::Number::New(env, file.stream));
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
  std::unordered_map<int64_t, int64_t> frameOfPts;  // frame number (presentation order) of each shown pts
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
  for (size_t i = 0; i < order.size(); ++i) plan->frameOfPts[order[i]] = static_cast<int64_t>(i);
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

// What a decode pass met: packets or frames the decoder refused (decoding goes on past them, as
// the ffmpeg tools do), and the wanted frames that did not decode and were given the pixels of
// the nearest frame that did (the earlier one on a tie).
struct DecodeReport {
  int64_t decoded = 0;
  int errors = 0;
  std::string firstError;
  std::vector<std::pair<int64_t, int64_t>> substituted;  // (frame, frame whose pixels it has)

  void error(const std::string& what, int rc) {
    if (errors++ == 0) firstError = what + " (" + averror(rc) + ")";
  }
};

// The last frame decoded, kept by reference (no copy) as a stand-in for a wanted frame that fails.
struct LastFrame {
  FramePtr frame = newFrame();
  int64_t number = -1;
  void keep(const AVFrame* f, int64_t n) {
    av_frame_unref(frame.get());
    if (av_frame_ref(frame.get(), f) == 0) number = n;
    else number = -1;
  }
};

// Decodes from the start, counting output frames (streams without usable timestamps). A packet
// the decoder refuses of an intra-only codec (Motion JPEG, ...) is exactly one lost frame, so it is
// counted as one and substituted; other codecs' lost packets are not counted (the frame numbers
// after them are the decoder's output order, as the ffmpeg CLI's `select=eq(n,N)` counts them).
void decodeCounting(VideoFile& file, const std::vector<int64_t>& wanted, RgbWriter& writer, DecodeReport& report) {
  auto packet = newPacket();
  auto frame = newFrame();
  LastFrame last;
  const AVCodecDescriptor* descriptor = avcodec_descriptor_get(file.codec->codec_id);
  const bool intraOnly = descriptor && (descriptor->props & AV_CODEC_PROP_INTRA_ONLY);
  size_t next = 0;
  int64_t& decoded = report.decoded;
  bool pending = false;  // wanted[next] was lost before any frame decoded: the next frame stands in
  auto substitute = [&](const AVFrame* with, int64_t from) {
    writer.write(with, next);
    report.substituted.emplace_back(wanted[next], from);
    ++next;
  };
  auto takeFrames = [&]() {
    while (next < wanted.size()) {
      int rc = avcodec_receive_frame(file.codec, frame.get());
      if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return;
      if (rc < 0) { report.error("frame " + std::to_string(decoded) + " cannot be decoded", rc); return; }
      while (pending && next < wanted.size() && wanted[next] < decoded) substitute(frame.get(), decoded);
      pending = false;
      if (next < wanted.size() && decoded == wanted[next]) writer.write(frame.get(), next++);
      last.keep(frame.get(), decoded);
      ++decoded;
      av_frame_unref(frame.get());
    }
  };
  while (next < wanted.size() && av_read_frame(file.format, packet.get()) >= 0) {
    if (packet->stream_index == file.stream) {
      int rc = avcodec_send_packet(file.codec, packet.get());
      av_packet_unref(packet.get());
      if (rc < 0 && rc != AVERROR(EAGAIN)) {
        report.error("the packet of frame " + std::to_string(decoded) + " cannot be decoded", rc);
        if (intraOnly) {
          if (next < wanted.size() && wanted[next] == decoded) {
            if (last.number >= 0) substitute(last.frame.get(), last.number);
            else pending = true;
          }
          ++decoded;
        }
      }
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
                             " was requested: the file is truncated or damaged" +
                             (report.errors ? " (" + report.firstError + ")" : std::string()));
}

struct SeekFailed {};

// Decodes the wanted frames by timestamp, seeking to a frame's key packet when it lies ahead of
// the read position (so a long video costs about one GOP per frame, not every frame up to the
// last). Throws SeekFailed when the demuxer does not land where the index says. A decoder outputs
// frames in presentation order, so a wanted frame is lost once a later frame comes out without it
// (its packet was refused, or the pictures it needs): it gets the pixels of the nearer of the
// frame decoded before it and that later one. Every wanted frame has a packet (planSeeks checked),
// so one still missing at the end of a stream the decoder refused parts of gets the last frame
// decoded.
void decodeSeeking(VideoFile& file, const std::vector<IndexedPacket>& packets, const std::vector<int64_t>& wanted,
                   const SeekPlan& plan, RgbWriter& writer, DecodeReport& report) {
  auto packet = newPacket();
  auto frame = newFrame();
  LastFrame last;
  std::unordered_map<int64_t, size_t> slotOfPts;
  for (size_t i = 0; i < wanted.size(); ++i) slotOfPts[plan.pts[i]] = i;
  std::vector<bool> done(wanted.size(), false);
  size_t taken = 0, target = 0;
  size_t position = SIZE_MAX;  // decode index of the next packet to read; unknown before the first seek
  bool flushed = false;        // the decoder was drained at the end of the stream
  size_t seekedFor = SIZE_MAX;
  auto fill = [&](size_t slot, const AVFrame* with, int64_t from) {
    writer.write(with, slot);
    if (from != wanted[slot]) report.substituted.emplace_back(wanted[slot], from);
    done[slot] = true;
    ++taken;
  };
  auto takeFrames = [&]() {
    for (;;) {
      int rc = avcodec_receive_frame(file.codec, frame.get());
      if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return;
      if (rc < 0) { report.error("a frame before frame " + std::to_string(wanted[target]) + " cannot be decoded", rc); return; }
      ++report.decoded;
      const int64_t pts = frame->pts != AV_NOPTS_VALUE ? frame->pts : frame->best_effort_timestamp;
      auto number = plan.frameOfPts.find(pts);
      if (number != plan.frameOfPts.end()) {
        const int64_t n = number->second;
        // Wanted frames before this one that have not come out are lost. Only once the decoder has
        // refused something: an intact stream's frames are matched by timestamp whatever order
        // they come out in (an H.264 decoder that learns its reordering depth late can emit a
        // frame early).
        for (size_t slot = target; report.errors > 0 && slot < wanted.size() && wanted[slot] < n; ++slot) {
          if (done[slot] || plan.key[slot] >= position) continue;  // not decoded from its key packet yet
          const bool earlier = last.number >= 0 && wanted[slot] - last.number <= n - wanted[slot];
          if (earlier) fill(slot, last.frame.get(), last.number);
          else fill(slot, frame.get(), n);
        }
        auto found = slotOfPts.find(pts);
        if (found != slotOfPts.end() && !done[found->second]) fill(found->second, frame.get(), n);
        last.keep(frame.get(), n);
      }
      av_frame_unref(frame.get());
    }
  };
  auto send = [&](AVPacket* p) {
    int rc = avcodec_send_packet(file.codec, p);
    if (rc < 0 && rc != AVERROR(EAGAIN) && rc != AVERROR_EOF)
      report.error("a packet before frame " + std::to_string(wanted[target]) + " cannot be decoded", rc);
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
    if (report.errors == 0)
      throw std::runtime_error("frame " + std::to_string(wanted[missing]) + " was not in the decoded stream: the file is truncated or damaged");
    if (last.number < 0)
      throw std::runtime_error("no frame from frame " + std::to_string(wanted[missing]) + " on decodes: the file is damaged (" + report.firstError + ")");
    for (size_t slot = missing; slot < wanted.size(); ++slot)
      if (!done[slot]) fill(slot, last.frame.get(), last.number);
  }
}

// decodeVideoFrames(path, frames: ascending distinct 0-based numbers, maxPixels?, maxVideoPixels?)
//   -> { width, height, data (RGB24, frame after frame), decodedFrames, substituted: [[frame, from], ...],
//        decodeErrors, firstDecodeError }
// Frames above maxPixels, or more than maxVideoPixels pixels in all, are refused before the output
// is allocated.
Napi::Value decodeVideoFrames(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>().Utf8Value();
  auto wanted = toInt64Vector(info[1], "decodeVideoFrames frames");
  const double maxPixels = positiveNumber(info, 2, kDefaultMaxPixels, "decodeVideoFrames maxPixels");
  const double maxVideoPixels = positiveNumber(info, 3, kDefaultMaxVideoPixels, "decodeVideoFrames maxVideoPixels");
  return guarded(env, "video " + path, [&]() -> Napi::Value {
    // Index the packets, then seek and decode on the same demuxer; streams that cannot be
    // addressed by timestamp (or a demuxer that seeks elsewhere) decode from the start.
    auto file = std::make_unique<VideoFile>(path, maxPixels);
    file->openDecoder();
    const int width = file->codec->width, height = file->codec->height;
    if (width <= 0 || height <= 0) throw std::runtime_error("video stream has no valid size");
    checkFrameSize(width, height, maxPixels);
    const double total = static_cast<double>(width) * height * static_cast<double>(wanted.size());
    if (total > maxVideoPixels)
      throw std::runtime_error("too large: " + std::to_string(wanted.size()) + " frames of " + std::to_string(width) + "x" +
                               std::to_string(height) + " are " + std::to_string(static_cast<int64_t>(total)) +
                               " pixels, above the limit of " + std::to_string(static_cast<int64_t>(maxVideoPixels)) +
                               " for one read (BIKE_MAX_VIDEO_PIXELS)");
    auto pixels = Napi::Uint8Array::New(env, static_cast<size_t>(width) * height * 3 * wanted.size());
    RgbWriter writer(width, height, pixels.Data());
    const std::vector<IndexedPacket> packets = indexPackets(*file);
    DecodeReport report;
    bool seeked = false;
    if (auto plan = planSeeks(packets, wanted)) {
      try {
        decodeSeeking(*file, packets, wanted, *plan, writer, report);
        seeked = true;
      } catch (const SeekFailed&) {
        report = DecodeReport();
      }
    }
    if (!seeked) {
      file = std::make_unique<VideoFile>(path, maxPixels);
      file->openDecoder();
      if (file->codec->width != width || file->codec->height != height) throw std::runtime_error("video stream changed size between reads");
      decodeCounting(*file, wanted, writer, report);
    }
    auto out = Napi::Object::New(env);
    out.Set("width", Napi::Number::New(env, width));
    out.Set("height", Napi::Number::New(env, height));
    out.Set("data", pixels);
    out.Set("decodedFrames", Napi::Number::New(env, static_cast<double>(report.decoded)));
    auto substituted = Napi::Array::New(env, report.substituted.size());
    for (size_t i = 0; i < report.substituted.size(); ++i) {
      auto pair = Napi::Array::New(env, 2);
      pair.Set(0u, Napi::Number::New(env, static_cast<double>(report.substituted[i].first)));
      pair.Set(1u, Napi::Number::New(env, static_cast<double>(report.substituted[i].second)));
      substituted.Set(static_cast<uint32_t>(i), pair);
    }
    out.Set("substituted", substituted);
    out.Set("decodeErrors", Napi::Number::New(env, report.errors));
    out.Set("firstDecodeError", Napi::String::New(env, report.firstError));
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
