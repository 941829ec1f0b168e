import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RunLogger } from './logging.ts';
import { SubstitutionRecord } from './substitutions.ts';

test('substituted inputs: one warning per file, every replacement counted, the summary in log.txt and metrics.jsonl', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bike-substitutions-'));
  const stderr: string[] = [];
  t.mock.method(process.stderr, 'write', (text: string) => {
    stderr.push(text);
    return true;
  });
  try {
    const logger = new RunLogger({ dir, rank: 0, quiet: true });
    const record = new SubstitutionRecord(logger);
    const frame = (n: number) => ({
      index: n,
      path: `/data/v1/img_${n}.jpg`,
      reason: `image /data/v1/img_${n}.jpg: cannot read (ENOENT)`,
      replacement: '/data/v1/img_1.jpg',
    });
    // Frames 7 and 20 of a video file do not decode; frame 7 is sampled twice in the first batch.
    const damaged = (n: number, from: number) => ({
      path: '/data/damaged.mp4',
      frame: n,
      from,
      reason: 'Invalid data found when processing input',
    });
    record.note(
      'test',
      {
        fallbacks: [frame(9), frame(9), frame(12)],
        substitutedFrames: [damaged(7, 6), damaged(7, 6)],
        skipped: [],
      },
      '/data',
    );
    record.note(
      'test',
      {
        fallbacks: [frame(9)],
        substitutedFrames: [damaged(20, 21)],
        skipped: [{ index: 3, path: 'v3.mp4', reason: 'video /data/v3.mp4: has no video frames' }],
      },
      '/data',
    );
    record.note(
      'train',
      {
        fallbacks: [],
        substitutedFrames: [],
        skipped: [{ index: 3, path: 'v3.mp4', reason: 'video /data/v3.mp4: has no video frames' }],
      },
      '/data',
    );
    const summary = record.finish('test');
    logger.close();
    t.mock.restoreAll();

    const warnings = stderr.filter((line) => line.startsWith('warning: '));
    // The logger is quiet and has no terminal output: the summary goes to stderr, after the warnings.
    const notices = stderr.filter((line) => !line.startsWith('warning: '));
    assert.match(notices[0]!, /^test: inputs replaced: 4 frame\(s\) of 2 unreadable file\(s\)/);
    assert.equal(notices.length, 5, `the headline and a line per file:\n${notices.join('')}`);
    assert.match(stderr.at(-1)!, /^ {2}video \/data\/v3\.mp4: replaced 2 time\(s\)/);
    assert.equal(warnings.length, 4, `one warning per file:\n${warnings.join('')}`);
    assert.match(
      warnings[0]!,
      /^warning: test: frame \/data\/v1\/img_9\.jpg cannot be read \(image \/data\/v1\/img_9\.jpg: cannot read \(ENOENT\)\); \/data\/v1\/img_1\.jpg is used in its place/,
    );
    assert.match(
      warnings[2]!,
      /^warning: test: video \/data\/damaged\.mp4: sampled frames do not decode \(Invalid data found when processing input\); each gets the pixels of the nearest frame that decodes \(first: frame 7 <- 6\)/,
    );
    assert.match(
      warnings[3]!,
      /^warning: test: video \/data\/v3\.mp4 cannot be read \(video \/data\/v3\.mp4: has no video frames\); the next video in the list is used/,
    );
    assert.equal(summary.frames, 4);
    assert.equal(summary.videoFrames, 3);
    assert.equal(summary.videos, 2);
    assert.deepEqual(
      summary.files.map((f) => [f.kind, f.file, f.count]),
      [
        ['frame', '/data/v1/img_9.jpg', 3],
        ['frame', '/data/v1/img_12.jpg', 1],
        ['video frame', '/data/damaged.mp4', 3],
        ['video', '/data/v3.mp4', 2],
      ],
    );
    assert.deepEqual(summary.files[2]!.frames, [
      { frame: 7, from: 6 },
      { frame: 20, from: 21 },
    ]);

    const log = readFileSync(path.join(dir, 'log.txt'), 'utf8');
    assert.match(log, /BIKE WARNING: test: frame \/data\/v1\/img_9\.jpg cannot be read/);
    assert.match(
      log,
      /BIKE INFO: test: inputs replaced: 4 frame\(s\) of 2 unreadable file\(s\) by frame 1 of their video; 3 frame\(s\) of 1 damaged video file\(s\) by the nearest frame that decodes; 2 time\(s\) one of 1 unreadable video\(s\) by the next one/,
    );
    assert.match(log, /frame \/data\/v1\/img_9\.jpg: replaced 3 time\(s\) by \/data\/v1\/img_1\.jpg/);
    assert.match(
      log,
      /video frame \/data\/damaged\.mp4: replaced 3 time\(s\) by the nearest frame that decodes \(frame 7 <- 6, 20 <- 21\)/,
    );
    const records = readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const substitutions = records.find((r) => r.kind === 'substitutions')!;
    assert.equal(substitutions.stage, 'test');
    assert.equal(substitutions.frames, 4);
    assert.equal(substitutions.videoFrames, 3);
    assert.deepEqual(
      (substitutions.files as { count: number }[]).map((f) => f.count),
      [3, 1, 3, 2],
    );
  } finally {
    t.mock.restoreAll();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a run without substitutions says so', (t) => {
  const lines: string[] = [];
  const logger = new RunLogger({
    rank: 0,
    quiet: false,
    stream: {
      write: (s: string) => {
        lines.push(s);
        return true;
      },
      isTTY: false,
    } as unknown as NodeJS.WriteStream,
  });
  const summary = new SubstitutionRecord(logger).finish('zero-shot');
  assert.deepEqual(summary, { frames: 0, videoFrames: 0, videos: 0, files: [] });
  assert.match(lines.join(''), /zero-shot: no input was replaced/);
  t.mock.restoreAll();
});
