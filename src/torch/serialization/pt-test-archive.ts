/**
 * Test helpers: hand-assembled pickles and zip archives in torch.save's layout, so the `.pt` reader's
 * tests (valid and hostile inputs alike) need no Python. Not used by the library itself.
 */
import { crc32, deflateRawSync } from 'node:zlib';

/** Emits pickle opcodes byte by byte; method names follow the opcode names. */
export class PickleWriter {
  private readonly parts: number[] = [];

  raw(...bytes: number[]): this {
    this.parts.push(...bytes);
    return this;
  }
  private u32(value: number): this {
    return this.raw(value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, (value >>> 24) & 0xff);
  }
  private text(value: string): number[] {
    return [...Buffer.from(value, 'utf8')];
  }

  proto(version = 2): this {
    return this.raw(0x80, version);
  }
  stop(): this {
    return this.raw(0x2e);
  }
  mark(): this {
    return this.raw(0x28);
  }
  none(): this {
    return this.raw(0x4e);
  }
  bool(value: boolean): this {
    return this.raw(value ? 0x88 : 0x89);
  }
  emptyDict(): this {
    return this.raw(0x7d);
  }
  emptyList(): this {
    return this.raw(0x5d);
  }
  emptyTuple(): this {
    return this.raw(0x29);
  }
  tuple(): this {
    return this.raw(0x74);
  }
  tuple1(): this {
    return this.raw(0x85);
  }
  tuple2(): this {
    return this.raw(0x86);
  }
  setitem(): this {
    return this.raw(0x73);
  }
  setitems(): this {
    return this.raw(0x75);
  }
  appends(): this {
    return this.raw(0x65);
  }
  reduce(): this {
    return this.raw(0x52);
  }
  build(): this {
    return this.raw(0x62);
  }
  binpersid(): this {
    return this.raw(0x51);
  }
  stackGlobal(): this {
    return this.raw(0x93);
  }
  memoize(): this {
    return this.raw(0x94);
  }
  frame(length: number): this {
    return this.raw(0x95, length & 0xff, (length >> 8) & 0xff, 0, 0, 0, 0, 0, 0);
  }
  shortBinbytes(value: Uint8Array): this {
    return this.raw(0x43, value.length, ...value);
  }
  binunicode8(value: string): this {
    const bytes = this.text(value);
    return this.raw(0x8d)
      .u32(bytes.length)
      .u32(0)
      .raw(...bytes);
  }
  binput(index: number): this {
    return this.raw(0x71, index);
  }
  binget(index: number): this {
    return this.raw(0x68, index);
  }
  binfloat(value: number): this {
    const bytes = Buffer.alloc(8);
    bytes.writeDoubleBE(value);
    return this.raw(0x47, ...bytes);
  }
  binunicode(value: string): this {
    const bytes = this.text(value);
    return this.raw(0x58)
      .u32(bytes.length)
      .raw(...bytes);
  }
  shortBinunicode(value: string): this {
    const bytes = this.text(value);
    return this.raw(0x8c, bytes.length, ...bytes);
  }
  /** The smallest integer opcode for `value` (BININT1, BININT2, BININT or LONG1). */
  int(value: number | bigint): this {
    if (typeof value === 'number' && value >= 0 && value < 0x100) return this.raw(0x4b, value);
    if (typeof value === 'number' && value >= 0 && value < 0x10000) return this.raw(0x4d, value & 0xff, value >> 8);
    if (typeof value === 'number' && value >= -0x80000000 && value < 0x80000000) return this.raw(0x4a).u32(value >>> 0);
    let rest = BigInt(value);
    const bytes: number[] = [];
    do {
      bytes.push(Number(rest & 0xffn));
      rest >>= 8n;
    } while (
      !(rest === 0n && (bytes[bytes.length - 1] & 0x80) === 0) &&
      !(rest === -1n && (bytes[bytes.length - 1] & 0x80) !== 0)
    );
    return this.raw(0x8a, bytes.length, ...bytes);
  }
  global(module: string, name: string): this {
    return this.raw(0x63, ...this.text(`${module}\n${name}\n`));
  }
  intTuple(values: number[]): this {
    this.mark();
    for (const v of values) this.int(v);
    return this.tuple();
  }

  bytes(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

export interface TensorSpec {
  storageClass: string;
  key: string;
  storageNumel: number;
  offset: number;
  shape: number[];
  stride: number[];
}

/** `_rebuild_tensor_v2((persistent storage id), offset, shape, stride, False, OrderedDict())`, as torch.save writes it. */
export function writeTensor(p: PickleWriter, spec: TensorSpec): PickleWriter {
  p.global('torch._utils', '_rebuild_tensor_v2').mark();
  p.mark()
    .binunicode('storage')
    .global('torch', spec.storageClass)
    .binunicode(spec.key)
    .binunicode('cpu')
    .int(spec.storageNumel)
    .tuple()
    .binpersid();
  p.int(spec.offset).intTuple(spec.shape).intTuple(spec.stride).bool(false);
  p.global('collections', 'OrderedDict').emptyTuple().reduce();
  return p.tuple().reduce();
}

/** A pickle of `{name: tensor, ...}` (an OrderedDict, like `state_dict()`). */
export function stateDictPickle(tensors: Record<string, TensorSpec>): Uint8Array {
  const p = new PickleWriter().proto().global('collections', 'OrderedDict').emptyTuple().reduce().mark();
  for (const [name, spec] of Object.entries(tensors)) writeTensor(p.binunicode(name), spec);
  return p.setitems().stop().bytes();
}

export interface ZipInput {
  name: string;
  data: Uint8Array;
  deflate?: boolean;
}

/**
 * A zip archive with STORED or DEFLATE entries and correct CRCs. With `zip64`, every size and offset in
 * the central directory is saturated and given in zip64 extra fields, and a zip64 end record is added
 * (what writers do past 4 GiB; torch.save always adds the zip64 end record).
 */
export function buildZip(entries: ZipInput[], options: { zip64?: boolean } = {}): Uint8Array {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.from(entry.name, 'utf8');
    const stored = entry.deflate ? deflateRawSync(entry.data) : Buffer.from(entry.data);
    const method = entry.deflate ? 8 : 0;
    const crc = crc32(entry.data) >>> 0;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(method, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(stored.length, 18);
    local.writeUInt32LE(entry.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    locals.push(local, name, stored);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(method, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(options.zip64 ? 0xffffffff : stored.length, 20);
    central.writeUInt32LE(options.zip64 ? 0xffffffff : entry.data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(options.zip64 ? 0xffffffff : offset, 42);
    if (options.zip64) {
      const extra = Buffer.alloc(4 + 24);
      extra.writeUInt16LE(0x0001, 0);
      extra.writeUInt16LE(24, 2);
      extra.writeBigUInt64LE(BigInt(entry.data.length), 4);
      extra.writeBigUInt64LE(BigInt(stored.length), 12);
      extra.writeBigUInt64LE(BigInt(offset), 20);
      central.writeUInt16LE(extra.length, 30);
      centrals.push(central, name, extra);
    } else {
      centrals.push(central, name);
    }
    offset += local.length + name.length + stored.length;
  }
  const directory = Buffer.concat(centrals);
  const zip64End: Buffer[] = [];
  if (options.zip64) {
    const record = Buffer.alloc(56);
    record.writeUInt32LE(0x06064b50, 0);
    record.writeBigUInt64LE(44n, 4);
    record.writeUInt16LE(45, 12);
    record.writeBigUInt64LE(BigInt(entries.length), 24);
    record.writeBigUInt64LE(BigInt(entries.length), 32);
    record.writeBigUInt64LE(BigInt(directory.length), 40);
    record.writeBigUInt64LE(BigInt(offset), 48);
    const locator = Buffer.alloc(20);
    locator.writeUInt32LE(0x07064b50, 0);
    locator.writeBigUInt64LE(BigInt(offset + directory.length), 8);
    locator.writeUInt32LE(1, 16);
    zip64End.push(record, locator);
  }
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(options.zip64 ? 0xffff : entries.length, 8);
  end.writeUInt16LE(options.zip64 ? 0xffff : entries.length, 10);
  end.writeUInt32LE(options.zip64 ? 0xffffffff : directory.length, 12);
  end.writeUInt32LE(options.zip64 ? 0xffffffff : offset, 16);
  return new Uint8Array(Buffer.concat([...locals, directory, ...zip64End, end]));
}

/** A torch.save-style archive: `archive/data.pkl`, `archive/data/<key>`, `archive/version`, `archive/byteorder`. */
export function buildPtArchive(
  pickle: Uint8Array,
  storages: Record<string, Uint8Array>,
  options: { byteorder?: string; deflate?: boolean; zip64?: boolean } = {},
): Uint8Array {
  const entries: ZipInput[] = [{ name: 'archive/data.pkl', data: pickle }];
  for (const [key, data] of Object.entries(storages))
    entries.push({ name: `archive/data/${key}`, data, deflate: options.deflate });
  entries.push({ name: 'archive/version', data: Buffer.from('3\n') });
  entries.push({ name: 'archive/byteorder', data: Buffer.from(options.byteorder ?? 'little') });
  return buildZip(entries, { zip64: options.zip64 });
}
