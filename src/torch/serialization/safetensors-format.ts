/**
 * The safetensors file format (https://github.com/huggingface/safetensors) on plain bytes:
 * `[u64 little-endian header length N][N bytes of JSON header][data section]`.
 * The header maps tensor names to `{dtype, shape, data_offsets: [begin, end]}` (offsets relative to the
 * data section) plus an optional `__metadata__` string->string map.
 *
 * Reading never trusts the header: every offset, size and type is checked against the buffer before
 * a view is made, so a malformed or hostile file is refused with an Error that names the file, the
 * tensor and the fault.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync, renameSync, unlinkSync, openSync, fsyncSync, closeSync } from 'node:fs';
import { readFile, rename, unlink, open } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { DTYPE_BYTES, numelOf, type DType, type RawTensor } from './raw-tensor.ts';

/** Headers larger than this are refused: real headers are kilobytes; a huge one is a corrupt length. */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

const METADATA_KEY = '__metadata__';

const DTYPE_FROM_CODE: Record<string, DType> = {
  F32: 'float32',
  F64: 'float64',
  F16: 'float16',
  BF16: 'bfloat16',
  I64: 'int64',
  I32: 'int32',
  I16: 'int16',
  I8: 'int8',
  U8: 'uint8',
  BOOL: 'bool',
};

const CODE_FROM_DTYPE: Record<DType, string> = {
  float32: 'F32',
  float64: 'F64',
  float16: 'F16',
  bfloat16: 'BF16',
  int64: 'I64',
  int32: 'I32',
  int16: 'I16',
  int8: 'I8',
  uint8: 'U8',
  bool: 'BOOL',
};

export interface SafetensorsContents {
  /** Tensors in header order; each `data` is a view into the parsed buffer (no copy). */
  tensors: Map<string, RawTensor>;
  metadata: Record<string, string>;
}

export type TensorCollection = Map<string, RawTensor> | Record<string, RawTensor>;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  return `a ${typeof value}`;
}

/** One tensor of a safetensors header: where its bytes lie in the data section. */
export interface SafetensorsEntry {
  name: string;
  dtype: DType;
  shape: number[];
  /** Byte offsets relative to the data section, end exclusive. */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  /** In header order. */
  entries: SafetensorsEntry[];
  metadata: Record<string, string>;
  /** Where the data section starts in the file (8 + header length). */
  dataStart: number;
}

/**
 * The header length field of a file of `fileSize` bytes whose first 8 bytes are `prefix`, checked
 * against the file and the header limit.
 */
export function safetensorsHeaderLength(prefix: Uint8Array, fileSize: number, source: string): number {
  const fail = (what: string): never => {
    throw new Error(`safetensors ${source}: ${what}`);
  };
  if (fileSize < 8 || prefix.length < 8) {
    fail(`truncated: ${fileSize} bytes, shorter than the 8-byte header length field`);
  }
  const headerLengthBig = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  const available = fileSize - 8;
  if (headerLengthBig > BigInt(available)) {
    fail(
      `header length ${headerLengthBig} is larger than the ${available} bytes that follow it (truncated or not a safetensors file)`,
    );
  }
  if (headerLengthBig > BigInt(MAX_HEADER_BYTES)) {
    fail(`header length ${headerLengthBig} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  }
  return Number(headerLengthBig);
}

/** Parses a safetensors file held in memory. `source` names it in error messages. */
export function parseSafetensors(bytes: Uint8Array, source = '<buffer>'): SafetensorsContents {
  const headerLength = safetensorsHeaderLength(bytes, bytes.length, source);
  const header = parseSafetensorsHeader(bytes.subarray(8, 8 + headerLength), bytes.length, source);
  const tensors = new Map<string, RawTensor>();
  for (const { name, dtype, shape, begin, end } of header.entries) {
    // A plain Uint8Array view (not a Buffer, whose slice() would alias instead of copying).
    tensors.set(name, {
      dtype,
      shape,
      data: new Uint8Array(bytes.buffer, bytes.byteOffset + header.dataStart + begin, end - begin),
    });
  }
  return { tensors, metadata: header.metadata };
}

/**
 * Parses and checks the JSON header (the bytes after the length field) of a file of `fileSize` bytes:
 * every entry's dtype, shape and offsets against the data section, duplicates and overlaps.
 */
export function parseSafetensorsHeader(headerBytes: Uint8Array, fileSize: number, source: string): SafetensorsHeader {
  const fail = (what: string): never => {
    throw new Error(`safetensors ${source}: ${what}`);
  };
  const headerLength = headerBytes.length;
  const dataStart = 8 + headerLength;
  const dataLength = fileSize - dataStart;

  let headerText: string;
  try {
    headerText = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    return fail(`header (${headerLength} bytes) is not valid UTF-8`);
  }
  let header: unknown;
  try {
    header = JSON.parse(headerText);
  } catch (error) {
    return fail(`header is not valid JSON: ${(error as Error).message}`);
  }
  if (!isPlainObject(header)) {
    return fail(`header must be a JSON object, got ${describe(header)}`);
  }
  const duplicate = firstDuplicateKey(headerText);
  if (duplicate !== undefined) {
    const [top, ...inner] = duplicate;
    const what = top === METADATA_KEY ? `"${METADATA_KEY}"` : `tensor "${top}"`;
    fail(
      inner.length === 0
        ? `${what} appears twice in the header (the reference reader refuses duplicated names)`
        : `${what} has the field ${inner.map((k) => `"${k}"`).join('.')} twice`,
    );
  }

  const metadata = parseMetadata(header[METADATA_KEY], fail);
  const entries: SafetensorsEntry[] = [];
  const extents: { name: string; begin: number; end: number }[] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === METADATA_KEY) continue;
    const failTensor = (what: string): never => fail(`tensor "${name}": ${what}`);
    if (!isPlainObject(entry)) failTensor(`entry must be an object, got ${describe(entry)}`);
    const info = entry as Record<string, unknown>;

    const code = info.dtype;
    if (typeof code !== 'string' || !Object.hasOwn(DTYPE_FROM_CODE, code)) {
      failTensor(`unknown dtype ${JSON.stringify(code)}; expected one of ${Object.keys(DTYPE_FROM_CODE).join(', ')}`);
    }
    const dtype = DTYPE_FROM_CODE[code as string]!;

    const shape = info.shape;
    if (!Array.isArray(shape)) failTensor(`shape must be an array, got ${describe(shape)}`);
    for (const dim of shape as unknown[]) {
      if (typeof dim !== 'number' || !Number.isSafeInteger(dim) || dim < 0) {
        failTensor(`shape ${JSON.stringify(shape)} must hold non-negative integers`);
      }
    }
    const dims = shape as number[];

    const offsets = info.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2) {
      failTensor(`data_offsets must be [begin, end], got ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as unknown[];
    if (
      typeof begin !== 'number' ||
      typeof end !== 'number' ||
      !Number.isSafeInteger(begin) ||
      !Number.isSafeInteger(end) ||
      begin < 0 ||
      end < 0
    ) {
      failTensor(`data_offsets ${JSON.stringify(offsets)} must be non-negative integers`);
    }
    const b = begin as number;
    const e = end as number;
    if (b > e) failTensor(`data_offsets [${b}, ${e}] end before begin`);
    if (e > dataLength) {
      failTensor(`data_offsets [${b}, ${e}] out of range: the data section holds ${dataLength} bytes`);
    }

    const expectedBytes = numelOf(dims) * DTYPE_BYTES[dtype];
    if (!Number.isSafeInteger(expectedBytes) || e - b !== expectedBytes) {
      failTensor(
        `size mismatch: shape ${JSON.stringify(dims)} of ${code} needs ${expectedBytes} bytes but data_offsets [${b}, ${e}] span ${e - b}`,
      );
    }
    entries.push({ name, dtype, shape: dims.slice(), begin: b, end: e });
    extents.push({ name, begin: b, end: e });
  }

  // Overlap check on extents sorted by start; empty tensors occupy nothing and cannot overlap.
  extents.sort((x, y) => x.begin - y.begin || x.end - y.end);
  let previous: { name: string; begin: number; end: number } | undefined;
  for (const extent of extents) {
    if (extent.begin === extent.end) continue;
    if (previous && extent.begin < previous.end) {
      fail(
        `tensors "${previous.name}" [${previous.begin}, ${previous.end}] and "${extent.name}" [${extent.begin}, ${extent.end}] overlap`,
      );
    }
    previous = extent;
  }
  return { entries, metadata, dataStart };
}

/**
 * The first key that an object of the header repeats (JSON.parse keeps the last silently), as a path
 * (`"name"` at the top level, `"name"."dtype"` inside an entry), by one linear scan of text that
 * already parsed as JSON.
 */
function firstDuplicateKey(text: string): string[] | undefined {
  // One frame per open '{' or '[': its keys so far (objects only) and whether a key comes next.
  const frames: { keys?: Set<string>; expectKey: boolean; key?: string }[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const frame = frames[frames.length - 1];
    if (c === 0x22) {
      // '"'
      let end = i + 1;
      while (text.charCodeAt(end) !== 0x22) end += text.charCodeAt(end) === 0x5c ? 2 : 1;
      if (frame?.keys && frame.expectKey) {
        const key = JSON.parse(text.slice(i, end + 1)) as string;
        if (frame.keys.has(key))
          return [
            ...frames
              .slice(0, -1)
              .filter((f) => f.keys)
              .map((f) => f.key ?? ''),
            key,
          ];
        frame.keys.add(key);
        frame.key = key;
        frame.expectKey = false;
      }
      i = end;
    } else if (c === 0x7b) {
      // '{'
      frames.push({ keys: new Set(), expectKey: true });
    } else if (c === 0x5b) {
      // '['
      frames.push({ expectKey: false });
    } else if (c === 0x7d || c === 0x5d) {
      // '}' ']'
      frames.pop();
    } else if (c === 0x2c && frame?.keys) {
      // ','
      frame.expectKey = true;
    }
  }
  return undefined;
}

function parseMetadata(value: unknown, fail: (what: string) => never): Record<string, string> {
  const metadata: Record<string, string> = {};
  if (value === undefined) return metadata;
  if (!isPlainObject(value)) return fail(`${METADATA_KEY} must be an object of strings, got ${describe(value)}`);
  for (const [key, entry] of Object.entries(value)) {
    if (typeof entry !== 'string') {
      fail(`${METADATA_KEY}["${key}"] must be a string, got ${describe(entry)}`);
    }
    metadata[key] = entry as string;
  }
  return metadata;
}

/** Reads and validates a safetensors file; tensor data are views into the file's bytes. */
export async function readSafetensorsFile(path: string): Promise<SafetensorsContents> {
  const bytes = await readFile(path);
  return parseSafetensors(bytes, path);
}

export function readSafetensorsFileSync(path: string): SafetensorsContents {
  return parseSafetensors(readFileSync(path), path);
}

function entriesOf(tensors: TensorCollection): [string, RawTensor][] {
  return tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
}

/**
 * Serialises tensors to safetensors bytes. Tensors are laid out in sorted name order with no gaps,
 * and the header is padded with spaces to a multiple of 8 bytes, as the reference writer does, so
 * the data section starts 8-byte aligned.
 */
export function serializeSafetensors(tensors: TensorCollection, metadata?: Record<string, string>): Uint8Array {
  const entries = entriesOf(tensors).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const headerParts: string[] = [];
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [key, value] of Object.entries(metadata)) {
      if (typeof value !== 'string') {
        throw new Error(`serializeSafetensors: metadata["${key}"] must be a string, got ${describe(value)}`);
      }
    }
    headerParts.push(`${JSON.stringify(METADATA_KEY)}:${JSON.stringify(metadata)}`);
  }
  let offset = 0;
  for (const [name, tensor] of entries) {
    if (name === METADATA_KEY)
      throw new Error(`serializeSafetensors: "${METADATA_KEY}" is reserved and cannot name a tensor`);
    const code = CODE_FROM_DTYPE[tensor.dtype];
    if (code === undefined)
      throw new Error(`serializeSafetensors: tensor "${name}" has unknown dtype ${JSON.stringify(tensor.dtype)}`);
    for (const dim of tensor.shape) {
      if (!Number.isSafeInteger(dim) || dim < 0) {
        throw new Error(
          `serializeSafetensors: tensor "${name}" shape ${JSON.stringify(tensor.shape)} must hold non-negative integers`,
        );
      }
    }
    const expectedBytes = numelOf(tensor.shape) * DTYPE_BYTES[tensor.dtype];
    if (tensor.data.byteLength !== expectedBytes) {
      throw new Error(
        `serializeSafetensors: tensor "${name}" shape ${JSON.stringify(tensor.shape)} of ${tensor.dtype} needs ${expectedBytes} bytes, data has ${tensor.data.byteLength}`,
      );
    }
    const info = `{"dtype":"${code}","shape":${JSON.stringify(tensor.shape)},"data_offsets":[${offset},${offset + expectedBytes}]}`;
    headerParts.push(`${JSON.stringify(name)}:${info}`);
    offset += expectedBytes;
  }
  const headerJson = new TextEncoder().encode(`{${headerParts.join(',')}}`);
  const padding = (8 - (headerJson.length % 8)) % 8;
  const headerLength = headerJson.length + padding;

  const out = new Uint8Array(8 + headerLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(headerJson, 8);
  out.fill(0x20, 8 + headerJson.length, 8 + headerLength);
  let position = 8 + headerLength;
  for (const [, tensor] of entries) {
    out.set(tensor.data, position);
    position += tensor.data.byteLength;
  }
  return out;
}

function temporaryPathBeside(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

/**
 * Writes a safetensors file atomically: the bytes go to a temporary file in the same directory,
 * are flushed, then renamed over `path`, so readers never see a half-written file.
 */
export async function writeSafetensorsFile(
  path: string,
  tensors: TensorCollection,
  metadata?: Record<string, string>,
): Promise<void> {
  const bytes = serializeSafetensors(tensors, metadata);
  const temporary = temporaryPathBeside(path);
  try {
    const handle = await open(temporary, 'wx');
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, path);
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    throw new Error(`writing safetensors ${path}: ${(error as Error).message}`, { cause: error });
  }
}

export function writeSafetensorsFileSync(
  path: string,
  tensors: TensorCollection,
  metadata?: Record<string, string>,
): void {
  const bytes = serializeSafetensors(tensors, metadata);
  const temporary = temporaryPathBeside(path);
  try {
    writeFileSync(temporary, bytes, { flag: 'wx' });
    const fd = openSync(temporary, 'r+');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, path);
  } catch (error) {
    try {
      unlinkSync(temporary);
    } catch {
      /* already gone */
    }
    throw new Error(`writing safetensors ${path}: ${(error as Error).message}`, { cause: error });
  }
}
