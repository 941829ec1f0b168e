/**
 * Frames of video files (mp4, webm, avi, mkv, ...), standing in for the original's decord
 * `VideoReader`: the frame count comes from the container (else a packet count), and only the
 * sampled frames are converted to RGB. Decoding runs in process through FFmpeg's libraries when the
 * addon was built with them (seeking to each wanted frame's key frame); otherwise through the
 * command-line tools (Debian's `ffmpeg` package), selecting frames by number with a `select` filter
 * and reading raw rgb24 from a pipe. Like decord, no rotation metadata is applied. The video stream
 * is the one FFmpeg's av_find_best_stream picks (decord's choice), for the frame count and the
 * frames alike. Frames above the pixel limit (media-limits.ts) are refused from the container's
 * header before anything is allocated; a frame that does not decode (a damaged packet) gets the
 * pixels of the nearest frame that does, and the result says which (`substituted`, `warning`).
 * Unusable files are MediaErrors naming the file and the reason.
 */
import { spawn } from 'node:child_process';
import { MediaError } from './media-error.ts';
import { mediaLimits } from './media-limits.ts';
import { makeRgbImage, type RgbImage } from './rgb-image.ts';
// Loading the addon brings its frame kernels: the transforms of what these decoders return use them.
import './native-frame-ops.ts';
import { native, type DecodedVideoFrames } from '../torch/native.ts';

// The addon links FFmpeg's libraries where their headers were found at build time: the same
// decoders and pixel conversion as the CLI, in process (tens of times faster for short clips), and
// it seeks to each wanted frame's key frame instead of decoding every frame before it.
const { probeVideoFile, decodeVideoFrames } = native;
const inProcess = probeVideoFile && decodeVideoFrames ? { probeVideoFile, decodeVideoFrames } : null;

export interface VideoInfo {
  path: string;
  width: number;
  height: number;
  /** Frames in the first video stream. */
  frameCount: number;
  /** Where `frameCount` came from. */
  frameCountSource: 'container' | 'packet count';
  /** Index (in the file) of the video stream read: av_find_best_stream's choice. */
  stream?: number;
  /** Frames per second the container gives (in-process probe only; see `probeFrameRate`). */
  fps?: number;
}

/** A wanted frame that did not decode, and the frame whose pixels stand in for it. */
export interface SubstitutedFrame {
  frame: number;
  from: number;
}

/**
 * Frames in request order; `substituted` lists the distinct frames that did not decode (empty for an
 * intact file), `warning` says so in one message naming the file, for callers to print, and `reason`
 * is the decoder's first error.
 */
export type VideoFrames = RgbImage[] & { substituted: SubstitutedFrame[]; warning?: string; reason?: string };

function withReport(
  frames: RgbImage[],
  substituted: SubstitutedFrame[],
  report?: { warning: string; reason: string },
): VideoFrames {
  const out = frames as VideoFrames;
  out.substituted = substituted;
  if (report) {
    out.warning = report.warning;
    out.reason = report.reason;
  }
  return out;
}

function tooLarge(path: string, width: number, height: number, frames?: number): MediaError | null {
  const { maxPixels, maxVideoPixels } = mediaLimits();
  if (width * height > maxPixels) {
    return new MediaError(
      'video',
      path,
      `too large: frames of ${width}x${height} are ${width * height} pixels, above the limit of ${maxPixels} (BIKE_MAX_PIXELS)`,
    );
  }
  if (frames !== undefined && frames * width * height > maxVideoPixels) {
    return new MediaError(
      'video',
      path,
      `too large: ${frames} frames of ${width}x${height} are ${frames * width * height} pixels, above the limit of ${maxVideoPixels} for one read (BIKE_MAX_VIDEO_PIXELS)`,
    );
  }
  return null;
}

/** The native addon's message without its `video PATH: ` prefix. */
const nativeReason = (error: unknown) =>
  (error as Error).message.replace(
    /^video .*?: (?=cannot|has|too large|decoded|no frame|video stream|uses|decoder|frame)/,
    '',
  );

/**
 * av_find_best_stream's choice among ffprobe's video streams (libavformat's rule): not for the
 * hearing or visually impaired, then the default disposition, then several frames probed (an
 * attached picture has one), then the higher bit rate; the first on a tie.
 */
function bestStream(streams: Record<string, unknown>[]): Record<string, unknown> | undefined {
  let best: Record<string, unknown> | undefined,
    bestScore: number[] = [];
  for (const stream of streams) {
    const d = (stream.disposition ?? {}) as Record<string, number>;
    const score = [
      (d.hearing_impaired || d.visual_impaired ? 0 : 1) + (d.default ? 1 : 0),
      d.attached_pic ? 1 : 5,
      Number(stream.bit_rate) || 0,
    ];
    const differs = score.findIndex((v, i) => v !== bestScore[i]);
    if (best === undefined || (differs >= 0 && score[differs]! > bestScore[differs]!)) {
      best = stream;
      bestScore = score;
    }
  }
  return best;
}

export interface FfmpegOptions {
  /** Defaults to `ffmpeg` / `ffprobe` on PATH. */
  ffmpegPath?: string;
  ffprobePath?: string;
  /** Decoder threads per video; 1 suits one loader worker per core. */
  threads?: number;
}

const STDERR_LIMIT = 4000;

interface RunResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs a tool, collecting stdout (into `into` when given) and the tail of stderr. */
function run(
  tool: string,
  args: string[],
  what: string,
  into?: { buffer: Buffer; filled: number },
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(tool, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      if (!into) {
        chunks.push(chunk);
        return;
      }
      const room = into.buffer.length - into.filled;
      chunk.copy(into.buffer, into.filled, 0, Math.min(room, chunk.length));
      into.filled += chunk.length; // counts overflow too, so a size mismatch is detected
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-STDERR_LIMIT);
    });
    child.on('error', (error: NodeJS.ErrnoException) => {
      reject(
        new Error(
          error.code === 'ENOENT'
            ? `${what}: ${tool} is not installed (install Debian's ffmpeg package)`
            : `${what}: cannot run ${tool}: ${error.message}`,
        ),
      );
    });
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(chunks), stderr: stderr.trim() }));
  });
}

function parsePositiveInt(text: unknown): number | null {
  if (typeof text !== 'string' && typeof text !== 'number') return null;
  const n = Number(text);
  return Number.isInteger(n) && n > 0 ? n : null;
}

/**
 * Size and frame count of the video stream (av_find_best_stream's); an unreadable file, or frames
 * above the pixel limit, is a MediaError naming it.
 */
export async function probeVideo(path: string, options: FfmpegOptions = {}): Promise<VideoInfo> {
  const fail = (reason: string): never => {
    throw new MediaError('video', path, reason);
  };
  if (inProcess && !options.ffprobePath) {
    let info: Omit<VideoInfo, 'path'>;
    try {
      info = inProcess.probeVideoFile(path, mediaLimits().maxPixels);
    } catch (error) {
      const reason = nativeReason(error);
      return fail(reason.startsWith('too large') ? reason : `cannot be read (${reason})`);
    }
    if (!(info.width > 0 && info.height > 0))
      fail(`video stream has no valid size (width ${info.width}, height ${info.height})`);
    if (!(info.frameCount > 0)) fail('has no video frames');
    return { path, ...info };
  }
  const ffprobe = options.ffprobePath ?? 'ffprobe';
  const what = `video ${path}`;
  const probe = await run(
    ffprobe,
    [
      '-v',
      'error',
      '-select_streams',
      'v',
      '-show_entries',
      'stream=index,width,height,nb_frames,bit_rate:stream_disposition=default,hearing_impaired,visual_impaired,attached_pic',
      '-of',
      'json',
      path,
    ],
    what,
  );
  if (probe.code !== 0) fail(`cannot be read (ffprobe: ${probe.stderr || `exit ${probe.code}`})`);
  let stream: Record<string, unknown> | undefined;
  try {
    stream = bestStream(
      (JSON.parse(probe.stdout.toString('utf8')) as { streams?: Record<string, unknown>[] }).streams ?? [],
    );
  } catch {
    fail('ffprobe printed something that is not JSON');
  }
  if (!stream) return fail('has no video stream');
  const index = Number(stream.index);
  const width = parsePositiveInt(stream.width);
  const height = parsePositiveInt(stream.height);
  if (!width || !height) return fail(`video stream has no valid size (width ${stream.width}, height ${stream.height})`);
  const large = tooLarge(path, width, height);
  if (large) throw large;
  const fromContainer = parsePositiveInt(stream.nb_frames);
  if (fromContainer)
    return { path, width, height, frameCount: fromContainer, frameCountSource: 'container', stream: index };

  // Containers such as webm and mkv do not store a frame count: count the stream's packets.
  const count = await run(
    ffprobe,
    [
      '-v',
      'error',
      '-select_streams',
      String(index),
      '-count_packets',
      '-show_entries',
      'stream=nb_read_packets',
      '-of',
      'csv=p=0',
      path,
    ],
    what,
  );
  const packets = parsePositiveInt(count.stdout.toString('utf8').trim().split(/\s+/)[0]);
  if (count.code !== 0 || !packets) {
    fail(`cannot count its frames (ffprobe: ${count.stderr || `printed "${count.stdout.toString('utf8').trim()}"`})`);
  }
  return { path, width, height, frameCount: packets!, frameCountSource: 'packet count', stream: index };
}

/**
 * Decodes the frames numbered `frames` (0-based, presentation order, repeats allowed) to RGB;
 * result i is frame `frames[i]`. A frame that does not decode where others do (a damaged packet)
 * gets the pixels of the nearest decodable frame and is listed in the result's `substituted`. The
 * CLI fallback does the same when ffmpeg reports errors, placing the frames that decode by their
 * timestamps (two more passes); it refuses files whose frames it cannot place. Frames past the end,
 * a file with no decodable frame, or more pixels than the limits allow are a MediaError naming the
 * file.
 */
export async function readVideoFrames(
  path: string,
  frames: readonly number[],
  info?: VideoInfo,
  options: FfmpegOptions = {},
): Promise<VideoFrames> {
  const video = info ?? (await probeVideo(path, options));
  const what = `video ${path}`;
  const fail = (reason: string): never => {
    throw new MediaError('video', path, reason);
  };
  if (frames.length === 0) return withReport([], []);
  for (const n of frames) {
    if (!Number.isInteger(n) || n < 0 || n >= video.frameCount) {
      fail(
        `frame ${n} requested, expected 0..${video.frameCount - 1} (${video.frameCount} frames by ${video.frameCountSource})`,
      );
    }
  }
  const wanted = [...new Set(frames)].sort((a, b) => a - b);
  // Refused before a byte is allocated for them (the addon checks the stream's own size too).
  const large = tooLarge(path, video.width, video.height, wanted.length);
  if (large) throw large;
  if (inProcess && !options.ffmpegPath) {
    let decoded: DecodedVideoFrames;
    try {
      const { maxPixels, maxVideoPixels } = mediaLimits();
      decoded = inProcess.decodeVideoFrames(path, wanted, maxPixels, maxVideoPixels);
    } catch (error) {
      const reason = nativeReason(error);
      return fail(
        reason.startsWith('too large')
          ? reason
          : `cannot decode the sampled frames (${reason}; the container says ${video.frameCount} frames of ${video.width}x${video.height}): the file is truncated or damaged`,
      );
    }
    const size = decoded.width * decoded.height * 3;
    const byNumber = new Map(
      wanted.map((n, i) => [
        n,
        makeRgbImage(decoded.width, decoded.height, decoded.data.subarray(i * size, (i + 1) * size)),
      ]),
    );
    const substituted = decoded.substituted.map(([frame, from]) => ({ frame, from }));
    const reason = decoded.firstDecodeError || 'damaged data';
    const report =
      substituted.length === 0
        ? undefined
        : {
            reason,
            warning:
              `${what}: ${substituted.length} of the ${wanted.length} sampled frames did not decode (${reason}; ` +
              `${decoded.decodeErrors} decoding error${decoded.decodeErrors === 1 ? '' : 's'}); each has the pixels of the nearest frame that decodes: ` +
              substituted.map((s) => `frame ${s.frame} <- ${s.from}`).join(', '),
          };
    return withReport(
      frames.map((n) => byNumber.get(n)!),
      substituted,
      report,
    );
  }
  const first = await cliDecode(path, video, wanted, options);
  // Exit 0 with every frame but errors on stderr: a packet may have been dropped, which shifts the
  // CLI's frame numbers (`n` counts decoded frames), so the frames are placed by their timestamps.
  if (first.complete && first.stderr === '') {
    return withReport(
      frames.map((n) => first.images.get(n)!),
      [],
    );
  }
  const placed = await placeDecodedFrames(path, video, options);
  if (!placed) {
    if (first.complete) return fail(`cannot place the decoded frames: ffmpeg reports errors (${first.stderr})`);
    return fail(first.failure);
  }
  const { decodedAs, reason } = placed;
  const decodedFrames = [...decodedAs.keys()].sort((a, b) => a - b);
  if (decodedFrames.length === 0) return fail(`no frame decodes (ffmpeg: ${reason})`);
  // Each wanted frame, or the nearest that decodes (the earlier one on a tie), by its CLI number.
  const substituted: SubstitutedFrame[] = [];
  const source = new Map<number, number>();
  for (const n of wanted) {
    let from = n;
    if (!decodedAs.has(n)) {
      from = decodedFrames.reduce((best, f) => (Math.abs(f - n) < Math.abs(best - n) ? f : best));
      substituted.push({ frame: n, from });
    }
    source.set(n, from);
  }
  const sources = [...new Set(source.values())].sort((a, b) => a - b);
  const second = await cliDecode(
    path,
    video,
    sources.map((f) => decodedAs.get(f)!),
    options,
  );
  if (!second.complete) return fail(second.failure);
  const bySource = new Map(sources.map((f) => [f, second.images.get(decodedAs.get(f)!)!]));
  const report =
    substituted.length === 0
      ? undefined
      : {
          reason,
          warning:
            `${what}: ${substituted.length} of the ${wanted.length} sampled frames did not decode (${reason}); ` +
            `each has the pixels of the nearest frame that decodes: ` +
            substituted.map((x) => `frame ${x.frame} <- ${x.from}`).join(', '),
        };
  return withReport(
    frames.map((n) => bySource.get(source.get(n)!)!),
    substituted,
    report,
  );
}

interface CliDecoded {
  /** Every frame asked for came out. */
  complete: boolean;
  /** By the CLI's frame number (decoded frames counted from 0). */
  images: Map<number, RgbImage>;
  stderr: string;
  /** Why it is not complete, for the MediaError. */
  failure: string;
}

/** Decodes the CLI's frames `numbers` (distinct, ascending: `n` of ffmpeg's select filter) to rgb24. */
async function cliDecode(
  path: string,
  video: VideoInfo,
  numbers: readonly number[],
  options: FfmpegOptions,
): Promise<CliDecoded> {
  const frameBytes = video.width * video.height * 3;
  const into = { buffer: Buffer.allocUnsafeSlow(numbers.length * frameBytes), filled: 0 };
  // `\,` keeps the commas inside the expression from splitting the filter graph.
  const select = `select=${numbers.map((n) => `eq(n\\,${n})`).join('+')}`;
  const result = await run(
    options.ffmpegPath ?? 'ffmpeg',
    [
      '-v',
      'error',
      '-nostdin',
      '-noautorotate',
      '-threads',
      String(options.threads ?? 1),
      '-i',
      path,
      '-map',
      video.stream !== undefined ? `0:${video.stream}` : '0:v:0',
      '-vf',
      select,
      '-vsync',
      '0',
      '-frames:v',
      String(numbers.length),
      '-f',
      'rawvideo',
      '-pix_fmt',
      'rgb24',
      'pipe:1',
    ],
    `video ${path}`,
    into,
  );
  const complete = result.code === 0 && into.filled === into.buffer.length;
  const decoded = Math.floor(into.filled / frameBytes);
  const detail =
    result.code !== 0
      ? `ffmpeg exit ${result.code}`
      : `decoded ${decoded} of the ${numbers.length} frames needed (up to frame ${numbers.at(-1)})`;
  const images = new Map<number, RgbImage>();
  if (complete)
    numbers.forEach((n, i) =>
      images.set(
        n,
        makeRgbImage(
          video.width,
          video.height,
          new Uint8Array(into.buffer.buffer, into.buffer.byteOffset + i * frameBytes, frameBytes),
        ),
      ),
    );
  return {
    complete,
    images,
    stderr: result.stderr,
    failure:
      `cannot decode the sampled frames (${detail}; the container says ${video.frameCount} frames of ${video.width}x${video.height}): ` +
      `the file is truncated or damaged${result.stderr ? ` (ffmpeg: ${result.stderr})` : ''}`,
  };
}

/**
 * Which frames of the stream decode, and the CLI's number for each: frame k is the packet with the
 * k-th smallest timestamp (one packet per frame, as many as the container counts), and ffprobe's
 * decoded frames are matched to them by timestamp. Null where that cannot be done reliably (packet
 * timestamps missing or shared, a packet count other than the frame count, a frame of no packet).
 */
async function placeDecodedFrames(
  path: string,
  video: VideoInfo,
  options: FfmpegOptions,
): Promise<{ decodedAs: Map<number, number>; reason: string } | null> {
  const ffprobe = options.ffprobePath ?? 'ffprobe';
  const stream = video.stream !== undefined ? String(video.stream) : 'v:0';
  const what = `video ${path}`;
  const numbers = (text: string) => text.trim().split(/\s+/).filter(Boolean).map(Number);
  const packets = await run(
    ffprobe,
    ['-v', 'error', '-select_streams', stream, '-show_entries', 'packet=pts', '-of', 'csv=p=0', path],
    what,
  );
  const packetPts = numbers(packets.stdout.toString('utf8')).sort((a, b) => a - b);
  if (
    packets.code !== 0 ||
    packetPts.length !== video.frameCount ||
    packetPts.some((p, i) => !Number.isFinite(p) || (i > 0 && p === packetPts[i - 1]))
  )
    return null;
  const frameOf = new Map(packetPts.map((p, k) => [p, k]));
  const decodedFrames = await run(
    ffprobe,
    ['-v', 'error', '-select_streams', stream, '-show_entries', 'frame=best_effort_timestamp', '-of', 'csv=p=0', path],
    what,
  );
  const decodedAs = new Map<number, number>();
  for (const [n, pts] of numbers(decodedFrames.stdout.toString('utf8')).entries()) {
    const frame = frameOf.get(pts);
    if (frame === undefined || decodedAs.has(frame)) return null;
    decodedAs.set(frame, n);
  }
  // The first message, without its `[decoder @ address]` prefix.
  const first = (decodedFrames.stderr || packets.stderr).split('\n')[0]!.replace(/^\[[^\]]*\]\s*/, '');
  const reason = first || 'damaged data';
  return { decodedAs, reason };
}

/**
 * The original's video path (`video_list[p - 1]` on a decord reader): sampler indices carry
 * index_bias 1, so frame p is decoded frame p - 1; a negative result counts from the end, as
 * decord's indexing does.
 */
export async function loadVideoClip(
  path: string,
  indices: readonly number[],
  options: FfmpegOptions = {},
): Promise<{ frames: VideoFrames; info: VideoInfo }> {
  const info = await probeVideo(path, options);
  const frames = indices.map((p) => (p - 1 < 0 ? p - 1 + info.frameCount : p - 1));
  return { frames: await readVideoFrames(path, frames, info, options), info };
}

/**
 * Frames per second of the first video stream (`avg_frame_rate`, else `r_frame_rate`, from ffprobe),
 * or null where the container gives none; used to put sampled frames on a time axis.
 */
export async function probeFrameRate(path: string, options: FfmpegOptions = {}): Promise<number | null> {
  if (inProcess && !options.ffprobePath) {
    try {
      const { fps } = inProcess.probeVideoFile(path);
      if (typeof fps === 'number') return fps > 0 ? fps : null;
    } catch {
      return null;
    }
  }
  const probe = await run(
    options.ffprobePath ?? 'ffprobe',
    [
      '-v',
      'error',
      '-select_streams',
      'v:0',
      '-show_entries',
      'stream=avg_frame_rate,r_frame_rate',
      '-of',
      'json',
      path,
    ],
    `video ${path}`,
  );
  if (probe.code !== 0) return null;
  let stream: Record<string, unknown> | undefined;
  try {
    stream = (JSON.parse(probe.stdout.toString('utf8')) as { streams?: Record<string, unknown>[] }).streams?.[0];
  } catch {
    return null;
  }
  for (const key of ['avg_frame_rate', 'r_frame_rate']) {
    const match = /^(\d+)\/(\d+)$/.exec(String(stream?.[key] ?? ''));
    if (match && Number(match[2]) > 0 && Number(match[1]) > 0) return Number(match[1]) / Number(match[2]);
  }
  return null;
}

const IMAGE_SIGNATURES: { name: string; bytes: number[]; offset?: number }[] = [
  { name: 'PNG', bytes: [0x89, 0x50, 0x4e, 0x47] },
  { name: 'JPEG', bytes: [0xff, 0xd8, 0xff] },
  { name: 'GIF', bytes: [0x47, 0x49, 0x46, 0x38] },
  { name: 'BMP', bytes: [0x42, 0x4d] },
  { name: 'WebP', bytes: [0x57, 0x45, 0x42, 0x50], offset: 8 },
];

/** The image format whose signature `head` (a file's first bytes) starts with, or null: a still image is no video. */
export function imageFormatOf(head: Uint8Array): string | null {
  for (const { name, bytes, offset = 0 } of IMAGE_SIGNATURES) {
    if (head.length >= offset + bytes.length && bytes.every((b, i) => head[offset + i] === b)) return name;
  }
  return null;
}
