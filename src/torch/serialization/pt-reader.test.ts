import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_PICKLE_BYTES, readPtBuffer, isLoadedTensor, type LoadedTensor } from './pt-reader.ts';
import {
  PickleWriter,
  buildPtArchive,
  buildZip,
  stateDictPickle,
  writeTensor,
  type TensorSpec,
} from './pt-test-archive.ts';

function float32Bytes(values: number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}

function asFloat32(tensor: LoadedTensor): number[] {
  return [...new Float32Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.length / 4)];
}

function tensorAt(value: unknown, key: string): LoadedTensor {
  const item = (value as Record<string, unknown>)[key];
  assert.ok(isLoadedTensor(item), `${key} should be a tensor`);
  return item;
}

const floatSpec = (key: string, storageNumel: number, shape: number[], stride: number[], offset = 0): TensorSpec => ({
  storageClass: 'FloatStorage',
  key,
  storageNumel,
  offset,
  shape,
  stride,
});

test('a float16 tensor, a transposed tensor, an offset view and a 0-d tensor come out C-contiguous', () => {
  const halfBits = [0x3c00, 0xc000, 0x3800, 0x7bff]; // 1, -2, 0.5, 65504
  const pickle = stateDictPickle({
    half: { storageClass: 'HalfStorage', key: 'h', storageNumel: 4, offset: 0, shape: [2, 2], stride: [2, 1] },
    transposed: floatSpec('f', 6, [3, 2], [1, 3]),
    row: floatSpec('f', 6, [2], [1], 4),
    scalar: floatSpec('f', 6, [], [], 5),
    everyOther: floatSpec('f', 6, [3], [2], 1),
    cropped: floatSpec('f', 6, [2, 2], [3, 1], 1),
    permuted: floatSpec('g', 12, [2, 3, 2], [1, 4, 2]),
  });
  // Read from a Buffer, as readPtFile does: its slice() would make views, not copies.
  const checkpoint = readPtBuffer(
    Buffer.from(
      buildPtArchive(pickle, {
        h: new Uint8Array(Uint16Array.from(halfBits).buffer),
        f: float32Bytes([0, 1, 2, 3, 4, 5]),
        g: float32Bytes([...Array(12).keys()]),
      }),
    ),
    'views.pt',
  ) as Record<string, unknown>;
  const half = tensorAt(checkpoint, 'half');
  assert.equal(half.dtype, 'float16');
  assert.deepEqual(half.shape, [2, 2]);
  assert.deepEqual([...new Uint16Array(half.data.buffer, half.data.byteOffset, 4)], halfBits);
  const transposed = tensorAt(checkpoint, 'transposed');
  assert.deepEqual(transposed.shape, [3, 2]);
  assert.deepEqual(asFloat32(transposed), [0, 3, 1, 4, 2, 5]);
  assert.deepEqual(asFloat32(tensorAt(checkpoint, 'row')), [4, 5]);
  assert.deepEqual(tensorAt(checkpoint, 'scalar').shape, []);
  assert.deepEqual(asFloat32(tensorAt(checkpoint, 'scalar')), [5]);
  assert.deepEqual(asFloat32(tensorAt(checkpoint, 'everyOther')), [1, 3, 5]);
  assert.deepEqual(asFloat32(tensorAt(checkpoint, 'cropped')), [1, 2, 4, 5]);
  // Tensors own their bytes: writing into one view of storage 'f' leaves the others untouched.
  tensorAt(checkpoint, 'row').data.fill(0);
  assert.deepEqual(asFloat32(tensorAt(checkpoint, 'scalar')), [5]);
  const permutedExpected: number[] = [];
  for (let i = 0; i < 2; i++)
    for (let j = 0; j < 3; j++) for (let k = 0; k < 2; k++) permutedExpected.push(i * 1 + j * 4 + k * 2);
  assert.deepEqual(asFloat32(tensorAt(checkpoint, 'permuted')), permutedExpected);
});

test('zip64 directories and protocol-4 opcodes (FRAME, BINUNICODE8, SHORT_BINBYTES, MEMOIZE)', () => {
  const body = new PickleWriter()
    .emptyDict()
    .memoize()
    .mark()
    .binunicode8('name')
    .binunicode8('héllo')
    .memoize()
    .shortBinunicode('blob')
    .shortBinbytes(Uint8Array.from([0, 255, 7]))
    .shortBinunicode('tensor');
  writeTensor(body, floatSpec('f', 2, [2], [1]))
    .setitems()
    .stop();
  const frameBody = body.bytes();
  const pickle = new PickleWriter()
    .proto(4)
    .frame(frameBody.length)
    .raw(...frameBody)
    .bytes();
  const value = readPtBuffer(
    buildPtArchive(pickle, { f: float32Bytes([7, 8]) }, { zip64: true }),
    'zip64.pt',
  ) as Record<string, unknown>;
  assert.equal(value.name, 'héllo');
  assert.deepEqual(value.blob, Uint8Array.from([0, 255, 7]));
  assert.deepEqual(asFloat32(tensorAt(value, 'tensor')), [7, 8]);
});

test('DEFLATE storages, shared tensors, int64/bool storages and Parameters', () => {
  const p = new PickleWriter().proto().emptyDict().mark();
  p.binunicode('a');
  writeTensor(p, floatSpec('f', 3, [3], [1])).binput(1);
  p.binunicode('again').binget(1); // the same tensor object referenced twice
  p.binunicode('param').global('torch._utils', '_rebuild_parameter');
  writeTensor(p.mark(), { storageClass: 'LongStorage', key: 'l', storageNumel: 2, offset: 0, shape: [2], stride: [1] });
  p.bool(false).global('collections', 'OrderedDict').emptyTuple().reduce().tuple().reduce();
  p.binunicode('mask');
  writeTensor(p, { storageClass: 'BoolStorage', key: 'b', storageNumel: 2, offset: 0, shape: [2], stride: [1] });
  const pickle = p.setitems().stop().bytes();
  const longs = new Uint8Array(BigInt64Array.from([-1n, 1n << 40n]).buffer);
  const checkpoint = readPtBuffer(
    buildPtArchive(
      pickle,
      {
        f: float32Bytes([1.5, 2.5, 3.5]),
        l: longs,
        b: Uint8Array.from([1, 0]),
      },
      { deflate: true },
    ),
    'deflate.pt',
  ) as Record<string, unknown>;
  assert.deepEqual(asFloat32(tensorAt(checkpoint, 'a')), [1.5, 2.5, 3.5]);
  assert.equal(checkpoint.again, checkpoint.a);
  const param = tensorAt(checkpoint, 'param');
  assert.equal(param.dtype, 'int64');
  assert.deepEqual([...new BigInt64Array(param.data.buffer, param.data.byteOffset, 2)], [-1n, 1n << 40n]);
  assert.deepEqual([...tensorAt(checkpoint, 'mask').data], [1, 0]);
});

test('one storage record viewed as two dtypes gives both views', () => {
  const pickle = stateDictPickle({
    asFloat: floatSpec('s', 2, [2], [1]),
    asInt: { storageClass: 'IntStorage', key: 's', storageNumel: 2, offset: 0, shape: [2], stride: [1] },
  });
  const checkpoint = readPtBuffer(buildPtArchive(pickle, { s: float32Bytes([1, -2]) }), 'views.pt') as Record<
    string,
    unknown
  >;
  assert.deepEqual(asFloat32(tensorAt(checkpoint, 'asFloat')), [1, -2]);
  const asInt = tensorAt(checkpoint, 'asInt');
  assert.equal(asInt.dtype, 'int32');
  assert.deepEqual([...new Uint32Array(asInt.data.buffer, asInt.data.byteOffset, 2)], [0x3f800000, 0xc0000000]);
});

test('plain values: numbers, big integers, floats, strings, lists, tuples, None, booleans, int-keyed dicts', () => {
  const p = new PickleWriter().proto().emptyDict().mark();
  p.binunicode('epoch').int(7);
  p.binunicode('negative').int(-5);
  p.binunicode('wide').int(70000);
  p.binunicode('huge').int(1n << 70n);
  p.binunicode('lr').binfloat(0.001);
  p.shortBinunicode('betas').binfloat(0.9).binfloat(0.999).tuple2();
  p.binunicode('params').emptyList().mark().int(0).int(1).appends();
  p.binunicode('nothing').none();
  p.binunicode('flag').bool(true);
  p.binunicode('state').emptyDict().int(0).shortBinunicode('zero').setitem();
  p.binunicode('__proto__').int(1);
  const value = readPtBuffer(buildPtArchive(p.setitems().stop().bytes(), {}), 'plain.pt') as Record<string, unknown>;
  assert.equal(value.epoch, 7);
  assert.equal(value.negative, -5);
  assert.equal(value.wide, 70000);
  assert.equal(value.huge, 1n << 70n);
  assert.equal(value.lr, 0.001);
  assert.deepEqual(value.betas, [0.9, 0.999]);
  assert.deepEqual(value.params, [0, 1]);
  assert.equal(value.nothing, null);
  assert.equal(value.flag, true);
  assert.deepEqual(value.state, new Map([[0, 'zero']]));
  // A "__proto__" key is ordinary data, not a prototype change.
  assert.equal(Object.getPrototypeOf(value), Object.prototype);
  assert.equal(Object.getOwnPropertyDescriptor(value, '__proto__')?.value, 1);
});

/** Wraps a hand-made pickle in an otherwise valid archive and expects the reader to refuse it. */
function assertRefused(pickle: Uint8Array, pattern: RegExp, storages: Record<string, Uint8Array> = {}): void {
  assert.throws(
    () => readPtBuffer(buildPtArchive(pickle, storages), 'hostile.pt'),
    (error: Error) => {
      assert.match(error.message, /hostile\.pt/);
      assert.match(error.message, pattern);
      return true;
    },
  );
}

test('globals outside the allowlist are refused by name, before anything is called', () => {
  const call = (module: string, name: string) =>
    new PickleWriter()
      .proto()
      .global(module, name)
      .mark()
      .shortBinunicode('echo pwned')
      .tuple()
      .reduce()
      .stop()
      .bytes();
  assertRefused(call('os', 'system'), /at byte 2 \(GLOBAL\).*'os\.system' is not allowed/);
  assertRefused(call('posix', 'system'), /'posix\.system' is not allowed/);
  assertRefused(call('builtins', 'eval'), /'builtins\.eval' is not allowed/);
  assertRefused(call('__builtin__', 'getattr'), /'__builtin__\.getattr' is not allowed/);
  assertRefused(call('torch', 'load'), /'torch\.load' is not allowed/);
  assertRefused(call('torch', '_utils._rebuild_tensor_v2'), /'torch\._utils\._rebuild_tensor_v2' is not allowed/);
  const stackGlobal = new PickleWriter()
    .proto()
    .shortBinunicode('os')
    .memoize()
    .shortBinunicode('system')
    .memoize()
    .stackGlobal()
    .shortBinunicode('id')
    .tuple1()
    .reduce()
    .stop()
    .bytes();
  assertRefused(stackGlobal, /STACK_GLOBAL.*'os\.system' is not allowed/);
});

test('allowed globals used the wrong way are refused', () => {
  // A storage class called directly, REDUCE on a non-callable, BUILD on a tensor, a forged persistent id.
  assertRefused(
    new PickleWriter().proto().global('torch', 'FloatStorage').emptyTuple().reduce().stop().bytes(),
    /only valid inside persistent ids/,
  );
  assertRefused(
    new PickleWriter().proto().shortBinunicode('x').emptyTuple().reduce().stop().bytes(),
    /REDUCE needs a callable global/,
  );
  assertRefused(
    new PickleWriter()
      .proto()
      .mark()
      .shortBinunicode('file')
      .shortBinunicode('/etc/passwd')
      .tuple()
      .binpersid()
      .stop()
      .bytes(),
    /persistent id.*expected \('storage'/,
  );
  const built = writeTensor(new PickleWriter().proto(), floatSpec('f', 2, [2], [1]))
    .emptyDict()
    .build()
    .stop()
    .bytes();
  assertRefused(built, /BUILD on .* not supported/, { f: float32Bytes([1, 2]) });
});

test('malformed pickles: truncation, unknown and unsupported opcodes, stack underflow', () => {
  const whole = stateDictPickle({ w: floatSpec('f', 2, [2], [1]) });
  assertRefused(whole.subarray(0, 40), /truncated/, { f: float32Bytes([1, 2]) });
  assertRefused(whole.subarray(0, whole.length - 1), /ends without a STOP/, { f: float32Bytes([1, 2]) });
  assertRefused(new PickleWriter().proto().raw(0xff).stop().bytes(), /at byte 2 .*unknown opcode byte 0xff/);
  assertRefused(
    new PickleWriter()
      .proto()
      .raw(0x69)
      .raw(...Buffer.from('os\nsystem\n'))
      .stop()
      .bytes(),
    /opcode INST \(0x69\) is not supported/,
  );
  assertRefused(new PickleWriter().proto().tuple2().stop().bytes(), /stack underflow/);
  assertRefused(new PickleWriter().proto().binget(9).stop().bytes(), /memo slot 9 was never stored/);
  assertRefused(new PickleWriter().proto(6).none().stop().bytes(), /protocol 6/);
  const deep = new PickleWriter().proto();
  for (let i = 0; i < 2000; i++) deep.emptyList().mark();
  for (let i = 0; i < 2000; i++) deep.appends();
  assertRefused(deep.stop().bytes(), /nested more than 1000 deep/);
});

test('a list that contains itself keeps its cycle instead of recursing forever', () => {
  const pickle = new PickleWriter().proto().emptyList().binput(0).mark().binget(0).int(1).appends().stop().bytes();
  const value = readPtBuffer(buildPtArchive(pickle, {}), 'cycle.pt') as unknown[];
  assert.equal(value[0], value);
  assert.equal(value[1], 1);
});

test('tensors that reach past their storage, and storages shorter than declared, are refused', () => {
  const overreach = stateDictPickle({ 'layer.weight': floatSpec('f', 6, [10], [1]) });
  assertRefused(overreach, /\["layer\.weight"\].*past the 6 elements of its storage/, {
    f: float32Bytes([0, 1, 2, 3, 4, 5]),
  });
  const strided = stateDictPickle({ t: floatSpec('f', 6, [3, 2], [2, 3]) });
  assertRefused(strided, /\["t"\].*reaches element 7/, { f: float32Bytes([0, 1, 2, 3, 4, 5]) });
  const shortFile = stateDictPickle({ t: floatSpec('f', 6, [6], [1]) });
  assertRefused(shortFile, /'archive\/data\/f' holds 8 bytes, but 6 x float32 needs 24/, { f: float32Bytes([0, 1]) });
  assertRefused(shortFile, /no archive entry 'archive\/data\/f'/);
});

test('a compressed storage declaring more than its storage needs is refused before it is inflated', () => {
  // 4 MiB of zeros deflate to about 4 KB; the pickle's storage needs 16 bytes of it.
  const pickle = stateDictPickle({ 'visual.proj': floatSpec('big', 4, [4], [1]) });
  const archive = buildPtArchive(pickle, { big: new Uint8Array(4 << 20) }, { deflate: true });
  assert.ok(archive.length < 64 * 1024);
  assert.throws(
    () => readPtBuffer(archive, 'bomb.pt'),
    (error: Error) =>
      /bomb\.pt/.test(error.message) &&
      /storage 'archive\/data\/big' is compressed and declares 4194304 bytes, more than the 16 bytes of its 4 x float32; refused before inflating/.test(
        error.message,
      ),
  );
  // The same storage at its true size inflates and reads.
  const fits = buildPtArchive(
    stateDictPickle({ t: floatSpec('big', 1 << 20, [2], [1]) }),
    { big: new Uint8Array(4 << 20) },
    { deflate: true },
  );
  assert.deepEqual(asFloat32(tensorAt(readPtBuffer(fits, 'fits.pt'), 't')), [0, 0]);
  // An entry that inflates to more than it declares stops at the declared size and is refused.
  const liar = Buffer.from(
    buildPtArchive(
      stateDictPickle({ t: floatSpec('big', 4, [4], [1]) }),
      { big: new Uint8Array(4 << 20) },
      { deflate: true },
    ),
  );
  const entryName = Buffer.from('archive/data/big');
  let central = liar.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
  while (!liar.subarray(central + 46, central + 46 + entryName.length).equals(entryName))
    central = liar.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]), central + 4);
  liar.writeUInt32LE(16, central + 24);
  assert.throws(
    () => readPtBuffer(liar, 'liar.pt'),
    /liar\.pt: entry 'archive\/data\/big' does not inflate to its declared 16 bytes/,
  );
  // A pickle entry is bounded too: one that declares more than MAX_PICKLE_BYTES is refused unread.
  const hugePickle = Buffer.from(buildZip([{ name: 'archive/data.pkl', data: stateDictPickle({}), deflate: true }]));
  const sizeAt = hugePickle.lastIndexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02])) + 24;
  hugePickle.writeUInt32LE(MAX_PICKLE_BYTES + 1, sizeAt);
  assert.throws(
    () => readPtBuffer(hugePickle, 'pickle.pt'),
    /entry 'archive\/data\.pkl' declares 268435457 bytes, more than the 268435456 allowed for a pickle/,
  );
});

test('stride-0 views: small ones are expanded, ones that would expand past the limit are refused by name', () => {
  const storages = { s: float32Bytes([2.5]) };
  const small = readPtBuffer(
    buildPtArchive(stateDictPickle({ row: floatSpec('s', 1, [2, 3], [0, 0]) }), storages),
    'expand.pt',
  );
  assert.deepEqual(asFloat32(tensorAt(small, 'row')), [2.5, 2.5, 2.5, 2.5, 2.5, 2.5]);
  // 764 bytes of file asking for 8 GB: 2^31 float32 elements over a 1-element storage.
  const started = Date.now();
  assertRefused(
    stateDictPickle({ 'visual.class_embedding': floatSpec('s', 1, [1 << 16, 1 << 15], [0, 0]) }),
    /\["visual\.class_embedding"\].*has 2147483648 elements viewing a storage of 1 \(a stride-0 or overlapping view\) and would expand to 8589934592 bytes/,
    storages,
  );
  assert.ok(Date.now() - started < 5000);
});

test('corrupt archives are refused with the file and the fault', () => {
  const good = buildPtArchive(stateDictPickle({ t: floatSpec('f', 2, [2], [1]) }), { f: float32Bytes([1, 2]) });
  const refused = (bytes: Uint8Array, pattern: RegExp) =>
    assert.throws(
      () => readPtBuffer(bytes, 'corrupt.pt'),
      (error: Error) => /corrupt\.pt/.test(error.message) && pattern.test(error.message),
    );

  const badDirectoryOffset = Buffer.from(good);
  const end = badDirectoryOffset.length - 22;
  badDirectoryOffset.writeUInt32LE(badDirectoryOffset.readUInt32LE(end + 16) + 7, end + 16);
  refused(badDirectoryOffset, /central directory/);

  const pastEnd = Buffer.from(good);
  pastEnd.writeUInt32LE(0x7fffffff, end + 16);
  refused(pastEnd, /central directory .* extends past/);

  const flipped = Buffer.from(good);
  flipped[flipped.indexOf('archive/data/f') + 'archive/data/f'.length] ^= 0xff; // first byte of the storage
  refused(flipped, /entry 'archive\/data\/f' is corrupt: CRC-32/);

  refused(good.subarray(0, good.length - 30), /no end-of-central-directory record/);
  refused(buildZip([{ name: 'weights.bin', data: Uint8Array.from([1]) }]), /exactly one '<prefix>\/data\.pkl'/);
  refused(Uint8Array.from([0x80, 0x02, 0x8a, 0x0a]), /legacy/);
  refused(buildPtArchive(stateDictPickle({}), {}, { byteorder: 'big' }), /big-endian/);
});
