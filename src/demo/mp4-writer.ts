/**
 * Writes many short videos as mp4 files with one FFmpeg process: the raw RGB frames of every video go
 * through its standard input back to back, each video starts on a key frame, and the segment muxer
 * cuts the stream at exactly those frames into one file per video (MPEG-4 Part 2, yuv420p).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';

export interface Mp4StreamOptions {
  width: number;
  height: number;
  /** Frames of every video (all the same count). */
  frames: number;
  fps: number;
  /** Output files, one per video, in the order the videos are added. */
  outputs: string[];
  /** The FFmpeg program (default BIKE_FFMPEG or `ffmpeg`). */
  ffmpeg?: string;
}

function waitForDrain(stream: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve) => stream.once('drain', () => resolve()));
}

/** One FFmpeg process that turns the videos added to it, in order, into the output files. */
export class Mp4SegmentWriter {
  private readonly child: ChildProcess;
  private readonly exited: Promise<number | null>;
  private readonly staging: string;
  private readonly ffmpeg: string;
  private stderr = '';
  private broken: Error | null = null;
  private added = 0;

  constructor(private readonly options: Mp4StreamOptions) {
    const { width, height, frames, fps, outputs } = options;
    if (outputs.length === 0) throw new Error('Mp4SegmentWriter: no output files');
    this.ffmpeg = options.ffmpeg ?? process.env.BIKE_FFMPEG ?? 'ffmpeg';
    this.staging = path.join(path.dirname(outputs[0]!), `.mp4-segments-${process.pid}`);
    rmSync(this.staging, { recursive: true, force: true });
    mkdirSync(this.staging, { recursive: true });
    const cuts = outputs
      .slice(1)
      .map((_, i) => (i + 1) * frames)
      .join(',');
    const args = [
      '-v',
      'error',
      '-y',
      '-f',
      'rawvideo',
      '-pix_fmt',
      'rgb24',
      '-s',
      `${width}x${height}`,
      '-r',
      String(fps),
      '-i',
      '-',
      '-c:v',
      'mpeg4',
      '-q:v',
      '2',
      '-pix_fmt',
      'yuv420p',
      '-g',
      String(frames),
      '-force_key_frames',
      `expr:eq(mod(n,${frames}),0)`,
      '-f',
      'segment',
      '-segment_format',
      'mp4',
      '-reset_timestamps',
      '1',
      ...(cuts ? ['-segment_frames', cuts] : []),
      path.join(this.staging, 'v%06d.mp4'),
    ];
    this.child = spawn(this.ffmpeg, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    this.child.stderr!.on('data', (d: Buffer) => {
      this.stderr += d.toString();
    });
    this.child.stdin!.on('error', (error) => {
      this.broken = error;
    });
    this.exited = new Promise((resolve) => {
      this.child.on('error', (error) => {
        this.broken = new Error(`cannot run ${this.ffmpeg} (${error.message}); install FFmpeg (scripts/setup.sh does)`);
        resolve(null);
      });
      this.child.on('close', (code) => resolve(code));
    });
  }

  /** Appends the next video: `frames * width * height * 3` bytes of RGB. */
  async add(pixels: Uint8Array): Promise<void> {
    const { width, height, frames, outputs } = this.options;
    const index = this.added;
    if (index >= outputs.length)
      throw new Error(`Mp4SegmentWriter: more videos than the ${outputs.length} output files`);
    if (pixels.length !== frames * width * height * 3) {
      throw new Error(
        `Mp4SegmentWriter: video ${index} (${outputs[index]}) has ${pixels.length} bytes, expected ${frames} frames of ${width}x${height} RGB (${frames * width * height * 3})`,
      );
    }
    this.added++;
    if (this.broken) return;
    if (!this.child.stdin!.write(pixels)) await waitForDrain(this.child.stdin!);
  }

  /** Closes the stream, waits for FFmpeg and moves each segment to its output file. */
  async finish(): Promise<void> {
    const { outputs } = this.options;
    this.child.stdin!.end();
    const code = await this.exited;
    const where = path.dirname(outputs[0]!);
    if (code !== 0 || this.broken) {
      throw new Error(
        `${this.ffmpeg} failed writing the demo videos under ${where} (exit ${code}): ${this.stderr.trim() || this.broken?.message || 'no message'}`,
      );
    }
    if (this.added !== outputs.length)
      throw new Error(`Mp4SegmentWriter: ${this.added} videos added for ${outputs.length} output files under ${where}`);
    outputs.forEach((out, i) => {
      mkdirSync(path.dirname(out), { recursive: true });
      try {
        renameSync(path.join(this.staging, `v${String(i).padStart(6, '0')}.mp4`), out);
      } catch (error) {
        throw new Error(
          `${this.ffmpeg} made fewer segments than the ${outputs.length} videos asked for (no segment ${i} for ${out}): ${(error as Error).message}`,
        );
      }
    });
    rmSync(this.staging, { recursive: true, force: true });
  }

  /** Stops FFmpeg without writing anything (after an error elsewhere). */
  abort(): void {
    this.child.kill();
    rmSync(this.staging, { recursive: true, force: true });
  }
}
