import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeDemoDataset } from './dataset.ts';
import { DEMO_MARKER, NotOwnedError, claimFolder, resetFolder } from './owned-folders.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const MAIN = path.join(REPO, 'src', 'cli', 'main.ts');

function withTemp(fn: (dir: string) => Promise<void> | void) {
  return async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bike-owned-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

test(
  'a folder the demo made is marked and may be reset; an empty or absent one is claimed',
  withTemp((dir) => {
    const made = path.join(dir, 'a', 'b');
    claimFolder(made, 'test folder');
    assert.ok(existsSync(path.join(made, DEMO_MARKER)));
    writeFileSync(path.join(made, 'old.txt'), 'from an earlier demo run');
    resetFolder(made, 'test folder');
    assert.deepEqual(readdirSync(made), [DEMO_MARKER]);
    const empty = path.join(dir, 'empty');
    mkdirSync(empty);
    resetFolder(empty, 'test folder');
    assert.deepEqual(readdirSync(empty), [DEMO_MARKER]);
  }),
);

test(
  "a user's folder (not empty, no marker) is refused by name and left as it was",
  withTemp((dir) => {
    const user = path.join(dir, 'mine');
    mkdirSync(user);
    writeFileSync(path.join(user, 'thesis.tex'), 'precious');
    assert.throws(
      () => resetFolder(user, 'runs folder'),
      (e: Error) => e instanceof NotOwnedError && e.message.includes(user) && /not made by bike demo/.test(e.message),
    );
    assert.throws(() => claimFolder(user, 'work folder'), NotOwnedError);
    assert.equal(readFileSync(path.join(user, 'thesis.tex'), 'utf8'), 'precious');
    assert.deepEqual(readdirSync(user), ['thesis.tex']);
    const file = path.join(dir, 'a-file');
    writeFileSync(file, 'x');
    assert.throws(() => claimFolder(file, 'work folder'), /exists and is not a folder/);
  }),
);

test(
  "the dataset is never made over a folder of the user's",
  withTemp(async (dir) => {
    const data = path.join(dir, 'data');
    mkdirSync(data);
    writeFileSync(path.join(data, 'notes.txt'), 'keep me');
    const options = {
      dir: data,
      colors: 2,
      shapes: 2,
      motions: 2,
      unseenPeriod: 3,
      trainPerClass: 1,
      valPerClass: 1,
      zeroShotPerClass: 1,
      frames: 8,
      size: 32,
      seed: 3,
    };
    await assert.rejects(
      makeDemoDataset(options),
      (e: Error) => e instanceof NotOwnedError && e.message.includes(data),
    );
    assert.deepEqual(readdirSync(data), ['notes.txt']);
  }),
);

test(
  "bike demo --work-dir over a user's files exits 1 naming the folder and deletes nothing",
  withTemp((dir) => {
    for (const [sub, name] of [
      ['data', 'user.txt'],
      ['', 'report.html'],
    ] as const) {
      const work = path.join(dir, `work-${sub || 'top'}`);
      mkdirSync(path.join(work, sub), { recursive: true });
      const file = path.join(work, sub, name);
      writeFileSync(file, "a user's file");
      const run = spawnSync(
        process.execPath,
        ['--import', 'tsx', MAIN, 'demo', '--fast', '--quiet', '--work-dir', work],
        { cwd: REPO, encoding: 'utf8', timeout: 120_000 },
      );
      assert.equal(run.status, 1, `exit ${run.status} ${run.signal ?? ''}\n${run.stderr}\n${run.stdout}`);
      assert.match(run.stderr, new RegExp(`${work.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}.*not made by bike demo`));
      assert.equal(readFileSync(file, 'utf8'), "a user's file");
      assert.deepEqual(readdirSync(path.join(work, sub)), [name]);
    }
  }),
);
