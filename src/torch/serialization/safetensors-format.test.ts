import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DTYPE_BYTES, numelOf, type DType, type RawTensor } from './raw-tensor.ts';
import {
  parseSafetensors,
  readSafetensorsFile,
  readSafetensorsFileSync,
  serializeSafetensors,
  writeSafetensorsFile,
  writeSafetensorsFileSync,
} from './safetensors-format.ts';

/** A file made from a literal header (object or raw text) and data section, for malformed cases. */
function fileWithHeader(header: unknown, data = new Uint8Array(0), declaredLength?: bigint): Uint8Array {
  const text = typeof header === 'string' ? header : JSON.stringify(header);
  const json = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, declaredLength ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function tensorOf(dtype: DType, shape: number[], seed: number): RawTensor {
  const data = new Uint8Array(numelOf(shape) * DTYPE_BYTES[dtype]);
  for (let i = 0; i < data.length; i++) data[i] = (i * 31 + seed * 7) & 0xff;
  if (dtype === 'bool') for (let i = 0; i < data.length; i++) data[i] = data[i]! & 1;
  return { dtype, shape, data };
}

test('every dtype round-trips through serialize and parse, with metadata', () => {
  const dtypes: DType[] = [
    'float32',
    'float64',
    'float16',
    'bfloat16',
    'int64',
    'int32',
    'int16',
    'int8',
    'uint8',
    'bool',
  ];
  const tensors = new Map<string, RawTensor>();
  dtypes.forEach((dtype, i) => tensors.set(`t.${dtype}`, tensorOf(dtype, [2, 3, i + 1], i)));
  tensors.set('scalar', tensorOf('float32', [], 99));
  tensors.set('empty', tensorOf('int64', [0, 4], 5));
  const metadata = { format: 'pt', note: 'héllo "quoted"' };

  const bytes = serializeSafetensors(tensors, metadata);
  const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal(headerLength % 8, 0, 'header padded to 8 bytes');
  assert.equal(bytes[8 + headerLength - 1] === 0x20 || bytes[8 + headerLength - 1] === 0x7d, true);

  const parsed = parseSafetensors(bytes);
  assert.deepEqual(parsed.metadata, metadata);
  assert.equal(parsed.tensors.size, tensors.size);
  for (const [name, original] of tensors) {
    const back = parsed.tensors.get(name);
    assert.ok(back, name);
    assert.equal(back.dtype, original.dtype, name);
    assert.deepEqual(back.shape, original.shape, name);
    assert.deepEqual([...back.data], [...original.data], name);
    assert.equal(back.data.buffer, bytes.buffer, `${name} is a view, not a copy`);
    assert.equal(Object.getPrototypeOf(back.data), Uint8Array.prototype);
  }
  // Keys are laid out in sorted order.
  assert.deepEqual([...parsed.tensors.keys()], [...tensors.keys()].sort());
});

test('serialize accepts a plain record and refuses inconsistent tensors', () => {
  const bytes = serializeSafetensors({ b: tensorOf('int8', [3], 1), a: tensorOf('uint8', [2], 2) });
  assert.deepEqual([...parseSafetensors(bytes).tensors.keys()], ['a', 'b']);
  assert.throws(
    () => serializeSafetensors({ bad: { dtype: 'float32', shape: [2], data: new Uint8Array(7) } }),
    /tensor "bad".*needs 8 bytes, data has 7/,
  );
  assert.throws(
    () => serializeSafetensors({ bad: { dtype: 'float32', shape: [-1], data: new Uint8Array(0) } }),
    /tensor "bad" shape \[-1\]/,
  );
  assert.throws(() => serializeSafetensors({ __metadata__: tensorOf('uint8', [1], 0) }), /reserved/);
});

test('files are written atomically and read back', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'safetensors-test-'));
  try {
    const path = join(dir, 'out.safetensors');
    const tensors = { x: tensorOf('float32', [4, 5], 3), y: tensorOf('int64', [2], 4) };
    await writeSafetensorsFile(path, tensors, { epoch: '3' });
    const back = await readSafetensorsFile(path);
    assert.deepEqual(back.metadata, { epoch: '3' });
    assert.deepEqual([...back.tensors.get('x')!.data], [...tensors.x.data]);
    writeSafetensorsFileSync(path, { z: tensorOf('bfloat16', [3], 5) });
    assert.deepEqual([...readSafetensorsFileSync(path).tensors.keys()], ['z']);
    assert.deepEqual(readdirSync(dir), ['out.safetensors'], 'no temporary files left behind');
    await assert.rejects(
      writeSafetensorsFile(join(dir, 'missing-dir', 'x.safetensors'), tensors),
      /writing safetensors .*missing-dir/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const validHeader = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
const eightBytes = new Uint8Array(8);

const malformed: [string, () => Uint8Array, RegExp][] = [
  ['file shorter than the length field', () => new Uint8Array(5), /bad\.st: truncated: 5 bytes/],
  [
    'header length larger than the file',
    () => fileWithHeader(validHeader, eightBytes, 10_000n),
    /header length 10000 is larger than the \d+ bytes/,
  ],
  [
    'header cut short',
    () => fileWithHeader(validHeader, eightBytes).subarray(0, 20),
    /header length \d+ is larger than the 12 bytes/,
  ],
  [
    'huge header length',
    () => fileWithHeader(validHeader, eightBytes, 1n << 62n),
    /header length 4611686018427387904 is larger/,
  ],
  ['header not JSON', () => fileWithHeader('{"a": ', eightBytes), /header is not valid JSON/],
  [
    'header not UTF-8',
    () => fileWithHeader('\u0000', eightBytes).map((b, i) => (i === 8 ? 0xff : b)),
    /not valid UTF-8/,
  ],
  ['header is an array', () => fileWithHeader([1, 2], eightBytes), /header must be a JSON object, got an array/],
  ['header is a number', () => fileWithHeader('42', eightBytes), /header must be a JSON object, got a number/],
  ['entry not an object', () => fileWithHeader({ a: 3 }), /tensor "a": entry must be an object/],
  [
    'unknown dtype',
    () => fileWithHeader({ a: { dtype: 'F8_E4M3', shape: [2], data_offsets: [0, 2] } }, eightBytes),
    /tensor "a": unknown dtype "F8_E4M3"/,
  ],
  [
    'missing dtype',
    () => fileWithHeader({ a: { shape: [2], data_offsets: [0, 8] } }, eightBytes),
    /tensor "a": unknown dtype undefined/,
  ],
  [
    'negative dimension',
    () => fileWithHeader({ a: { dtype: 'U8', shape: [-2], data_offsets: [0, 0] } }, eightBytes),
    /tensor "a": shape \[-2\] must hold non-negative integers/,
  ],
  [
    'fractional dimension',
    () => fileWithHeader({ a: { dtype: 'U8', shape: [1.5], data_offsets: [0, 1] } }, eightBytes),
    /tensor "a": shape \[1.5\]/,
  ],
  [
    'shape not an array',
    () => fileWithHeader({ a: { dtype: 'U8', shape: 4, data_offsets: [0, 4] } }, eightBytes),
    /tensor "a": shape must be an array/,
  ],
  [
    'offsets not a pair',
    () => fileWithHeader({ a: { dtype: 'U8', shape: [1], data_offsets: [0] } }, eightBytes),
    /tensor "a": data_offsets must be \[begin, end\]/,
  ],
  [
    'negative offset',
    () => fileWithHeader({ a: { dtype: 'U8', shape: [1], data_offsets: [-1, 0] } }, eightBytes),
    /tensor "a": data_offsets \[-1,0\] must be non-negative/,
  ],
  [
    'end before begin',
    () => fileWithHeader({ a: { dtype: 'U8', shape: [0], data_offsets: [4, 2] } }, eightBytes),
    /tensor "a": data_offsets \[4, 2\] end before begin/,
  ],
  [
    'offsets past the data',
    () => fileWithHeader({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, eightBytes),
    /tensor "a": data_offsets \[0, 16\] out of range: the data section holds 8 bytes/,
  ],
  [
    'size/shape mismatch',
    () => fileWithHeader({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, eightBytes),
    /tensor "a": size mismatch: shape \[3\] of F32 needs 12 bytes but data_offsets \[0, 8\] span 8/,
  ],
  [
    'overlapping tensors',
    () =>
      fileWithHeader(
        {
          a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
          b: { dtype: 'F32', shape: [1], data_offsets: [2, 6] },
        },
        eightBytes,
      ),
    /tensors "a" \[0, 4\] and "b" \[2, 6\] overlap/,
  ],
  [
    'a duplicated tensor name',
    () =>
      fileWithHeader(
        '{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[4,8]},"a":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}}',
        eightBytes,
      ),
    /tensor "a" appears twice in the header/,
  ],
  [
    'a duplicated name spelt with an escape',
    () =>
      fileWithHeader(
        '{"ab":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"a\\u0062":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}}',
        eightBytes,
      ),
    /tensor "ab" appears twice/,
  ],
  [
    'a duplicated field',
    () => fileWithHeader('{"x\\"y":{"dtype":"U8","shape":[4],"dtype":"F32","data_offsets":[0,4]}}', eightBytes),
    /tensor "x"y" has the field "dtype" twice/,
  ],
  [
    'metadata not an object',
    () => fileWithHeader({ __metadata__: ['x'], ...validHeader }, eightBytes),
    /__metadata__ must be an object of strings, got an array/,
  ],
  [
    'metadata value not a string',
    () => fileWithHeader({ __metadata__: { epoch: 3 }, ...validHeader }, eightBytes),
    /__metadata__\["epoch"\] must be a string, got a number/,
  ],
];

for (const [what, make, expected] of malformed) {
  test(`refuses a malformed file: ${what}`, () => {
    assert.throws(
      () => parseSafetensors(make(), 'bad.st'),
      (error: Error) => {
        assert.match(error.message, /^safetensors bad\.st: /);
        assert.match(error.message, expected);
        return true;
      },
    );
  });
}

test('a valid hand-made file with gaps and an empty tensor parses', () => {
  const parsed = parseSafetensors(
    fileWithHeader(
      {
        e: { dtype: 'I64', shape: [0], data_offsets: [2, 2] },
        a: { dtype: 'U8', shape: [2], data_offsets: [4, 6] },
      },
      Uint8Array.from([0, 1, 2, 3, 4, 5, 6, 7]),
    ),
  );
  assert.deepEqual([...parsed.tensors.get('a')!.data], [4, 5]);
  assert.equal(parsed.tensors.get('e')!.data.length, 0);
});
