import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { assertDemoRan, clearestTestVideo, demoFastRun } from '../testing/demo-run.ts';
import { argmax, comparePrecisions } from './precision-agreement.ts';
import { chromiumAvailable, inspectReport } from './browser-check.ts';
import { DEMO_PRESETS, STAGES } from './run-demo.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const MAIN = path.join(REPO, 'src', 'cli', 'main.ts');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `bike <args>` in a child process, as a user would. */
function bike(args: string[]): Promise<Run> {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, BIKE_CLIP_VOCAB: '' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

const SUMMARY = /^demo: top1=(\d+\.\d) fused_top1=(\d+\.\d) zeroshot_top1=(\d+\.\d|n\/a) report=(.+)$/;
const STILL_FRAMES =
  /stage 0: loss ([\d.]+) -> ([\d.]+) over (\d+) steps.*zero-shot on (\d+) still frames of held-out videos: ([\d.]+)% \(chance ([\d.]+)%\); weights (.+)$/m;

test(
  'bike demo --fast pre-trains CLIP, trains both branches from it, beats chance, writes the report; predict reuses its run',
  { timeout: 600_000 },
  async (t) => {
    const run = await demoFastRun();
    const scratch = mkdtempSync(path.join(os.tmpdir(), 'bike-demo-test-'));
    try {
      assertDemoRan(run);
      const { work } = run;
      const lines = run.stdout.trim().split('\n');
      const last = lines[lines.length - 1]!;
      const match = SUMMARY.exec(last);
      assert.ok(
        match,
        `last line ${JSON.stringify(last)} is not "demo: top1=<percent> fused_top1=<percent> zeroshot_top1=<percent> report=<path>"`,
      );
      // Stage 0 ran, its loss fell, and the pre-trained CLIP beats chance zero-shot on still frames before BIKE.
      const still = STILL_FRAMES.exec(run.stdout);
      assert.ok(still, 'no stage 0 summary line');
      const [, firstLoss, lastLoss, steps, images, stillTop1, stillChance, weights] = still;
      assert.equal(Number(steps), DEMO_PRESETS.fast.pretrain.steps);
      assert.ok(Number(lastLoss) < Number(firstLoss), `stage 0 loss did not fall: ${firstLoss} -> ${lastLoss}`);
      assert.ok(Number(images) > 0);
      assert.ok(
        Number(stillTop1) > Number(stillChance),
        `stage 0 CLIP: ${stillTop1}% zero-shot on still frames, chance ${stillChance}%`,
      );
      assert.ok(existsSync(weights!), `stage 0 weights ${weights}`);
      // The BIKE configs start from those weights as a user's CLIP checkpoint: init True, the text encoder frozen.
      const videoConfig = readFileSync(path.join(work, 'configs', 'video.yaml'), 'utf8');
      assert.match(videoConfig, new RegExp(`arch: '${weights!.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}'`));
      assert.match(videoConfig, /init: True/);
      assert.match(videoConfig, /fix_text: True/);
      assert.match(
        run.stdout,
        /^stage times: dataset [\d.ms]+, stage 0 [\d.ms]+, video branch [\d.ms]+, attribute branch [\d.ms]+, test [\d.ms]+, zero-shot [\d.ms]+, report [\d.ms]+; total /m,
      );
      const preset = DEMO_PRESETS.fast.data;
      const seen = JSON.parse(readFileSync(path.join(work, 'data', 'dataset.json'), 'utf8')).dataset.seen
        .length as number;
      assert.ok(seen >= 2 && seen <= preset.colors * preset.shapes * preset.motions);
      assert.notEqual(match[3], 'n/a', 'the fast preset holds classes out for zero-shot');
      const top1 = Number(match[1]);
      // Twice chance at least: the printed value is rounded, so "above chance" alone could pass at chance.
      assert.ok(
        top1 >= 2 * (100 / seen),
        `top-1 ${top1}% is not well above chance (${(100 / seen).toFixed(1)}% for ${seen} classes)`,
      );
      assert.ok(Number(match[2]) >= 0 && Number(match[2]) <= 100, `fused top-1 ${match[2]}`);
      const zeroShotTop1 = Number(match[3]);
      const unseen = JSON.parse(readFileSync(path.join(work, 'data', 'dataset.json'), 'utf8')).dataset.unseen
        .length as number;
      assert.ok(
        zeroShotTop1 >= 0 && zeroShotTop1 <= 100 && unseen >= 2,
        `zero-shot top-1 ${zeroShotTop1}% over ${unseen} unseen classes`,
      );
      const report = match[4]!;
      assert.equal(report, path.join(work, 'report.html'));
      assert.ok(existsSync(report));
      for (let n = 1; n <= STAGES; n++)
        assert.ok(run.stdout.includes(`[demo ${n}/${STAGES}`), `no progress line [demo ${n}/${STAGES}`);

      await t.test(
        'the report draws every plot and one saliency cell per sampled frame',
        { skip: chromiumAvailable() ? false : 'no chromium' },
        async () => {
          const drawn = await inspectReport(report);
          assert.deepEqual(drawn.externalRequests, []);
          assert.ok(drawn.plots.length >= 5);
          for (const plot of drawn.plots)
            if (!plot.title.startsWith('Zero-shot')) assert.ok(plot.marks > 0, `plot "${plot.title}" drew nothing`);
          const frames = DEMO_PRESETS.fast.training.numSegments;
          assert.ok(drawn.strips.some((s) => s.kind === 'saliency'));
          for (const strip of drawn.strips) {
            assert.equal(strip.declaredFrames, frames);
            assert.equal(strip.shown, frames, `a ${strip.kind} strip shows ${strip.shown} of ${frames} frames`);
          }
        },
      );

      // The run directory the demo trained and the clearest of its test videos (as an mp4 file).
      const runDir = run.videoRun;
      const clearest = clearestTestVideo(run);
      assert.ok(clearest.margin > 0, 'the demo model classifies at least one test video correctly');
      const video = clearest.mp4;

      await t.test(
        'bike predict names the right class of a demo video, with one saliency weight per frame',
        async () => {
          const predicted = await bike(['predict', video, '--model', runDir, '--top', '3', '--json']);
          assert.equal(predicted.code, 0, predicted.stderr);
          const result = JSON.parse(predicted.stdout.trim().split('\n').pop()!);
          assert.equal(result.top.length, 3);
          assert.equal(result.top[0].name, clearest.name);
          assert.equal(result.saliency[0].name, result.top[0].name);
          assert.equal(result.saliency[0].weights.length, DEMO_PRESETS.fast.training.numSegments);
          assert.ok(Math.abs(result.saliency[0].weights.reduce((a: number, b: number) => a + b, 0) - 1) < 1e-4);
          assert.match(
            result.precision,
            /^precision auto -> (bf16|fp16|fp32): /,
            'the default precision says what it chose',
          );
          const fp32 = await bike(['predict', video, '--model', runDir, '--top', '3', '--json', '--precision', 'fp32']);
          assert.equal(fp32.code, 0, fp32.stderr);
          const fp32Result = JSON.parse(fp32.stdout.trim().split('\n').pop()!);
          assert.match(fp32Result.precision, /^precision fp32: float32/);
          assert.equal(
            fp32Result.top[0].name,
            result.top[0].name,
            'fp32 and the default precision agree on the clearest video',
          );
          const text = await bike(['predict', video, '--model', runDir]);
          assert.equal(text.code, 0, text.stderr);
          assert.match(text.stdout, new RegExp(` 1\\. ${result.top[0].name}`));
        },
      );

      await t.test(
        'bf16 and fp32 agree on the top-1 class of every demo test video the model is clear about',
        async () => {
          const { videos, bf16, fp32, sameTop1, largestDifference: largest } = await comparePrecisions(work, runDir);
          // The fast preset's model is weak (near-ties between a fade and its reverse), so the 99% target is
          // measured on the full demo (scripts/precision-agreement.ts); here every video whose fp32 top-1
          // leads by 0.25 or more (over twice the largest bf16 change seen) keeps its class, and no probability moves by 0.25.
          const margin = (p: number[]) => {
            const sorted = [...p].sort((a, b) => b - a);
            return sorted[0]! - sorted[1]!;
          };
          const clear = videos.map((_, v) => v).filter((v) => margin(fp32[v]!) >= 0.25);
          const clearSame = clear.filter((v) => argmax(bf16[v]!) === argmax(fp32[v]!)).length;
          t.diagnostic(
            `bf16 vs fp32 on ${videos.length} demo test videos: top-1 agrees on ${sameTop1} (${clearSame} of the ${clear.length} clear ones), largest probability difference ${largest.toFixed(4)}`,
          );
          assert.ok(clear.length > 0, 'no test video has a clear top-1');
          assert.equal(clearSame, clear.length, 'bf16 changed the top-1 of a clear video');
          assert.ok(largest < 0.25, `bf16 moved a probability by ${largest}`);
          assert.ok(largest > 0, 'bf16 changed nothing: autocast did not run');
        },
      );

      await t.test('bike predict --clip classifies zero-shot among given labels', async () => {
        const labels = path.join(work, 'data', 'zeroshot_labels.csv');
        const predicted = await bike([
          'predict',
          video,
          '--clip',
          runDir,
          '--labels',
          labels,
          '--json',
          '--frames',
          '4',
        ]);
        assert.equal(predicted.code, 0, predicted.stderr);
        const result = JSON.parse(predicted.stdout.trim().split('\n').pop()!);
        const unseen = readFileSync(labels, 'utf8').trim().split('\n').length - 1;
        assert.equal(result.mode, 'zero-shot');
        assert.equal(result.top.length, Math.min(5, unseen));
        assert.equal(result.frameIndices.length, 4);
        assert.equal(result.saliency[0].weights.length, 4);
      });

      await t.test('a file that is not a video is an error naming it', async () => {
        const bad = path.join(scratch, 'not-a-video.mp4');
        writeFileSync(bad, 'this is not an mp4 file\n');
        const failed = await bike(['predict', bad, '--model', runDir]);
        assert.equal(failed.code, 1);
        assert.match(failed.stderr, new RegExp(`bike predict: .*${bad.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`));
        const missing = await bike(['predict', path.join(scratch, 'nothing-here'), '--model', runDir]);
        assert.equal(missing.code, 1);
        assert.match(missing.stderr, /nothing-here: no such video file or frame folder/);
      });
    } finally {
      rmSync(scratch, { recursive: true, force: true });
      run.dispose();
    }
  },
);
