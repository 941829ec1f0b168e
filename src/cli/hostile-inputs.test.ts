/**
 * Every bad input of issue 12 that belongs to the data path, the config and the weights, run through
 * the `bike` commands in child processes as a user would: no death by a signal, no hang (each run
 * is bounded and killed past its limit), a message naming the input, exit status 1 (2 for usage
 * mistakes), and no file touched outside the run's own folders. The hostile files are made here by
 * small generators; none is committed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  copyFileSync,
  mkdirSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { makeSyntheticDataset, tinyConfig } from '../testing/synthetic-frames.ts';
import { lastJson, spawnBike, type BikeRun } from '../testing/run-bike.ts';
import { PickleWriter, buildZip } from '../torch/serialization/pt-test-archive.ts';
import { damageMjpegFrames, encodeMjpeg } from '../testing/damaged-video.ts';
import { testIndices } from '../data/sampling.ts';

/** Runs `bike`, killing it past `limitMs` (a hang fails the test instead of stalling it). */
function boundedBike(args: string[], limitMs = 120_000): Promise<BikeRun & { ms: number }> {
  const started = performance.now();
  const child = spawnBike(args, { BIKE_LOADER_TIMEOUT_S: '60' });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), limitMs);
  return new Promise((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal, stdout, stderr, ms: performance.now() - started });
    }),
  );
}

/** Size and modification time of every file under `dir`, except under the `skip` folders. */
function snapshot(dir: string, skip: string[]): Map<string, string> {
  const files = new Map<string, string>();
  for (const entry of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const full = path.join(dir, entry);
    if (skip.some((s) => full === s || full.startsWith(`${s}${path.sep}`))) continue;
    const stat = statSync(full, { throwIfNoEntry: false });
    if (stat?.isFile()) files.set(entry, `${stat.size}:${stat.mtimeMs}`);
  }
  return files;
}

test(
  'bad inputs through the bike commands: named, status 1 (2 for usage), no signal, no hang, nothing else touched',
  { timeout: 1_500_000 },
  async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bike-hostile-'));
    try {
      const dataset = await makeSyntheticDataset({
        dir,
        trainPerClass: 1,
        valPerClass: 1,
        frames: 8,
        width: 40,
        height: 32,
      });
      const runs = path.join(dir, 'runs');
      const good = tinyConfig({ dataset, outputPath: runs, epochs: 1, batchSize: 2, numSegments: 4 });
      const config = path.join(dir, 'good.yaml');
      writeFileSync(config, good);
      const trained = await boundedBike(['train', config, '--json', '--quiet']);
      assert.equal(trained.code, 0, trained.stderr);
      const weights = lastJson<{ runDir: string }>(trained).runDir;
      const write = (name: string, content: string | Uint8Array) => {
        const file = path.join(dir, name);
        writeFileSync(file, content);
        return file;
      };

      // Hostile inputs, made here.
      const levels = ['a: &a [x, x, x, x, x, x, x, x, x]'];
      for (let i = 1; i < 9; i++)
        levels.push(
          `l${i}: &l${i} [${Array(9)
            .fill(i === 1 ? '*a' : `*l${i - 1}`)
            .join(', ')}]`,
        );
      const pwned = path.join(dir, 'pwned');
      const evilPickle = new PickleWriter()
        .proto()
        .global('posix', 'system')
        .binunicode(`touch ${pwned}`)
        .tuple1()
        .reduce()
        .stop()
        .bytes();
      const header = Buffer.from(
        JSON.stringify({ 'clip.w': { dtype: 'F32', shape: [1 << 20, 1 << 20], data_offsets: [0, 4] } }),
      );
      const safetensors = Buffer.concat([Buffer.alloc(8), header, Buffer.alloc(4)]);
      safetensors.writeBigUInt64LE(BigInt(header.length), 0);
      // A bad JPEG frame: frame 3 of one video is garbage, frame 1 of another too (nothing to fall back to).
      const badFrames = path.join(dir, 'bad-frames');
      for (const video of ['val/red_0', 'val/green_0']) {
        mkdirSync(path.join(badFrames, video), { recursive: true });
        for (let f = 1; f <= 8; f++) {
          const name = `img_${String(f).padStart(5, '0')}.png`;
          copyFileSync(path.join(dataset.root, video, name), path.join(badFrames, video, name));
        }
      }
      writeFileSync(
        path.join(badFrames, 'val/red_0/img_00003.png'),
        Buffer.from('\x89PNG\r\n\x1a\n garbage, not a PNG'),
      );
      writeFileSync(
        path.join(badFrames, 'val/green_0/img_00001.png'),
        Buffer.from('\xff\xd8\xff\xe0 a JPEG cut short'),
      );
      const oneBad = write('one-bad.txt', 'val/red_0 8 0\n');
      const firstBad = write('first-bad.txt', 'val/green_0 8 1\n');
      // A truncated mp4 (when the ffmpeg program is there to make one).
      const videos = path.join(dir, 'videos');
      mkdirSync(videos);
      const mp4 = path.join(videos, 'cut.mp4');
      const made =
        spawnSync('ffmpeg', [
          '-v',
          'error',
          '-f',
          'lavfi',
          '-i',
          'testsrc=size=64x48:rate=8:duration=2',
          '-pix_fmt',
          'yuv420p',
          mp4,
        ]).status === 0;
      if (made) writeFileSync(mp4, readFileSync(mp4).subarray(0, 1200));
      const videoList = write('videos.txt', 'cut.mp4 0\n');
      // A video with one damaged packet: the one of the second frame the test sampler picks (4 of 50).
      const damaged = path.join(videos, 'damaged.mp4');
      const lost = testIndices(50, { numSegments: 4, indexBias: 0, testClips: 1 })[1]!;
      if (made) damageMjpegFrames(encodeMjpeg(path.join(videos, 'clean.mp4')), damaged, [lost]);
      // Listed twice: warned once, counted twice (every class has a video, for zero-shot's half-class splits).
      const damagedList = write('damaged.txt', 'damaged.mp4 0\nclean.mp4 1\ndamaged.mp4 2\nclean.mp4 3\n');
      const withMissing = write(
        'train-missing.txt',
        `${readFileSync(dataset.trainList, 'utf8')}train/missing_video 8 2\n`,
      );

      interface Case {
        what: string;
        args: string[];
        code: 1 | 2;
        names: RegExp;
      }
      const configWith = (name: string, from: string, to: string) => write(name, good.replace(from, to));
      const cases: Case[] = [
        {
          what: 'num_segments far too large',
          code: 1,
          names: /segments\.yaml:7: data\.num_segments: expected an integer in 1\.\.1024, got 4000000/,
          args: ['train', configWith('segments.yaml', 'num_segments: 4', 'num_segments: 4000000')],
        },
        {
          what: 'input_size far too large',
          code: 1,
          names: /size\.yaml:\d+: data\.input_size: expected an integer in 1\.\.4096, got 1000000/,
          args: ['test', configWith('size.yaml', 'input_size: 32', 'input_size: 1000000'), weights],
        },
        {
          what: 'warm-up past the epochs',
          code: 1,
          names: /warmup\.yaml:\d+: solver\.lr_warmup_step: expected 0 <= lr_warmup_step < solver\.epochs \(1\), got 1/,
          args: ['train', configWith('warmup.yaml', 'lr_warmup_step: 0', 'lr_warmup_step: 1')],
        },
        {
          what: 'a YAML alias bomb',
          code: 1,
          names: /bomb\.yaml: YAML syntax: aliases expand too far/,
          args: ['test', write('bomb.yaml', `${good}${levels.join('\n')}\n`), weights],
        },
        {
          what: 'an unknown YAML tag',
          code: 1,
          names: /tag\.yaml:\d+: YAML syntax: unknown tag !!python\/name:os\.system/,
          args: ['train', configWith('tag.yaml', 'dataset: synthetic', 'dataset: !!python/name:os.system')],
        },
        {
          what: '--workers 100000',
          code: 2,
          names: /--workers 100000: expected a value in 0\.\.64/,
          args: ['test', config, weights, '--workers', '100000'],
        },
        {
          what: 'a bad image_tmpl (test, workers)',
          code: 1,
          names: /x_0000\d\.png: cannot read \(ENOENT\)/,
          args: [
            'test',
            config,
            weights,
            '--workers',
            '2',
            '--set',
            'data.image_tmpl=x_{:05d}.png',
            '--set',
            'data.batch_size=1',
          ],
        },
        {
          what: 'a bad image_tmpl (train, workers)',
          code: 1,
          names: /x_0000\d\.png: cannot read \(ENOENT\)/,
          args: [
            'train',
            config,
            '--workers',
            '2',
            '--set',
            'data.image_tmpl=x_{:05d}.png',
            '--set',
            'data.batch_size=1',
          ],
        },
        {
          what: 'a wrong data.val_root',
          code: 1,
          names: /absent-root\/val\/\w+\/img_0000\d\.png/,
          args: ['test', config, weights, '--workers', '2', '--set', `data.val_root=${path.join(dir, 'absent-root')}`],
        },
        {
          what: 'a frame list read as videos',
          code: 1,
          names: /frames\/val\/\w+: is a folder, not a regular file/,
          args: ['test', config, weights, '--workers', '2', '--set', 'data.modality=video'],
        },
        {
          what: 'a bad frame 1 (nothing to fall back to)',
          code: 1,
          names: /green_0\/img_00001\.png/,
          args: ['test', config, weights, '--set', `data.val_root=${badFrames}`, '--set', `data.val_list=${firstBad}`],
        },
        {
          what: 'a hostile pickle',
          code: 1,
          names: /evil\.pt.*'posix\.system' is not allowed/,
          args: ['test', config, write('evil.pt', buildZip([{ name: 'archive/data.pkl', data: evilPickle }]))],
        },
        {
          what: 'a malformed safetensors file',
          code: 1,
          names: /broken\.safetensors/,
          args: ['test', config, write('broken.safetensors', safetensors)],
        },
      ];
      if (made) {
        cases.push({
          what: 'a truncated mp4',
          code: 1,
          names: /cut\.mp4/,
          args: [
            'test',
            config,
            weights,
            '--set',
            'data.modality=video',
            '--set',
            `data.val_root=${videos}`,
            '--set',
            `data.val_list=${videoList}`,
            '--set',
            'data.batch_size=1',
          ],
        });
      }

      const before = snapshot(dir, [runs]);
      for (const c of cases) {
        const run = await boundedBike(c.args);
        const detail = `${c.what}: exit ${run.code} signal ${run.signal} after ${(run.ms / 1000).toFixed(1)} s\nstderr: ${run.stderr.slice(-3000)}`;
        assert.equal(run.signal, null, `killed (a hang past the bound, or a native crash): ${detail}`);
        assert.equal(run.code, c.code, detail);
        assert.match(run.stderr, c.names, detail);
        assert.doesNotMatch(
          run.stderr,
          /\n\s+at .*\(|Node\.js v\d|FATAL ERROR/,
          `a stack trace instead of the command's message: ${detail}`,
        );
      }
      // A bad frame that is not frame 1: replaced by frame 1, warned by name, summarised, status 0.
      const replaced = await boundedBike([
        'test',
        config,
        weights,
        '--json',
        '--set',
        `data.val_root=${badFrames}`,
        '--set',
        `data.val_list=${oneBad}`,
      ]);
      assert.equal(replaced.code, 0, replaced.stderr);
      assert.match(
        replaced.stderr,
        /warning: test: frame .*red_0\/img_00003\.png cannot be read .*img_00001\.png is used in its place/,
      );
      assert.match(replaced.stdout, /test: inputs replaced: \d+ frame\(s\) of 1 unreadable file\(s\)/);
      const result = lastJson<{ substitutions: { frames: number; files: { file: string }[] } }>(replaced);
      assert.deepEqual(
        result.substitutions.files.map((f) => path.basename(f.file)),
        ['img_00003.png'],
      );

      // Training: an unreadable video is replaced by the next one, warned by name and recorded in the run.
      const substituted = await boundedBike([
        'train',
        config,
        '--json',
        '--quiet',
        '--set',
        `data.train_list=${withMissing}`,
        '--set',
        'data.batch_size=5',
      ]);
      assert.equal(substituted.code, 0, substituted.stderr);
      assert.match(
        substituted.stderr,
        /warning: train: video .*train\/missing_video cannot be read .*the next video in the list is used in its place/,
      );
      const runDir = lastJson<{ runDir: string }>(substituted).runDir;
      assert.match(
        readFileSync(path.join(runDir, 'log.txt'), 'utf8'),
        /BIKE WARNING: train: video .*missing_video[\s\S]*training: inputs replaced: 1 time\(s\) one of 1 unreadable video\(s\) by the next one/,
      );
      const metrics = readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { kind: string; videos?: number; files?: { file: string }[] });
      const record = metrics.find((m) => m.kind === 'substitutions')!;
      assert.equal(record.videos, 1);
      assert.match(record.files![0]!.file, /train\/missing_video$/);

      if (made) {
        // Test (quiet: the summary still ends the run, on stderr) and zero-shot over a list holding it.
        const overVideos = [
          '--set',
          'data.modality=video',
          '--set',
          `data.val_root=${videos}`,
          '--set',
          `data.val_list=${damagedList}`,
          '--set',
          'data.batch_size=2',
        ];
        const damagedName = /video \S*videos\/damaged\.mp4: sampled frames do not decode/g;
        const tested = await boundedBike(['test', config, weights, '--json', '--quiet', ...overVideos]);
        assert.equal(tested.code, 0, tested.stderr);
        assert.equal(tested.stderr.match(damagedName)?.length, 1, `warned once, naming the file:\n${tested.stderr}`);
        assert.match(
          tested.stderr,
          /test: inputs replaced: 2 frame\(s\) of 1 damaged video file\(s\) by the nearest frame that decodes\n {2}video frame \S*damaged\.mp4: replaced 2 time\(s\)[^\n]*\n$/,
          'the summary ends the run',
        );
        const summary = lastJson<{
          substitutions: { videoFrames: number; files: { kind: string; file: string; frames: { frame: number }[] }[] };
        }>(tested).substitutions;
        assert.equal(summary.videoFrames, 2);
        assert.deepEqual(
          summary.files.map((f) => [f.kind, f.file, f.frames.map((s) => s.frame)]),
          [['video frame', damaged, [lost]]],
        );
        const zeroShot = await boundedBike(['zeroshot', config, weights, '--json', ...overVideos]);
        assert.equal(zeroShot.code, 0, zeroShot.stderr);
        assert.equal(zeroShot.stderr.match(damagedName)?.length, 1, zeroShot.stderr);
        const tail = zeroShot.stdout.slice(zeroShot.stdout.lastIndexOf('\nzero-shot: inputs replaced') + 1).split('\n');
        assert.match(tail[0]!, /^zero-shot: inputs replaced: 2 frame\(s\) of 1 damaged video file\(s\)/);
        assert.match(tail[1]!, /^ {2}video frame \S*damaged\.mp4: replaced 2 time\(s\)/);
        assert.deepEqual(
          tail.slice(2).map((line) => line.startsWith('{')),
          [true, false],
          'then only the JSON result (and the final newline)',
        );

        // Predict: succeeds, warns naming the file, and its result lists the substituted frame.
        const predicted = await boundedBike(['predict', damaged, '--model', weights, '--json']);
        assert.equal(predicted.code, 0, predicted.stderr);
        assert.match(
          predicted.stderr,
          /warning: video \S*videos\/damaged\.mp4: 1 of the 4 sampled frames did not decode .*frame \d+ <- \d+/,
        );
        const prediction = lastJson<{ substituted: { frame: number; from: number }[]; warning: string }>(predicted);
        assert.equal(prediction.substituted.length, 1);
        assert.equal(prediction.substituted[0]!.frame, lost);
        assert.equal(Math.abs(prediction.substituted[0]!.from - lost), 1);
        assert.match(prediction.warning, /damaged\.mp4/);
        const intact = await boundedBike(['predict', path.join(videos, 'clean.mp4'), '--model', weights, '--json']);
        assert.equal(intact.code, 0, intact.stderr);
        assert.deepEqual(lastJson<{ substituted: unknown[] }>(intact).substituted, []);
        assert.doesNotMatch(intact.stderr, /warning/);
      }

      assert.ok(!existsSync(pwned), 'the pickle ran code');
      const after = snapshot(dir, [runs]);
      assert.deepEqual(
        [...after].filter(([f, s]) => before.get(f) !== s),
        [],
        'files changed outside the run folders',
      );
      assert.deepEqual(
        [...before.keys()].filter((f) => !after.has(f)),
        [],
        'files removed',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
