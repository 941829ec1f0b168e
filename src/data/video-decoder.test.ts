import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadVideoClip, probeVideo, readVideoFrames } from './video-decoder.ts';
import { MediaError } from './media-error.ts';
import { DEFAULT_MEDIA_LIMITS, setMediaLimits } from './media-limits.ts';
import { native } from '../torch/native.ts';
import { damageMjpegFrames, encodeMjpeg, encodeTestVideo } from '../testing/damaged-video.ts';

function hasFfmpeg(): boolean {
  try {
    execFileSync('ffmpeg', ['-version'], { stdio: 'ignore' });
    execFileSync('ffprobe', ['-version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const skip = hasFfmpeg() ? false : "ffmpeg/ffprobe not installed (scripts/setup.sh installs Debian's ffmpeg)";

/** The shared test video (src/testing/damaged-video.ts) written to `dir/name`. */
function makeVideo(dir: string, name: string, seconds: number, extraArgs: string[] = []): string {
  return encodeTestVideo(path.join(dir, name), { seconds, extraArgs });
}

/** Frame number read back from the red channel (5 per frame; lossy coding moves it a level or two). */
const frameNumberOf = (img: { data: Uint8Array }) => Math.round(img.data[(12 * 32 + 16) * 3]! / 5);

test('mp4: frame count from the container, sampled frames in request order', { skip }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'bike-video-'));
  try {
    const file = makeVideo(dir, 'clip.mp4', 2);
    const info = await probeVideo(file);
    assert.deepEqual(info, {
      path: file,
      width: 32,
      height: 24,
      frameCount: 50,
      frameCountSource: 'container',
      stream: 0,
      fps: 25,
    });
    const frames = await readVideoFrames(file, [10, 3, 10, 49, 0], info);
    assert.deepEqual(frames.map(frameNumberOf), [10, 3, 10, 49, 0]);
    assert.equal(frames[0], frames[2], 'a repeated frame is decoded once');
    assert.equal(frames[0]!.data.length, 32 * 24 * 3);
    // The original indexes decord with p - 1 (sampler indices carry index_bias 1).
    const clip = await loadVideoClip(file, [1, 26, 50]);
    assert.deepEqual(clip.frames.map(frameNumberOf), [0, 25, 49]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('mkv: no stored frame count, so packets are counted', { skip }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'bike-video-'));
  try {
    const file = makeVideo(dir, 'clip.mkv', 1);
    const info = await probeVideo(file);
    assert.equal(info.frameCount, 25);
    assert.equal(info.frameCountSource, 'packet count');
    assert.deepEqual((await readVideoFrames(file, [24, 7], info)).map(frameNumberOf), [24, 7]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('truncated or unreadable videos are Errors naming the file', { skip }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'bike-video-'));
  try {
    // Index at the end (ffmpeg's default): cutting the file loses it entirely.
    const whole = readFileSync(makeVideo(dir, 'clip.mp4', 2));
    const cut = path.join(dir, 'cut.mp4');
    writeFileSync(cut, whole.subarray(0, whole.length >> 1));
    await assert.rejects(loadVideoClip(cut, [1, 2]), (e: Error) =>
      e.message.startsWith(`video ${cut}: cannot be read`),
    );

    // Index at the front: the container still says 50 frames, but the late ones are gone.
    const front = readFileSync(makeVideo(dir, 'front.mp4', 2, ['-movflags', '+faststart']));
    const cutFront = path.join(dir, 'cut-front.mp4');
    writeFileSync(cutFront, front.subarray(0, Math.floor(front.length * 0.6)));
    await assert.rejects(
      loadVideoClip(cutFront, [1, 20, 46]),
      (e: Error) =>
        e.message.startsWith(`video ${cutFront}: cannot decode the sampled frames`) &&
        /truncated or damaged/.test(e.message),
    );

    const missing = path.join(dir, 'missing.mp4');
    await assert.rejects(probeVideo(missing), (e: Error) => e.message.startsWith(`video ${missing}: cannot be read`));
    const notVideo = path.join(dir, 'text.mp4');
    writeFileSync(notVideo, 'hello');
    await assert.rejects(probeVideo(notVideo), (e: Error) => e.message.startsWith(`video ${notVideo}:`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('frame numbers outside the video are refused before decoding', { skip }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'bike-video-'));
  try {
    const file = makeVideo(dir, 'clip.mp4', 1);
    await assert.rejects(
      readVideoFrames(file, [3, 25]),
      /frame 25 requested, expected 0\.\.24 \(25 frames by container\)/,
    );
    await assert.rejects(readVideoFrames(file, [-1]), /frame -1 requested/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test(
  'widths that are not a multiple of the SIMD width decode without touching memory past the frame',
  { skip },
  async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bike-video-'));
    try {
      // 427x320 is Kinetics' usual short-side-320 size; swscale writes whole vectors past each row.
      const file = path.join(dir, 'odd.mp4');
      execFileSync('ffmpeg', [
        '-v',
        'error',
        '-y',
        '-f',
        'lavfi',
        '-i',
        'testsrc=size=427x320:rate=25:duration=1',
        '-c:v',
        'mpeg4',
        '-q:v',
        '4',
        file,
      ]);
      const frames = [0, 3, 9, 24];
      const inProcess = await readVideoFrames(file, frames);
      const cli = await readVideoFrames(file, frames, undefined, { ffmpegPath: 'ffmpeg' });
      inProcess.forEach((image, i) =>
        assert.deepEqual(image.data, cli[i]!.data, `frame ${frames[i]} equals the ffmpeg CLI's`),
      );
      // glibc's checks turn a heap overrun into an abort; a child process keeps it from taking the runner down.
      const script = path.join(dir, 'decode.mts');
      writeFileSync(
        script,
        `import { readVideoFrames } from ${JSON.stringify(path.resolve('src/data/video-decoder.ts'))};\n` +
          `for (let i = 0; i < 60; i++) await readVideoFrames(${JSON.stringify(file)}, [i % 25, 24]);\nconsole.log('decoded');\n`,
      );
      const out = execFileSync(process.execPath, ['--import', 'tsx', script], {
        env: { ...process.env, MALLOC_CHECK_: '3' },
        encoding: 'utf8',
      });
      assert.match(out, /decoded/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test(
  'far-apart frames are reached by seeking to their key frames, with the pixels of decoding from the start',
  { skip },
  async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bike-video-'));
    try {
      const source = 'testsrc2=size=64x48:rate=25:duration=10';
      const videos: [string, string[]][] = [
        ['b-frames.mp4', ['-c:v', 'libx264', '-g', '12', '-bf', '3', '-pix_fmt', 'yuv420p']],
        [
          'open-gop.mp4',
          ['-c:v', 'libx264', '-g', '25', '-bf', '2', '-x264-params', 'open-gop=1', '-pix_fmt', 'yuv420p'],
        ],
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
        for (const frames of [
          [3, 120, 121, 240],
          [0, 249],
          [7, 30, 64, 100, 133, 170, 201, 230],
        ]) {
          const ours = await readVideoFrames(file, frames, info);
          const cli = await readVideoFrames(file, frames, info, { ffmpegPath: 'ffmpeg' });
          ours.forEach((image, i) => assert.deepEqual(image.data, cli[i]!.data, `${name} frame ${frames[i]}`));
        }
        const { decodedFrames } = decodeFrames(file, [3, 240]);
        // From the start it takes 241 frames; AVI stores no presentation times, so it decodes from the start.
        if (name.endsWith('.avi')) assert.ok(decodedFrames >= 241, `${name}: ${decodedFrames}`);
        else assert.ok(decodedFrames < 100, `${name}: ${decodedFrames} frames decoded for frames 3 and 240`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test('an mp4 cut without re-encoding counts only the frames its edit list shows', { skip }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'bike-video-'));
  try {
    const whole = path.join(dir, 'whole.mp4'),
      cut = path.join(dir, 'cut.mp4');
    execFileSync('ffmpeg', [
      '-v',
      'error',
      '-y',
      '-f',
      'lavfi',
      '-i',
      'testsrc2=size=64x48:rate=25:duration=8',
      '-c:v',
      'libx264',
      '-g',
      '50',
      '-bf',
      '3',
      '-pix_fmt',
      'yuv420p',
      whole,
    ]);
    // Starting between key frames: the stored frames from the key frame before are hidden by an edit list.
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-ss', '1.3', '-i', whole, '-c', 'copy', '-t', '4', cut]);
    const shown = Number(
      execFileSync(
        'ffprobe',
        [
          '-v',
          'error',
          '-count_frames',
          '-select_streams',
          'v:0',
          '-show_entries',
          'stream=nb_read_frames',
          '-of',
          'csv=p=0',
          cut,
        ],
        { encoding: 'utf8' },
      ).trim(),
    );
    const info = await probeVideo(cut);
    assert.equal(info.frameCount, shown, 'frames a decoder outputs');
    const frames = [0, shown >> 1, shown - 1];
    const ours = await readVideoFrames(cut, frames, info);
    const cli = await readVideoFrames(cut, frames, info, { ffmpegPath: 'ffmpeg' });
    ours.forEach((image, i) => assert.deepEqual(image.data, cli[i]!.data, `frame ${frames[i]}`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** The rgb24 bytes of frames `frames` of `file`'s stream `stream` (default: the CLI's own choice), by the ffmpeg CLI. */
function cliFrames(file: string, frames: number[], stream?: number): Buffer[] {
  const select = `select=${frames.map((n) => `eq(n\\,${n})`).join('+')}`;
  const out = execFileSync(
    'ffmpeg',
    [
      '-v',
      'quiet',
      '-nostdin',
      '-threads',
      '1',
      '-i',
      file,
      ...(stream === undefined ? [] : ['-map', `0:${stream}`]),
      '-vf',
      select,
      '-vsync',
      '0',
      '-f',
      'rawvideo',
      '-pix_fmt',
      'rgb24',
      'pipe:1',
    ],
    { maxBuffer: 1 << 26 },
  );
  const size = out.length / frames.length;
  return frames.map((_, i) => out.subarray(i * size, (i + 1) * size));
}

test(
  "a frame whose packet is damaged gets the nearest decodable frame, reported; the others are FFmpeg's pixels",
  { skip },
  async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bike-video-'));
    try {
      // Timestamps address the frames (seeking), except in the last file: pairs of frames share one,
      // so it decodes from the start, counting frames (a lost Motion-JPEG packet is one lost frame).
      for (const name of ['mjpeg.mp4', 'mjpeg.avi', 'mjpeg.mkv', 'mjpeg-shared-timestamps.mkv']) {
        const clean = path.join(dir, `clean-${name}`),
          broken = path.join(dir, name);
        const encoded = encodeMjpeg(name.includes('shared') ? path.join(dir, 'encoded.mkv') : clean);
        if (encoded !== clean)
          execFileSync('ffmpeg', [
            '-v',
            'error',
            '-y',
            '-i',
            encoded,
            '-c',
            'copy',
            '-bsf:v',
            'setts=ts=floor(N/2)*80',
            clean,
          ]);
        // Frames 0 and 7 lose their pictures: the packets keep their size, the JPEG in them is zeroed.
        assert.equal(damageMjpegFrames(clean, broken, [0, 7]), 50, name);
        // FFmpeg decodes all frames but those two.
        const decodable = Number(
          execFileSync(
            'ffprobe',
            [
              '-v',
              'quiet',
              '-count_frames',
              '-select_streams',
              'v:0',
              '-show_entries',
              'stream=nb_read_frames',
              '-of',
              'csv=p=0',
              broken,
            ],
            { encoding: 'utf8' },
          ).trim(),
        );
        assert.equal(decodable, 48, `${name}: ffprobe decodes 48 of 50`);
        const info = await probeVideo(broken);
        assert.equal(info.frameCount, 50, `${name}: the stream's frames, as the container (or its packets) count them`);
        const asked = [0, 6, 7, 8, 30];
        const frames = await readVideoFrames(broken, asked, info);
        assert.deepEqual(
          frames.substituted,
          [
            { frame: 0, from: 1 },
            { frame: 7, from: 6 },
          ],
          name,
        );
        assert.match(
          frames.warning!,
          new RegExp(
            `^video ${broken.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: 2 of the 5 sampled frames did not decode .*frame 0 <- 1, frame 7 <- 6$`,
          ),
        );
        // Intra-only frames do not depend on each other: the decodable ones are the clean file's pixels.
        const want = cliFrames(clean, [1, 6, 8, 30]);
        const expected = [want[0], want[1], want[1], want[2], want[3]];
        frames.forEach((image, i) =>
          assert.ok(Buffer.from(image.data).equals(expected[i]!), `${name} frame ${asked[i]}`),
        );
        // The CLI fallback places the frames that decode by their timestamps: the same frames and
        // pixels; where timestamps are shared it cannot, and refuses the file by name.
        const viaCli = await probeVideo(broken, { ffprobePath: 'ffprobe' });
        if (name.includes('shared')) {
          await assert.rejects(
            readVideoFrames(broken, asked, viaCli, { ffmpegPath: 'ffmpeg' }),
            (e: Error) => e instanceof MediaError && e.message.includes(broken) && /damaged|place/.test(e.message),
          );
        } else {
          const cli = await readVideoFrames(broken, asked, viaCli, { ffmpegPath: 'ffmpeg' });
          assert.deepEqual(cli.substituted, frames.substituted, `${name}: CLI fallback`);
          assert.match(cli.warning!, /2 of the 5 sampled frames did not decode \(No JPEG data found in image\)/);
          cli.forEach((image, i) =>
            assert.ok(Buffer.from(image.data).equals(expected[i]!), `${name} frame ${asked[i]} (CLI fallback)`),
          );
          const intact = await readVideoFrames(clean, asked, undefined, {
            ffmpegPath: 'ffmpeg',
            ffprobePath: 'ffprobe',
          });
          assert.deepEqual(intact.substituted, []);
        }
        // An intact file reports nothing.
        assert.deepEqual((await readVideoFrames(clean, asked)).substituted, []);
        const { decodedFrames } = native.decodeVideoFrames!(broken, asked);
        if (name.includes('shared'))
          assert.ok(decodedFrames >= 31, `${name}: decoded from the start (${decodedFrames} frames)`);
        else assert.ok(decodedFrames < 31, `${name}: seeks (${decodedFrames} frames decoded)`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test(
  "an MPEG-4 video with one damaged packet: FFmpeg's pixels for every frame that decodes, the nearest for the one that does not",
  { skip },
  async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bike-video-'));
    try {
      const clean = path.join(dir, 'clean.mp4'),
        broken = path.join(dir, 'broken.mp4');
      execFileSync('ffmpeg', [
        '-v',
        'error',
        '-y',
        '-f',
        'lavfi',
        '-i',
        'testsrc2=size=64x48:rate=25:duration=2',
        '-c:v',
        'mpeg4',
        '-g',
        '10',
        '-bf',
        '2',
        clean,
      ]);
      // The 21st packet in decode order (a P picture) is zeroed in place.
      const csv = execFileSync(
        'ffprobe',
        ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=size,pos', '-of', 'csv=p=0', clean],
        { encoding: 'utf8' },
      );
      const [size, pos] = csv.trim().split('\n')[20]!.split(',').map(Number);
      const bytes = readFileSync(clean);
      bytes.fill(0, pos!, pos! + size!);
      writeFileSync(broken, bytes);
      const decodable = Number(
        execFileSync(
          'ffprobe',
          [
            '-v',
            'quiet',
            '-count_frames',
            '-select_streams',
            'v:0',
            '-show_entries',
            'stream=nb_read_frames',
            '-of',
            'csv=p=0',
            broken,
          ],
          { encoding: 'utf8' },
        ).trim(),
      );
      assert.equal(decodable, 49, 'FFmpeg decodes all frames but one');
      const info = await probeVideo(broken);
      assert.equal(info.frameCount, 50);
      const all = [...Array(50).keys()];
      const ours = await readVideoFrames(broken, all, info);
      assert.equal(ours.substituted.length, 1);
      const { frame: lost, from } = ours.substituted[0]!;
      assert.equal(from, lost - 1, 'the frame before it (nearest; the earlier on a tie)');
      // The CLI's n counts decoded frames: after the lost one, its frame n is our frame n + 1.
      const cli = cliFrames(broken, all.slice(0, 49));
      for (const n of all) {
        const want = n < lost ? cli[n] : n === lost ? cli[lost - 1] : cli[n - 1];
        assert.ok(Buffer.from(ours[n]!.data).equals(want!), `frame ${n}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test(
  'two video streams: the frame count and the frames come from the stream av_find_best_stream (and the ffmpeg CLI) picks',
  { skip },
  async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bike-video-'));
    try {
      const file = path.join(dir, 'two-streams.mp4');
      // Stream 0: a small thumbnail track; stream 1: the real video (larger, more frames, higher bit rate).
      execFileSync('ffmpeg', [
        '-v',
        'error',
        '-y',
        '-f',
        'lavfi',
        '-i',
        'testsrc=size=32x24:rate=25:duration=1',
        '-f',
        'lavfi',
        '-i',
        'testsrc2=size=64x48:rate=25:duration=1.6',
        '-map',
        '0:v',
        '-map',
        '1:v',
        '-c:v',
        'mpeg4',
        '-q:v',
        '2',
        '-disposition:v:0',
        '0',
        '-disposition:v:1',
        'default',
        file,
      ]);
      const info = await probeVideo(file);
      assert.deepEqual(
        { width: info.width, height: info.height, frameCount: info.frameCount, stream: info.stream },
        { width: 64, height: 48, frameCount: 40, stream: 1 },
      );
      const viaCli = await probeVideo(file, { ffprobePath: 'ffprobe' });
      // The frame rate comes from the in-process probe only (the fallback reads it with probeFrameRate).
      const { fps: _fps, ...probed } = info;
      assert.deepEqual(viaCli, { ...probed, path: file }, 'the ffprobe fallback picks the same stream');
      const asked = [0, 17, 39];
      const ours = await readVideoFrames(file, asked, info);
      const cli = cliFrames(file, asked); // no -map: the CLI's own pick
      ours.forEach((image, i) =>
        assert.ok(Buffer.from(image.data).equals(cli[i]!), `frame ${asked[i]} equals the ffmpeg CLI's`),
      );
      const fallback = await readVideoFrames(file, asked, viaCli, { ffmpegPath: 'ffmpeg' });
      fallback.forEach((image, i) =>
        assert.ok(Buffer.from(image.data).equals(cli[i]!), `CLI fallback frame ${asked[i]}`),
      );
      // Frame 39 exists only in the chosen stream: reading the other one would fail.
      assert.equal(ours.length, 3);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

/** A 16x16 Motion-JPEG mp4 whose sample entry, track header and frame headers all claim width x height. */
function videoClaiming(dir: string, width: number, height: number): string {
  const small = path.join(dir, 'small.mp4');
  execFileSync('ffmpeg', [
    '-v',
    'error',
    '-y',
    '-f',
    'lavfi',
    '-i',
    'color=c=gray:s=16x16:r=25:d=0.2',
    '-c:v',
    'mjpeg',
    '-pix_fmt',
    'yuvj420p',
    small,
  ]);
  const bytes = readFileSync(small);
  const entry = bytes.indexOf(Buffer.from('stsd')) + 12; // the stsd's one visual sample entry ('mp4v')
  assert.equal(bytes.toString('latin1', entry + 4, entry + 8), 'mp4v');
  assert.ok(entry > 0);
  bytes.writeUInt16BE(width, entry + 32);
  bytes.writeUInt16BE(height, entry + 34);
  const tkhd = bytes.indexOf(Buffer.from('tkhd')) - 4;
  const tkhdEnd = tkhd + bytes.readUInt32BE(tkhd);
  bytes.writeUInt32BE(width * 65536, tkhdEnd - 8);
  bytes.writeUInt32BE(height * 65536, tkhdEnd - 4);
  for (
    let at = bytes.indexOf(Buffer.from([0xff, 0xc0]));
    at >= 0;
    at = bytes.indexOf(Buffer.from([0xff, 0xc0]), at + 2)
  ) {
    bytes.writeUInt16BE(height, at + 5);
    bytes.writeUInt16BE(width, at + 7);
  }
  const out = path.join(dir, `claims-${width}x${height}.mp4`);
  writeFileSync(out, bytes);
  return out;
}

test(
  'pixel limit: a video of 16000x16000 frames is refused from its header, in a child process with no native abort',
  { skip },
  async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bike-video-'));
    try {
      const big = videoClaiming(dir, 16000, 16000);
      const script = path.join(dir, 'decode.mts');
      writeFileSync(
        script,
        `import { probeVideo, readVideoFrames } from ${JSON.stringify(path.resolve('src/data/video-decoder.ts'))};
import { native } from ${JSON.stringify(path.resolve('src/torch/native.ts'))};
const file = ${JSON.stringify(big)};
await probeVideo(file).then(() => console.log('probed'), (e) => console.log('probe: ' + e.name + ': ' + e.message));
// As if the probe had let it through: the decoder refuses it before allocating.
await readVideoFrames(file, [0, 1, 2, 3], { path: file, width: 16000, height: 16000, frameCount: 5, frameCountSource: 'container' })
  .then(() => console.log('decoded'), (e) => console.log('read: ' + e.name + ': ' + e.message));
try { native.decodeVideoFrames(file, [0, 1, 2, 3]); console.log('decoded'); } catch (e) { console.log('native: ' + e.message); }
console.log('maxrss', process.resourceUsage().maxRSS);
`,
      );
      const child = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', timeout: 120_000 });
      assert.equal(child.signal, null, `no signal death: ${child.stderr}`);
      assert.equal(child.status, 0, child.stderr);
      const [probe, read, nativeLine, rss] = child.stdout.trim().split('\n');
      const limit = `above the limit of ${DEFAULT_MEDIA_LIMITS.maxPixels} (BIKE_MAX_PIXELS)`;
      assert.equal(
        probe,
        `probe: MediaError: video ${big}: too large: frames of 16000x16000 are 256000000 pixels, ${limit}`,
      );
      assert.equal(
        read,
        `read: MediaError: video ${big}: too large: frames of 16000x16000 are 256000000 pixels, ${limit}`,
      );
      assert.equal(nativeLine, `native: video ${big}: too large: frames of 16000x16000 are 256000000 pixels, ${limit}`);
      assert.ok(Number(rss!.split(' ')[1]) < 1024 * 1024, rss);

      // The frames of one read are bounded together, by a second setting.
      const file = makeVideo(dir, 'clip.mp4', 1);
      setMediaLimits({ maxVideoPixels: 32 * 24 * 4 });
      try {
        assert.equal((await readVideoFrames(file, [0, 1, 2, 3])).length, 4);
        await assert.rejects(
          readVideoFrames(file, [0, 1, 2, 3, 4]),
          (e: unknown) =>
            e instanceof MediaError &&
            e.file === file &&
            e.reason ===
              'too large: 5 frames of 32x24 are 3840 pixels, above the limit of 3072 for one read (BIKE_MAX_VIDEO_PIXELS)',
        );
        setMediaLimits({ maxPixels: 700 });
        await assert.rejects(
          probeVideo(file),
          /clip\.mp4: too large: frames of 32x24 are 768 pixels, above the limit of 700/,
        );
        await assert.rejects(
          probeVideo(file, { ffprobePath: 'ffprobe' }),
          /clip\.mp4: too large: frames of 32x24 are 768 pixels, above the limit of 700/,
        );
      } finally {
        setMediaLimits({});
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
