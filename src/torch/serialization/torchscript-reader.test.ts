import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isLoadedTensor, readPtFile } from './pt-reader.ts';
import { PickleWriter, buildZip, writeTensor, type ZipInput } from './pt-test-archive.ts';
import { parseTorchScriptClasses, readTorchScriptBuffer, readTorchScriptFile } from './torchscript-reader.ts';
import { ZipArchive } from './zip-reader.ts';
import type { LoadedTensor } from './pt-tensor.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const scriptedPath = path.join(here, '..', 'testdata', 'tiny_scripted.pt');
const PYTHON = '/usr/bin/python3';
const havePythonTorch = spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore', timeout: 60_000 }).status === 0;

/** The archive's entries, with `edit` applied to the ones it returns replacements for. */
function editArchive(bytes: Uint8Array, edit: (name: string, data: Uint8Array) => Uint8Array | undefined): Uint8Array {
  const archive = new ZipArchive(bytes, 'original');
  const entries: ZipInput[] = archive.names().map((name) => {
    const data = archive.read(name);
    return { name, data: edit(name, data) ?? data, deflate: archive.entry(name).method === 8 };
  });
  return buildZip(entries);
}

function text(data: Uint8Array): string {
  return Buffer.from(data).toString('utf8');
}

function sameTensors(actual: Map<string, LoadedTensor>, expected: Map<string, LoadedTensor>): void {
  assert.deepEqual([...actual.keys()], [...expected.keys()]);
  for (const [name, e] of expected) {
    const a = actual.get(name)!;
    assert.equal(a.dtype, e.dtype, name);
    assert.deepEqual(a.shape, e.shape, name);
    assert.ok(Buffer.from(a.data).equals(Buffer.from(e.data)), `${name}: bytes differ`);
  }
}

/** Reads `file` in a child process, so that a reader that hung would be stopped (and fail the test). */
function readInChild(file: string): { status: number | null; signal: string | null; output: string; ms: number } {
  const started = Date.now();
  const code = `import { readTorchScriptFile } from ${JSON.stringify(path.join(here, 'torchscript-reader.ts'))};
try { const t = readTorchScriptFile(${JSON.stringify(file)}); console.log('read', [...t.keys()].join(',')); }
catch (e) { console.log('refused', e.message); process.exitCode = 1; }`;
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, NODE_OPTIONS: '--max-old-space-size=512' },
  });
  return {
    status: child.status,
    signal: child.signal,
    output: `${child.stdout}${child.stderr}`,
    ms: Date.now() - started,
  };
}

test('tiny_scripted.pt: parameters then buffers, by attribute path, with their values', () => {
  const tensors = readTorchScriptFile(scriptedPath);
  assert.deepEqual([...tensors.keys()], ['embedding', 'block.proj.weight', 'block.proj.bias', 'steps', 'block.scale']);
  const w = tensors.get('block.proj.weight')!;
  assert.deepEqual([...new Float32Array(w.data.buffer, w.data.byteOffset, 6)], [-0.5, -0.25, 0, 0.25, 0.5, 0.75]);
  assert.equal(tensors.get('steps')!.dtype, 'int64');
  assert.deepEqual(tensors.get('steps')!.shape, []);
});

test('class declarations are read from the code text', () => {
  const classes = parseTorchScriptClasses(
    [
      'class A(Module):',
      '  __parameters__ = ["w", "b", ]',
      '  __buffers__ = ["m", ]',
      '  w : Tensor',
      '  def forward(self: __torch__.A) -> Tensor:',
      '    __parameters__ = ["not", "this"]',
      '    return self.w',
      'class B:',
      '  __parameters__ = []',
      '  def __setstate__(self: __torch__.B,',
      '    state: Tuple[Tensor]) -> NoneType:',
      '    return None',
    ].join('\n'),
    '__torch__',
  );
  assert.deepEqual([...classes.keys()], ['A', 'B']);
  assert.deepEqual([...classes.get('A')!.parameters], ['w', 'b']);
  assert.deepEqual([...classes.get('A')!.buffers], ['m']);
  assert.equal(classes.get('A')!.isModule, true);
  assert.equal(classes.get('A')!.definesSetState, false);
  assert.equal(classes.get('B')!.isModule, false);
  assert.equal(classes.get('B')!.definesSetState, true);
  assert.equal(classes.get('B')!.qualifiedName, '__torch__.B');
});

test('code edited to loop forever is never run: forward loops, the tensors still load; a looping __setstate__ is refused by name', () => {
  const original = readFileSync(scriptedPath);
  const expected = readTorchScriptBuffer(original, 'original.pt');
  const loopingForward = editArchive(original, (name, data) =>
    name.endsWith('code/__torch__.py')
      ? Buffer.from(
          text(data).replace(
            '    block = self.block\n',
            '    _0 = True\n    while _0:\n      _0 = True\n    block = self.block\n',
          ),
        )
      : undefined,
  );
  assert.match(text(new ZipArchive(loopingForward, 'x').read('tiny_scripted/code/__torch__.py')), /while _0:/);
  sameTensors(readTorchScriptBuffer(loopingForward, 'looping-forward.pt'), expected);

  const loopingSetState = editArchive(original, (name, data) =>
    name.endsWith('code/__torch__.py')
      ? Buffer.from(
          text(data).replace(
            'class Block(Module):\n',
            'class Block(Module):\n  def __setstate__(self: __torch__.Block,\n    state: Dict[str, Tensor]) -> NoneType:\n    _0 = True\n    while _0:\n      _0 = True\n    return None\n',
          ),
        )
      : undefined,
  );
  const started = Date.now();
  assert.throws(
    () => readTorchScriptBuffer(loopingSetState, 'looping-setstate.pt'),
    (error: Error) =>
      /looping-setstate\.pt/.test(error.message) &&
      /class __torch__\.Block defines __setstate__/.test(error.message) &&
      /never runs/.test(error.message),
  );
  assert.ok(Date.now() - started < 5000);
});

/** An archive around a hand-made data.pkl, with tiny_scripted.pt's code (classes Tiny, Block, Linear). */
function withPickle(pickle: Uint8Array, storages: Record<string, Uint8Array> = {}): Uint8Array {
  const original = new ZipArchive(readFileSync(scriptedPath), 'tiny_scripted.pt');
  const entries: ZipInput[] = original
    .names()
    .filter((n) => !n.includes('/data/') && !n.endsWith('data.pkl'))
    .map((name) => ({ name, data: original.read(name) }));
  entries.push({ name: 'tiny_scripted/data.pkl', data: pickle });
  for (const [key, data] of Object.entries(storages)) entries.push({ name: `tiny_scripted/data/${key}`, data });
  return buildZip(entries);
}

/** `__torch__.Tiny` with the given attribute writer inside its state dict. */
function tinyPickle(attributes: (p: PickleWriter) => void): Uint8Array {
  const p = new PickleWriter().proto().global('__torch__', 'Tiny').emptyTuple().raw(0x81).emptyDict().mark();
  attributes(p);
  return p.setitems().build().stop().bytes();
}

test('hostile data.pkl: non-dict states, unknown and C++ classes, mistyped parameters, huge stride-0 views, other globals', () => {
  const refused = (bytes: Uint8Array, pattern: RegExp) =>
    assert.throws(
      () => readTorchScriptBuffer(bytes, 'hostile.pt'),
      (error: Error) => {
        assert.match(error.message, /hostile\.pt/);
        assert.match(error.message, pattern);
        return true;
      },
    );
  const one = new Uint8Array(Float32Array.from([1.5]).buffer);
  const tensor = (p: PickleWriter, shape: number[], stride: number[]) =>
    writeTensor(p, { storageClass: 'FloatStorage', key: '0', storageNumel: 1, offset: 0, shape, stride });

  // The state is a tuple (what a __getstate__ returns): only the class's own code could read it.
  const tupleState = new PickleWriter().proto().global('__torch__', 'Tiny').emptyTuple().raw(0x81);
  tensor(tupleState, [1], [1]).tuple1().build().stop();
  refused(
    withPickle(tupleState.bytes(), { 0: one }),
    /class __torch__\.Tiny: state must be an attribute dict, got a list\/tuple of 1/,
  );

  refused(
    withPickle(new PickleWriter().proto().global('__torch__.nowhere', 'Gone').emptyTuple().raw(0x81).stop().bytes()),
    /class __torch__\.nowhere\.Gone: the archive has no code entry 'tiny_scripted\/code\/__torch__\/nowhere\.py'/,
  );
  refused(
    withPickle(new PickleWriter().proto().global('__torch__', 'Missing').emptyTuple().raw(0x81).stop().bytes()),
    /class __torch__\.Missing: its code file declares no class 'Missing'/,
  );
  refused(
    withPickle(
      new PickleWriter().proto().global('__torch__.torch.classes.quantized', 'LinearPackedParamsBase').stop().bytes(),
    ),
    /__torch__\.torch\.classes\.quantized\.LinearPackedParamsBase is a C\+\+ custom class/,
  );
  refused(
    withPickle(tinyPickle((p) => p.binunicode('embedding').int(3))),
    /__torch__\.Tiny declares 'embedding' a parameter, but it holds a number/,
  );
  refused(
    withPickle(
      tinyPickle((p) => p.binunicode('embedding').global('builtins', 'eval').binunicode('1').tuple1().reduce()),
    ),
    /global 'builtins\.eval' is not allowed/,
  );
  // 8 GB asked of a 4-byte storage: refused with the parameter named, nothing allocated.
  refused(
    withPickle(
      tinyPickle((p) => tensor(p.binunicode('embedding'), [1 << 16, 1 << 15], [0, 0])),
      { 0: one },
    ),
    /hostile\.pt embedding: .*would expand to 8589934592 bytes/,
  );
  // A module that contains itself.
  const cyclic = new PickleWriter()
    .proto()
    .global('__torch__', 'Tiny')
    .emptyTuple()
    .raw(0x81)
    .binput(0)
    .emptyDict()
    .binunicode('block')
    .binget(0)
    .setitem()
    .build()
    .stop();
  refused(withPickle(cyclic.bytes()), /module 'block' contains itself/);

  // None for an Optional parameter is left out, as named_parameters() leaves it out.
  const withNone = readTorchScriptBuffer(
    withPickle(
      tinyPickle((p) => {
        p.binunicode('embedding').none();
        tensor(p.binunicode('steps'), [2], [0]);
      }),
      { 0: one },
    ),
    'none.pt',
  );
  assert.deepEqual([...withNone.keys()], ['steps']);
  assert.ok(isLoadedTensor(withNone.get('steps')));
});

test('a torch.save checkpoint is not a TorchScript archive', () => {
  const bytes = buildZip([{ name: 'archive/data.pkl', data: new PickleWriter().proto().emptyDict().stop().bytes() }]);
  assert.throws(
    () => readTorchScriptBuffer(bytes, 'plain.pt'),
    /plain\.pt: has no code\/ or constants\.pkl entries; .*read it with loadPtFile/,
  );
});

test(
  'archives written by PyTorch: the same names, dtypes, shapes and bytes as torch.jit.load, and hostile __setstate__ refused in bounded time',
  { skip: !havePythonTorch && `${PYTHON} with torch is not installed` },
  () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bike-torchscript-'));
    try {
      const made = spawnSync(PYTHON, [path.join(here, '..', 'testdata', 'make_torchscript_cases.py'), dir], {
        encoding: 'utf8',
        timeout: 300_000,
      });
      assert.equal(made.status, 0, made.stderr);
      for (const name of ['clip_scripted', 'clip_traced']) {
        const actual = readTorchScriptFile(path.join(dir, `${name}.pt`));
        const expectedValue = readPtFile(path.join(dir, `${name}.expected.pt`)) as Record<string, LoadedTensor>;
        sameTensors(actual, new Map(Object.entries(expectedValue)));
        assert.ok(
          actual.has('head.weight') && actual.has('token_embedding.weight'),
          `${name}: tied weights under both names`,
        );
        assert.ok(actual.has('transformer.1.mlp.c_proj.bias') && actual.has('half_buffer'), name);
        assert.ok(!actual.has('plain') && !actual.has('maybe'), `${name}: plain attributes are not parameters`);
      }
      for (const name of ['loop_setstate', 'alloc_setstate']) {
        const file = path.join(dir, `${name}.pt`);
        const result = readInChild(file);
        assert.equal(result.signal, null, `${name}: killed (${result.signal}) after ${result.ms} ms: ${result.output}`);
        assert.equal(result.status, 1, result.output);
        assert.match(
          result.output,
          new RegExp(`refused .*${name}\\.pt.*class __torch__\\.\\w+SetState defines __setstate__`),
        );
      }
      // The reader's own bound also holds for the file made by PyTorch, read in this process.
      writeFileSync(path.join(dir, 'copy.pt'), readFileSync(path.join(dir, 'loop_setstate.pt')));
      assert.throws(() => readTorchScriptFile(path.join(dir, 'copy.pt')), /copy\.pt.*defines __setstate__/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
