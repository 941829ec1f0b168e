/**
 * Frames of video files (mp4, webm, avi, mkv, ...), standing in for the original's decord
 * `VideoReader`: the frame count comes from the container (else a packet count), and only the
 * sampled frames are converted to RGB. Decoding runs in process through FFmpeg's libraries when the
 * addon was built with them (seeking to each wanted frame's key frame); otherwise through the
 * command-line tools (Debian's `ffmpeg` package), selecting frames by number with a `select` filter
 * and reading raw rgb24 from a pipe. Like decord, no rotation metadata is applied.
 */
import { spawn } from 'node:child_process';
import { makeRgbImage, type RgbImage } from './rgb-image.ts';
import { native } from '../torch/native.ts';

interface NativeVideo {
  probeVideoFile(path: string): Omit<VideoInfo, 'path'>;
  decodeVideoFrames(path: string, frames: number[]): { width: number; height: number; data: Uint8Array };
}
// The addon links FFmpeg's libraries where their headers were found at build time: the same
// decoders and pixel conversion as the CLI, in process (tens of times faster for short clips), and
// it seeks to each wanted frame's key frame instead of decoding every frame before it.
const inProcess: NativeVideo | null = typeof (native as unknown as Partial<NativeVideo>).decodeVideoFrames === 'function' ? (native as unknown as NativeVideo) : null;

export interface VideoInfo {
  path: string;
  width: number;
  height: number;
  /** Frames in the first video stream. */
  frameCount: number;
  /** Where `frameCount` came from. */
  frameCountSource: 'container' | 'packet count';
  /** Frames per second the container gives (in-process probe only; see `probeFrameRate`). */
  fps?: number;
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
function run(tool: string, args: string[], what: string, into?: { buffer: Buffer; filled: number }): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(tool, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      if (!into) { chunks.push(chunk); return; }
      const room = into.buffer.length - into.filled;
      chunk.copy(into.buffer, into.filled, 0, Math.min(room, chunk.length));
      into.filled += chunk.length; // counts overflow too, so a size mismatch is detected
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-STDERR_LIMIT);
    });
    child.on('error', (error: NodeJS.ErrnoException) => {
      reject(new Error(error.code === 'ENOENT'
        ? `${what}: ${tool} is not installed (install Debian's ffmpeg package)`
        : `${what}: cannot run ${tool}: ${error.message}`));
    });
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(chunks), stderr: stderr.trim() }));
  });
}

function parsePositiveInt(text: unknown): number | null {
  if (typeof text !== 'string' && typeof text !== 'number') return null;
  const n = Number(text);
  return Number.isInteger(n) && n > 0 ? n : null;
}

/** Size and frame count of the first video stream; an unreadable file is an Error naming it. */
export async function probeVideo(path: string, options: FfmpegOptions = {}): Promise<VideoInfo> {
  if (inProcess && !options.ffprobePath) {
    let info: Omit<VideoInfo, 'path'>;
    try {
      info = inProcess.probeVideoFile(path);
    } catch (error) {
      throw new Error(`video ${path}: cannot be read (${(error as Error).message.replace(/^video [^:]*: /, '')})`);
    }
    if (!(info.width > 0 && info.height > 0)) throw new Error(`video ${path}: video stream has no valid size (width ${info.width}, height ${info.height})`);
    if (!(info.frameCount > 0)) throw new Error(`video ${path}: has no video frames`);
    return { path, ...info };
  }
  const ffprobe = options.ffprobePath ?? 'ffprobe';
  const what = `video ${path}`;
  const probe = await run(ffprobe, [
    '-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=width,height,nb_frames', '-of', 'json', path,
  ], what);
  if (probe.code !== 0) throw new Error(`${what}: cannot be read (ffprobe: ${probe.stderr || `exit ${probe.code}`})`);
  let stream: Record<string, unknown> | undefined;
  try {
    stream = (JSON.parse(probe.stdout.toString('utf8')) as { streams?: Record<string, unknown>[] }).streams?.[0];
  } catch {
    throw new Error(`${what}: ffprobe printed something that is not JSON`);
  }
  if (!stream) throw new Error(`${what}: has no video stream`);
  const width = parsePositiveInt(stream.width);
  const height = parsePositiveInt(stream.height);
  if (!width || !height) throw new Error(`${what}: video stream has no valid size (width ${stream.width}, height ${stream.height})`);
  const fromContainer = parsePositiveInt(stream.nb_frames);
  if (fromContainer) return { path, width, height, frameCount: fromContainer, frameCountSource: 'container' };

  // Containers such as webm and mkv do not store a frame count: count the stream's packets.
  const count = await run(ffprobe, [
    '-v', 'error', '-select_streams', 'v:0', '-count_packets', '-show_entries', 'stream=nb_read_packets', '-of', 'csv=p=0', path,
  ], what);
  const packets = parsePositiveInt(count.stdout.toString('utf8').trim().split(/\s+/)[0]);
  if (count.code !== 0 || !packets) {
    throw new Error(`${what}: cannot count its frames (ffprobe: ${count.stderr || `printed "${count.stdout.toString('utf8').trim()}"`})`);
  }
  return { path, width, height, frameCount: packets, frameCountSource: 'packet count' };
}

/**
 * Decodes the frames numbered `frames` (0-based, presentation order, repeats allowed) to RGB;
 * result i is frame `frames[i]`. Missing or undecodable frames are an Error naming the file.
 */
export async function readVideoFrames(path: string, frames: readonly number[], info?: VideoInfo, options: FfmpegOptions = {}): Promise<RgbImage[]> {
  const video = info ?? await probeVideo(path, options);
  const what = `video ${path}`;
  if (frames.length === 0) return [];
  for (const n of frames) {
    if (!Number.isInteger(n) || n < 0 || n >= video.frameCount) {
      throw new Error(`${what}: frame ${n} requested, expected 0..${video.frameCount - 1} (${video.frameCount} frames by ${video.frameCountSource})`);
    }
  }
  const wanted = [...new Set(frames)].sort((a, b) => a - b);
  const frameBytes = video.width * video.height * 3;
  if (inProcess && !options.ffmpegPath) {
    let decoded: { width: number; height: number; data: Uint8Array };
    try {
      decoded = inProcess.decodeVideoFrames(path, wanted);
    } catch (error) {
      throw new Error(`${what}: cannot decode the sampled frames (${(error as Error).message.replace(/^video [^:]*: /, '')}; the container says ${video.frameCount} frames of ${video.width}x${video.height}): the file is truncated or damaged`);
    }
    const size = decoded.width * decoded.height * 3;
    const byNumber = new Map(wanted.map((n, i) => [n, makeRgbImage(decoded.width, decoded.height, decoded.data.subarray(i * size, (i + 1) * size))]));
    return frames.map((n) => byNumber.get(n)!);
  }
  const into = { buffer: Buffer.allocUnsafeSlow(wanted.length * frameBytes), filled: 0 };
  // `\,` keeps the commas inside the expression from splitting the filter graph.
  const select = `select=${wanted.map((n) => `eq(n\\,${n})`).join('+')}`;
  const result = await run(options.ffmpegPath ?? 'ffmpeg', [
    '-v', 'error', '-nostdin', '-noautorotate', '-threads', String(options.threads ?? 1),
    '-i', path, '-map', '0:v:0', '-vf', select, '-vsync', '0', '-frames:v', String(wanted.length),
    '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1',
  ], what, into);
  const decoded = Math.floor(into.filled / frameBytes);
  if (result.code !== 0 || into.filled !== into.buffer.length) {
    const detail = result.code !== 0 ? `ffmpeg exit ${result.code}` : `decoded ${decoded} of the ${wanted.length} frames needed (up to frame ${wanted.at(-1)})`;
    throw new Error(
      `${what}: cannot decode the sampled frames (${detail}; the container says ${video.frameCount} frames of ${video.width}x${video.height}): ` +
      `the file is truncated or damaged${result.stderr ? ` (ffmpeg: ${result.stderr})` : ''}`,
    );
  }
  const images = new Map(wanted.map((n, i) => [n, makeRgbImage(video.width, video.height, new Uint8Array(into.buffer.buffer, into.buffer.byteOffset + i * frameBytes, frameBytes))]));
  return frames.map((n) => images.get(n)!);
}

/**
 * The original's video path (`video_list[p - 1]` on a decord reader): sampler indices carry
 * index_bias 1, so frame p is decoded frame p - 1; a negative result counts from the end, as
 * decord's indexing does.
 */
export async function loadVideoClip(path: string, indices: readonly number[], options: FfmpegOptions = {}): Promise<{ frames: RgbImage[]; info: VideoInfo }> {
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
  const probe = await run(options.ffprobePath ?? 'ffprobe', [
    '-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=avg_frame_rate,r_frame_rate', '-of', 'json', path,
  ], `video ${path}`);
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
