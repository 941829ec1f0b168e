import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { ReadingBoard } from './reading-board.ts';

test('the reading board lists the files a job has open, by sample, until each is done', () => {
  const board = new ReadingBoard();
  assert.equal(board.describe(1), 'no file open');
  board.record(1, 4, '/data/a/img_00001.jpg', false);
  board.record(2, 9, '/data/b/img_00001.jpg', false);
  assert.equal(board.describe(1), 'reading sample 4: /data/a/img_00001.jpg');
  board.record(1, 4, '/data/a/img_00002.jpg', false);
  board.record(1, 4, '/data/a/img_00001.jpg', true);
  assert.equal(board.describe(1), 'reading sample 4: /data/a/img_00002.jpg');
  for (let f = 3; f <= 6; f++) board.record(1, 5, `/data/a/img_0000${f}.jpg`, false);
  const five = board.describe(1);
  assert.match(
    five,
    /^reading (sample [45]: \/data\/a\/img_0000\d\.jpg; ){2}sample [45]: \/data\/a\/img_0000\d\.jpg \(and 2 more\)$/,
  );
  assert.equal(board.describe(2), 'reading sample 9: /data/b/img_00001.jpg');
  // Long paths are cut at a whole character and marked; non-ASCII names survive.
  const long = `/données/${'é'.repeat(700)}/img.jpg`;
  board.record(3, 0, long, false);
  const shown = board.describe(3).replace(/^reading sample 0: /, '');
  assert.ok(shown.endsWith('...') && long.startsWith(shown.slice(0, -3)) && shown.length > 400, shown);
  // A board made elsewhere must have the board's size.
  assert.throws(() => new ReadingBoard(new SharedArrayBuffer(8)), /ReadingBoard: expected \d+ bytes, got 8/);
});

test('the reading board shows the file a worker is blocked on, though the worker can post nothing', async () => {
  const board = new ReadingBoard();
  const gate = new SharedArrayBuffer(4);
  const file = '/mnt/stalled/video3/img_00002.jpg';
  const worker = new Worker(new URL('./loader-worker-boot.mjs', import.meta.url), {
    workerData: { entry: new URL('./testdata/board-worker.ts', import.meta.url).href, board: board.buffer, gate, file },
  });
  try {
    const until = Date.now() + 20_000;
    while (board.describe(7) === 'no file open' && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    assert.equal(board.describe(7), `reading sample 3: ${file}`);
  } finally {
    Atomics.store(new Int32Array(gate), 0, 1);
    Atomics.notify(new Int32Array(gate), 0);
    await worker.terminate();
  }
});
