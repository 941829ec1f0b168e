/**
 * Data pipeline throughput: decodes and augments 8-frame clips from frame folders and prints
 * clips/s for train and val transforms with one worker thread, then with N, beside the original's
 * PIL + torch pipeline (bench/data-baseline.py, one core) on the same frames. Ours with one worker and
 * the original take turns for several rounds (who goes first alternates), so load from other
 * processes hits both alike; the ratios printed last are medians of the per-round ratios, with their
 * range. Also times decoding 8 sampled frames per mp4 against PyAV.
 *
 *   npm run bench:data -- [--frames DIR --list FILE] [--template img_{:05d}.jpg] [--workers N]
 *                         [--seconds S] [--rounds R]
 *
 * Without --frames, it makes 24 synthetic videos of 427x320 JPEG frames (the size the targets quote).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { VideoLoader } from '../src/data/loader.ts';
import { parseVideoList } from '../src/data/video-list.ts';
import type { VideoDatasetSpec } from '../src/data/video-dataset.ts';
import { probeVideo, readVideoFrames } from '../src/data/video-decoder.ts';
import { valIndices } from '../src/data/sampling.ts';
import { median } from './stats.ts';

const { values } = parseArgs({
  options: {
    frames: { type: 'string' },
    list: { type: 'string' },
    template: { type: 'string', default: 'img_{:05d}.jpg' },
    workers: { type: 'string', default: String(os.cpus().length) },
    // Six short rounds rather than three long ones: on a shared machine the load shifts within a
    // minute (the original's rate moved 19-31 clips/s between rounds of one run), and the median of
    // more per-round ratios moves less.
    seconds: { type: 'string', default: '4' },
    rounds: { type: 'string', default: '6' },
  },
});
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
for (const [name, value] of [
  ['--seconds', seconds],
  ['--rounds', rounds],
] as const) {
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} '${String(value)}' must be a positive number`);
}
const python = '/usr/bin/python3';
const here = path.dirname(new URL(import.meta.url).pathname);

function ensurePythonModules(modules: string[], packages: string[]): boolean {
  const probe = spawnSync(python, ['-c', modules.map((m) => `import ${m}`).join(';')]);
  if (probe.status === 0) return true;
  if (process.getuid?.() !== 0) {
    console.log(`# baseline skipped: ${python} lacks ${modules.join(', ')} (apt-get install ${packages.join(' ')})`);
    return false;
  }
  console.log(`# installing ${packages.join(' ')} for the baseline`);
  spawnSync('apt-get', ['install', '-y', '-qq', ...packages], {
    stdio: 'ignore',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  return spawnSync(python, ['-c', modules.map((m) => `import ${m}`).join(';')]).status === 0;
}

async function syntheticFrames(root: string, videos: number, frames: number): Promise<string> {
  const lines: string[] = [];
  for (let v = 0; v < videos; v++) {
    const dir = path.join(root, `video${v}`);
    mkdirSync(dir, { recursive: true });
    for (let f = 1; f <= frames; f++) {
      // Smooth gradients plus noise: compresses like camera frames, not like flat colour.
      const w = 427,
        h = 320;
      const pixels = Buffer.alloc(w * h * 3);
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) {
          const i = (y * w + x) * 3;
          pixels[i] = (x + f * 3 + v * 20) & 255;
          pixels[i + 1] = (y * 2 + v * 7) & 255;
          pixels[i + 2] = (((x * y) >> 6) + ((x * 7919 + y * 104729 + f) % 23)) & 255;
        }
      await sharp(pixels, { raw: { width: w, height: h, channels: 3 } })
        .jpeg({ quality: 90 })
        .toFile(path.join(dir, `img_${String(f).padStart(5, '0')}.jpg`));
    }
    lines.push(`video${v} ${frames} ${v % 4}`);
  }
  const list = path.join(root, 'list.txt');
  writeFileSync(list, lines.join('\n') + '\n');
  return list;
}

async function rate(spec: VideoDatasetSpec, workers: number): Promise<number> {
  const loader = new VideoLoader(spec, { batchSize: 1, workers, prefetch: 4, shuffle: false, dropLast: false });
  try {
    let clips = 0;
    let epoch = 0;
    // Warm-up batch (worker start-up, WebAssembly compile).
    await loader.epoch(99).next();
    const start = performance.now();
    while ((performance.now() - start) / 1000 < seconds) {
      for await (const batch of loader.epoch(epoch++)) {
        clips += batch.labels.length;
        // As the training and evaluation loops do once the frames are in a tensor.
        loader.recycle(batch);
        if ((performance.now() - start) / 1000 >= seconds) break;
      }
    }
    return clips / ((performance.now() - start) / 1000);
  } finally {
    await loader.close();
  }
}

const tmp = mkdtempSync(path.join(os.tmpdir(), 'bike-bench-data-'));
try {
  const root = values.frames ?? tmp;
  const listFile = values.list ?? (await syntheticFrames(tmp, 24, 32));
  const list = parseVideoList(readFileSync(listFile, 'utf8'), listFile);
  const records = list.records.map((r) => ({ path: r.path, numFrames: r.numFrames, label: r.label }));
  const base: VideoDatasetSpec = {
    records,
    root,
    format: 'frames',
    imageTmpl: values.template!,
    mode: 'train',
    numSegments: 8,
    inputSize: 224,
    seed: 1,
  };
  const workers = Number(values.workers);
  console.log(`# ${records.length} videos from ${listFile}; ${seconds}s per measurement; ${os.cpus().length} cores`);

  const baselineReady = ensurePythonModules(
    ['PIL', 'numpy', 'torch'],
    ['python3-pil', 'python3-numpy', 'python3-torch'],
  );
  type OriginalRates = { train_clips_per_s: number; val_clips_per_s: number };
  const original = (): OriginalRates =>
    JSON.parse(
      execFileSync(
        python,
        [
          path.join(here, 'data-baseline.py'),
          root,
          listFile,
          values.template!.replace(/\{:0?(\d*)d\}/, (_, w) => `{:0${w || 1}d}`),
          String(seconds),
        ],
        { encoding: 'utf8' },
      ),
    ) as OriginalRates;

  const ratios = { train: [] as number[], val: [] as number[] };
  for (let round = 0; round < rounds; round++) {
    const oursFirst = round % 2 === 0;
    let baseline: OriginalRates | null = null;
    if (baselineReady && !oursFirst) baseline = original();
    const train = await rate({ ...base, mode: 'train' }, 1);
    const val = await rate({ ...base, mode: 'val' }, 1);
    if (baselineReady && oursFirst) baseline = original();
    let line = `round ${round + 1}: train_clips_per_s ${train.toFixed(1)}  val_clips_per_s ${val.toFixed(1)}  (1 worker)`;
    if (baseline) {
      ratios.train.push(train / baseline.train_clips_per_s);
      ratios.val.push(val / baseline.val_clips_per_s);
      line += `; original ${baseline.train_clips_per_s.toFixed(1)} / ${baseline.val_clips_per_s.toFixed(1)} (PIL + torch, one core)`;
    }
    console.log(line);
  }
  if (workers > 1) {
    const train = await rate({ ...base, mode: 'train' }, workers);
    const val = await rate({ ...base, mode: 'val' }, workers);
    console.log(`train_clips_per_s ${train.toFixed(1)}  val_clips_per_s ${val.toFixed(1)}  (${workers} workers)`);
  }
  for (const mode of ['train', 'val'] as const) {
    const values = ratios[mode];
    if (values.length === 0) continue;
    const range = `[${Math.min(...values).toFixed(2)}, ${Math.max(...values).toFixed(2)}]`;
    console.log(
      `${mode}_ratio_vs_original_per_core ${median(values).toFixed(2)}  (median of ${values.length} rounds, range ${range})`,
    );
  }

  // Video files: 8 sampled frames per mp4, ours (FFmpeg's libraries, seeking to key frames) against PyAV (decoding in order).
  const videoDir = path.join(tmp, 'videos');
  mkdirSync(videoDir, { recursive: true });
  const videos: string[] = [];
  for (let v = 0; v < 6; v++) {
    const file = path.join(videoDir, `v${v}.mp4`);
    // H.264 (4:2:0, so an even width) with a key frame every 2 s, as web video usually has.
    execFileSync('ffmpeg', [
      '-v',
      'error',
      '-f',
      'lavfi',
      '-i',
      `testsrc=size=426x320:rate=25:duration=${4 + v}`,
      '-c:v',
      'libx264',
      '-g',
      '50',
      '-pix_fmt',
      'yuv420p',
      '-y',
      file,
    ]);
    videos.push(file);
  }
  const jobs = await Promise.all(
    videos.map(async (file) => {
      const info = await probeVideo(file);
      return [file, valIndices(info.frameCount, { numSegments: 8, indexBias: 0 })] as [string, number[]];
    }),
  );
  const infos = await Promise.all(videos.map((f) => probeVideo(f)));
  let decoded = 0;
  const start = performance.now();
  while ((performance.now() - start) / 1000 < seconds) {
    const i = decoded % jobs.length;
    await readVideoFrames(jobs[i]![0], jobs[i]![1], infos[i]);
    decoded++;
  }
  const oursVideo = decoded / ((performance.now() - start) / 1000);
  console.log(`video_clips_per_s ${oursVideo.toFixed(1)}  (8 sampled frames per mp4, H.264, 4-9 s)`);
  if (ensurePythonModules(['av'], ['python3-av'])) {
    const jobFile = path.join(tmp, 'jobs.json');
    writeFileSync(jobFile, JSON.stringify(jobs));
    const out = JSON.parse(
      execFileSync(python, [path.join(here, 'video-baseline.py'), jobFile, String(seconds)], { encoding: 'utf8' }),
    ) as { clips_per_s: number };
    console.log(`pyav_video_clips_per_s ${out.clips_per_s.toFixed(1)}`);
    console.log(`video_ratio_vs_pyav ${(oursVideo / out.clips_per_s).toFixed(2)}`);
  }
} finally {
  if (existsSync(tmp)) rmSync(tmp, { recursive: true, force: true });
}
