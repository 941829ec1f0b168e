import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadVideoClip, probeVideo, readVideoFrames } from './video-decoder.ts';
import { native } from '../torch/native.ts';

function hasFfmpeg(): boolean {
  try {
    execFileSync('ffmpeg', ['-version'], { stdio: 'ignore' });
    execFileSync('ffprobe', ['-version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const skip = hasFfmpeg() ? false : 'ffmpeg/ffprobe not installed (scripts/setup.sh installs Debian\'s ffmpeg)';

/**
 * A 32x24, 25 fps test video whose red channel is 5 * frame number (lavfi + geq), encoded with the
 * mpeg4 encoder that every FFmpeg build has. `extraArgs` e.g. moves the index to the front.
 */
function makeVideo(dir: string, name: string, seconds: number, extraArgs: string[] = []): string {
  const file = path.join(dir, name);
  execFileSync('ffmpeg', [
    '-v', 'error', '-y', '-f', 'lavfi', '-i', `color=c=black:s=32x24:r=25:d=${seconds},format=gbrp,geq=r='N*5':g='128':b='64'`,
    '-c:v', 'mpeg4', '-q:v', '2', '-pix_fmt', 'yuv420p', ...extraArgs, file,
  ]);
  return file;
}

/** Frame number read back from the red channel (5 per frame; lossy coding moves it a level or two). */
const frameNumberOf = (img: { data: Uint8Array }) => Math.round(img.data[(12 * 32 + 16) * 3]! / 5);

test('mp4: frame count from the container, sampled frames in request order', { skip }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'bike-video-'));
  try {
    const file = makeVideo(dir, 'clip.mp4', 2);
    const info = await probeVideo(file);
    assert.deepEqual(info, { path: file, width: 32, height: 24, frameCount: 50, frameCountSource: 'container' });
    const frames = await readVideoFrames(file, [10, 3, 10, 49, 0], info);
    assert.deepEqual(frames.map(frameNumberOf), [10, 3, 10, 49, 0]);
    assert.equal(frames[0], frames[2], 'a repeated frame is decoded once');
    assert.equal(frames[0]!.data.length, 32 * 24 * 3);
    // The original indexes decord with p - 1 (sampler indices carry index_bias 1).
    const clip = await loadVideoClip(file, [1, 26, 50]);
    assert.deepEqual(clip.frames.map(frameNumberOf), [0, 25, 49]);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('mkv: no stored frame count, so packets are counted', { skip }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'bike-video-'));
  try {
    const file = makeVideo(dir, 'clip.mkv', 1);
    const info = await probeVideo(file);
    assert.equal(info.frameCount, 25);
    assert.equal(info.frameCountSource, 'packet count');
    assert.deepEqual((await readVideoFrames(file, [24, 7], info)).map(frameNumberOf), [24, 7]);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('truncated or unreadable videos are Errors naming the file', { skip }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'bike-video-'));
  try {
    // Index at the end (ffmpeg's default): cutting the file loses it entirely.
    const whole = readFileSync(makeVideo(dir, 'clip.mp4', 2));
    const cut = path.join(dir, 'cut.mp4');
    writeFileSync(cut, whole.subarray(0, whole.length >> 1));
    await assert.rejects(loadVideoClip(cut, [1, 2]), (e: Error) => e.message.startsWith(`video ${cut}: cannot be read`));

    // Index at the front: the container still says 50 frames, but the late ones are gone.
    const front = readFileSync(makeVideo(dir, 'front.mp4', 2, ['-movflags', '+faststart']));
    const cutFront = path.join(dir, 'cut-front.mp4');
    writeFileSync(cutFront, front.subarray(0, Math.floor(front.length * 0.6)));
    await assert.rejects(loadVideoClip(cutFront, [1, 20, 46]), (e: Error) =>
      e.message.startsWith(`video ${cutFront}: cannot decode the sampled frames`) && /truncated or damaged/.test(e.message));

    const missing = path.join(dir, 'missing.mp4');
    await assert.rejects(probeVideo(missing), (e: Error) => e.message.startsWith(`video ${missing}: cannot be read`));
    const notVideo = path.join(dir, 'text.mp4');
    writeFileSync(notVideo, 'hello');
    await assert.rejects(probeVideo(notVideo), (e: Error) => e.message.startsWith(`video ${notVideo}:`));
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('frame numbers outside the video are refused before decoding', { skip }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'bike-video-'));
  try {
    const file = makeVideo(dir, 'clip.mp4', 1);
    await assert.rejects(readVideoFrames(file, [3, 25]), /frame 25 requested, expected 0\.\.24 \(25 frames by container\)/);
    await assert.rejects(readVideoFrames(file, [-1]), /frame -1 requested/);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('widths that are not a multiple of the SIMD width decode without touching memory past the frame', { skip }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'bike-video-'));
  try {
    // 427x320 is Kinetics' usual short-side-320 size; swscale writes whole vectors past each row.
    const file = path.join(dir, 'odd.mp4');
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=size=427x320:rate=25:duration=1', '-c:v', 'mpeg4', '-q:v', '4', file]);
    const frames = [0, 3, 9, 24];
    const inProcess = await readVideoFrames(file, frames);
    const cli = await readVideoFrames(file, frames, undefined, { ffmpegPath: 'ffmpeg' });
    inProcess.forEach((image, i) => assert.deepEqual(image.data, cli[i]!.data, `frame ${frames[i]} equals the ffmpeg CLI's`));
    // glibc's checks turn a heap overrun into an abort; a child process keeps it from taking the runner down.
    const script = path.join(dir, 'decode.mts');
    writeFileSync(script, `import { readVideoFrames } from ${JSON.stringify(path.resolve('src/data/video-decoder.ts'))};\n` +
      `for (let i = 0; i < 60; i++) await readVideoFrames(${JSON.stringify(file)}, [i % 25, 24]);\nconsole.log('decoded');\n`);
    const out = execFileSync(process.execPath, ['--import', 'tsx', script], { env: { ...process.env, MALLOC_CHECK_: '3' }, encoding: 'utf8' });
    assert.match(out, /decoded/);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('far-apart frames are reached by seeking to their key frames, with the pixels of decoding from the start', { skip }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'bike-video-'));
  try {
    const source = 'testsrc2=size=64x48:rate=25:duration=10';
    const videos: [string, string[]][] = [
      ['b-frames.mp4', ['-c:v', 'libx264', '-g', '12', '-bf', '3', '-pix_fmt', 'yuv420p']],
      ['open-gop.mp4', ['-c:v', 'libx264', '-g', '25', '-bf', '2', '-x264-params', 'open-gop=1', '-pix_fmt', 'yuv420p']],
      ['b-frames.mkv', ['-c:v', 'libx264', '-g', '20', '-bf', '2', '-pix_fmt', 'yuv420p']],
      ['vp8.webm', ['-c:v', 'libvpx', '-g', '15', '-b:v', '300k']],
      ['no-pts.avi', ['-c:v', 'mpeg4', '-g', '10', '-bf', '2']],
    ];
    const decodeFrames = native.decodeVideoFrames!;
    for (const [name, args] of videos) {
      const file = path.join(dir, name);
      execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', source, ...args, file]);
      const info = await probeVideo(file);
      assert.equal(info.frameCount, 250, name);
      for (const frames of [[3, 120, 121, 240], [0, 249], [7, 30, 64, 100, 133, 170, 201, 230]]) {
        const ours = await readVideoFrames(file, frames, info);
        const cli = await readVideoFrames(file, frames, info, { ffmpegPath: 'ffmpeg' });
        ours.forEach((image, i) => assert.deepEqual(image.data, cli[i]!.data, `${name} frame ${frames[i]}`));
      }
      const { decodedFrames } = decodeFrames(file, [3, 240]);
      // From the start it takes 241 frames; AVI stores no presentation times, so it decodes from the start.
      if (name.endsWith('.avi')) assert.ok(decodedFrames >= 241, `${name}: ${decodedFrames}`);
      else assert.ok(decodedFrames < 100, `${name}: ${decodedFrames} frames decoded for frames 3 and 240`);
    }
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('an mp4 cut without re-encoding counts only the frames its edit list shows', { skip }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'bike-video-'));
  try {
    const whole = path.join(dir, 'whole.mp4'), cut = path.join(dir, 'cut.mp4');
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=64x48:rate=25:duration=8', '-c:v', 'libx264', '-g', '50', '-bf', '3', '-pix_fmt', 'yuv420p', whole]);
    // Starting between key frames: the stored frames from the key frame before are hidden by an edit list.
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-ss', '1.3', '-i', whole, '-c', 'copy', '-t', '4', cut]);
    const shown = Number(execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', cut], { encoding: 'utf8' }).trim());
    const info = await probeVideo(cut);
    assert.equal(info.frameCount, shown, 'frames a decoder outputs');
    const frames = [0, shown >> 1, shown - 1];
    const ours = await readVideoFrames(cut, frames, info);
    const cli = await readVideoFrames(cut, frames, info, { ffmpegPath: 'ffmpeg' });
    ours.forEach((image, i) => assert.deepEqual(image.data, cli[i]!.data, `frame ${frames[i]}`));
  } finally { rmSync(dir, { recursive: true, force: true }); }
});
