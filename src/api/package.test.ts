/**
 * The installable package, as a user meets it: `npm pack`, then a fresh project installs the tarball
 * (its dependencies from the npm cache), type-checks a consumer file against the shipped `.d.ts`,
 * runs plain `node` ESM (no tsx) that classifies a video file and its bytes with a model trained here,
 * runs the README's "Use it from TypeScript" example as written, and `npx bike --help`. Only the
 * public entry is importable. The addon built in this checkout is reused (BIKE_TORCH_ADDON) instead
 * of compiling it again at install.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT, SHARED_VOCAB } from '../testing/run-bike.ts';
import { makeTinyRun } from '../testing/tiny-run.ts';

const ADDON = path.join(REPO_ROOT, 'native', 'build', 'bike_torch.node');

/** The README's "Use it from TypeScript" example, exactly as written there. */
export function readmeExample(): string {
  const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Use it from TypeScript'));
  const code = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  if (!code) throw new Error('README.md: the "Use it from TypeScript" section has no ```ts example');
  return code;
}

function run(
  command: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv = {},
  timeout = 300_000,
): SpawnSyncReturns<string> {
  const result = spawnSync(command, args, {
    cwd,
    env: { ...process.env, BIKE_CLIP_VOCAB: SHARED_VOCAB, BIKE_TORCH_ADDON: ADDON, ...env },
    encoding: 'utf8',
    timeout,
  });
  assert.equal(
    result.status,
    0,
    `${command} ${args.join(' ')} (in ${cwd}) failed with ${result.status ?? result.signal}:\n${result.stdout}\n${result.stderr}`,
  );
  return result;
}

const CONSUMER_TS = `import { VideoClassifier, loadConfig, ConfigError, MediaError, torch, type Classification, type ConfigFor, type ProgressEvent } from 'bike-ts';

const config: ConfigFor<'train'> = loadConfig(process.argv[2] ?? 'config.yaml', { purpose: 'train' });
const lr: number = config.solver.lr; // required for training: not optional in the type
const frames: number = config.data.num_segments;
const classifier: VideoClassifier = await VideoClassifier.load({ model: 'run', device: 'cpu' });
const result: Classification = await classifier.classify('video.mp4', { topK: 2 });
const best: string = result.top[0]!.name;
const listener = (e: ProgressEvent): string => \`\${e.phase} \${e.step}/\${e.total}\`;
const t: torch.Tensor = torch.tensor([1, 2, 3]);
const errors: Function[] = [ConfigError, MediaError];
console.log(lr, frames, best, listener, t.shape, errors.length);
classifier.dispose();
`;

const CONSUMER_MJS = `import { readFileSync } from 'node:fs';
import { VideoClassifier } from 'bike-ts';

const classifier = await VideoClassifier.load({ model: 'run' });
const fromFile = await classifier.classify('video.mp4', { topK: 4 });
const fromBytes = await classifier.classify(readFileSync('video.mp4'), { topK: 4 });
let deepImport = 'allowed';
try {
  await import('bike-ts/dist/engine/predict.js');
} catch (error) {
  deepImport = error.code;
}
classifier.dispose();
console.log(JSON.stringify({ fromFile, fromBytes, deepImport, loader: process.execArgv }));
`;

test(
  'npm pack, install into a fresh project, type-check, run with plain node, README example, npx bike --help',
  { timeout: 900_000 },
  async () => {
    assert.ok(existsSync(ADDON), `${ADDON}: build the addon first (npm run setup)`);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bike-package-'));
    try {
      const tiny = await makeTinyRun(path.join(dir, 'data'));

      // npm pack (its prepack script compiles dist/).
      const packed = run('npm', ['pack', '--silent', '--pack-destination', dir], REPO_ROOT, {}, 600_000);
      const tarball = path.join(dir, packed.stdout.trim().split('\n').pop()!);
      assert.ok(existsSync(tarball), `npm pack printed ${packed.stdout}`);
      const listing = run('tar', ['-tzf', tarball], dir).stdout.split('\n');
      assert.ok(
        listing.includes('package/dist/index.js') &&
          listing.includes('package/dist/index.d.ts') &&
          listing.includes('package/dist/index.js.map'),
      );
      assert.ok(
        listing.includes('package/native/build.mjs') && listing.some((f) => f.startsWith('package/native/src/')),
      );
      assert.ok(
        !listing.some(
          (f) => f.startsWith('package/src/') || f.startsWith('package/native/build/') || f.endsWith('.test.js'),
        ),
        'no sources, builds or tests in the package',
      );

      // A fresh project: the tarball installed with plain npm install (dependencies from the npm cache).
      const project = path.join(dir, 'consumer');
      mkdirSync(project);
      writeFileSync(
        path.join(project, 'package.json'),
        `${JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }, null, 2)}\n`,
      );
      run(
        'npm',
        ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', tarball],
        project,
        {},
        600_000,
      );
      const installed = path.join(project, 'node_modules', 'bike-ts');
      assert.ok(existsSync(path.join(installed, 'dist', 'cli', 'main.js')));
      assert.ok(!existsSync(path.join(project, 'node_modules', 'tsx')), 'tsx is a development tool only');
      cpSync(tiny.runDir, path.join(project, 'run'), { recursive: true });
      cpSync(tiny.video, path.join(project, 'video.mp4'));
      cpSync(tiny.configFile, path.join(project, 'config.yaml'));

      // (a) tsc against the shipped types (this checkout's compiler and Node types).
      writeFileSync(path.join(project, 'consumer.ts'), CONSUMER_TS);
      writeFileSync(path.join(project, 'readme-example.ts'), readmeExample());
      writeFileSync(
        path.join(project, 'tsconfig.json'),
        JSON.stringify(
          {
            compilerOptions: {
              target: 'ES2022',
              module: 'NodeNext',
              moduleResolution: 'NodeNext',
              strict: true,
              noEmit: true,
              skipLibCheck: false,
              types: ['node'],
              typeRoots: [path.join(REPO_ROOT, 'node_modules', '@types')],
              lib: ['ES2022'],
            },
            files: ['consumer.ts', 'readme-example.ts'],
          },
          null,
          2,
        ),
      );
      run(
        process.execPath,
        [path.join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'],
        project,
      );
      // A wrong use is refused by the same types (so the check above can fail).
      writeFileSync(
        path.join(project, 'wrong.ts'),
        `import { VideoClassifier } from 'bike-ts';\nawait VideoClassifier.load({ modle: 'run' });\n`,
      );
      const wrong = spawnSync(
        process.execPath,
        [
          path.join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'),
          '--noEmit',
          '--module',
          'NodeNext',
          '--moduleResolution',
          'NodeNext',
          '--target',
          'ES2022',
          '--strict',
          '--skipLibCheck',
          '--types',
          'node',
          '--typeRoots',
          path.join(REPO_ROOT, 'node_modules', '@types'),
          'wrong.ts',
        ],
        { cwd: project, encoding: 'utf8' },
      );
      assert.notEqual(wrong.status, 0);
      assert.match(wrong.stdout, /modle/);

      // (b) plain node ESM: a video file and its bytes, and no deep imports.
      writeFileSync(path.join(project, 'consumer.mjs'), CONSUMER_MJS);
      const out = run(process.execPath, ['consumer.mjs'], project);
      const result = JSON.parse(out.stdout.trim().split('\n').pop()!);
      assert.equal(result.fromFile.top.length, 4);
      assert.deepEqual(result.fromBytes, result.fromFile);
      assert.equal(Math.round(result.fromFile.probabilities.reduce((s: number, p: number) => s + p, 0) * 1e4) / 1e4, 1);
      assert.equal(result.deepImport, 'ERR_PACKAGE_PATH_NOT_EXPORTED');
      assert.deepEqual(result.loader, [], 'no loader flags: plain node');

      // The README example, as written.
      writeFileSync(path.join(project, 'readme-example.mjs'), readmeExample());
      const example = run(process.execPath, ['readme-example.mjs'], project);
      assert.match(example.stdout, /^(red|green|blue|yellow): \d+\.\d%$/m);
      assert.match(example.stdout, /best new name: a (red|green|blue|yellow) square/);
      assert.match(example.stdout, /cannot read missing\.mp4/);

      // (c) the installed command runs the compiled code.
      const help = run('npx', ['--no-install', 'bike', '--help'], project);
      assert.match(help.stdout, /usage: bike <command>/);
      const predictHelp = run('npx', ['--no-install', 'bike', 'predict', '--help'], project);
      assert.match(predictHelp.stdout, /--model <run-dir\|checkpoint>/);
      assert.deepEqual(readdirSync(path.join(installed, 'bin')), ['bike.mjs']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test("the install script (setup.sh --check) installs nothing and names the missing system packages with setup's apt-get line", () => {
  const bin = mkdtempSync(path.join(os.tmpdir(), 'bike-nobin-'));
  try {
    // A PATH with the shell tools setup.sh uses, but no g++ and no ffmpeg.
    for (const tool of ['bash', 'dirname', 'id', 'ls', 'node']) {
      const found = spawnSync('bash', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
      assert.ok(found, `${tool} is on PATH`);
      symlinkSync(found, path.join(bin, tool));
    }
    const result = spawnSync(path.join(bin, 'bash'), [path.join(REPO_ROOT, 'scripts', 'setup.sh'), '--check'], {
      env: { PATH: bin },
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(result.status, 1, result.stderr);
    assert.match(
      result.stderr,
      /^setup: missing g\+\+ ffmpeg; run: {2}sudo apt-get install -y libtorch-dev .* g\+\+ ffmpeg$/m,
    );
    assert.doesNotMatch(result.stderr, /installing/);
  } finally {
    rmSync(bin, { recursive: true, force: true });
  }
});
