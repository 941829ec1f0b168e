import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Progress, RunLogger } from './logging.ts';
import { AverageMeter, etaSeconds, formatDuration } from './meters.ts';
import { pythonExponent } from '../training/epoch-runner.ts';
import { archPathPart, runDirectoryPath } from './run-dir.ts';
import { defaultConfig } from '../config/config.ts';

function fakeStream(tty: boolean) {
  const chunks: string[] = [];
  return {
    chunks,
    stream: {
      isTTY: tty,
      columns: 200,
      write: (s: string) => {
        chunks.push(s);
        return true;
      },
    },
  };
}

test('rank 0 logs to the terminal, log.txt and metrics.jsonl; other ranks write nothing', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'bike-log-'));
  const { chunks, stream } = fakeStream(false);
  const logger = new RunLogger({ dir, stream });
  logger.info('hello');
  logger.metrics({ kind: 'iteration', loss: 0.5, bad: NaN });
  logger.close();
  assert.deepEqual(chunks, ['hello\n']);
  assert.match(
    readFileSync(path.join(dir, 'log.txt'), 'utf8'),
    /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] BIKE INFO: hello\n$/,
  );
  const record = JSON.parse(readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8'));
  assert.equal(record.loss, 0.5);
  assert.equal(record.bad, 'NaN');
  assert.equal(typeof record.time, 'number');

  const other = mkdtempSync(path.join(tmpdir(), 'bike-log-'));
  const quiet = fakeStream(false);
  const rank1 = new RunLogger({ dir: path.join(other, 'run'), rank: 1, stream: quiet.stream });
  rank1.info('not shown');
  rank1.metrics({ x: 1 });
  rank1.close();
  assert.deepEqual(quiet.chunks, []);
  assert.ok(!existsSync(path.join(other, 'run')));
});

test('progress: a redrawn bar on a terminal, plain lines every print_freq otherwise', () => {
  const tty = fakeStream(true);
  const logger = new RunLogger({ stream: tty.stream });
  const progress = new Progress(logger, 'epoch 0', 4, 2, (i) => `line ${i}`);
  for (let i = 0; i < 4; i++)
    progress.update(i, {
      loss: 1.5,
      lossAverage: 1.25,
      lr: 5e-5,
      dataSeconds: 0.01,
      computeSeconds: 0.2,
      etaSeconds: 3725,
    });
  progress.done();
  logger.close();
  const text = tty.chunks.join('');
  assert.match(
    text,
    /\r\x1b\[Kepoch 0 \[##########\.{10}\] 2\/4  eta 1:02:05  loss 1\.5000 \(1\.2500\)  lr 5\.00e-5  data 0\.010s  compute 0\.200s/,
  );
  assert.match(text, /line 0\n/);
  assert.match(text, /line 2\n/);
  assert.ok(!text.includes('line 1'));

  const plain = fakeStream(false);
  const plainLogger = new RunLogger({ stream: plain.stream });
  const p = new Progress(plainLogger, 'x', 3, 2, (i) => `line ${i}`);
  for (let i = 0; i < 3; i++) p.update(i, {});
  assert.deepEqual(plain.chunks, ['line 0\n', 'line 2\n'], 'no bar characters when not a terminal');
});

test('meters, durations and number formats as the original prints them', () => {
  const m = new AverageMeter();
  m.update(2, 3);
  m.update(4, 1);
  assert.equal(m.value, 4);
  assert.equal(m.average, 2.5);
  assert.equal(formatDuration(3725.9), '1:02:05');
  assert.equal(formatDuration(90000), '1 day, 1:00:00');
  assert.equal(etaSeconds(0.5, 10, 20), 5.5);
  assert.equal(pythonExponent(5e-5), '5.00e-05');
  assert.equal(pythonExponent(0.00123), '1.23e-03');
  assert.equal(pythonExponent(12345), '1.23e+04');
});

test('the run directory is output_path/dataset/arch/<time>', () => {
  const config = defaultConfig();
  config.data.output_path = 'exps';
  config.data.dataset = 'k400';
  config.network.arch = { kind: 'name', name: 'ViT-B/32' };
  assert.equal(
    runDirectoryPath(config, { logTime: '20240101_000000' }),
    path.join('exps', 'k400', 'ViT-B', '32', '20240101_000000'),
  );
  assert.equal(archPathPart({ kind: 'file', path: '/w/ViT-L-14.pt' }), 'ViT-L-14');
  assert.throws(() => runDirectoryPath(config, { logTime: '../x' }), /--log-time/);
  config.data.output_path = null;
  assert.throws(() => runDirectoryPath(config), /data\.output_path/);
});
