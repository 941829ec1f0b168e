/**
 * A read-only zip archive over an in-memory buffer: the container format of `torch.save` checkpoints.
 * Only the central directory is parsed up front; an entry's bytes are located, checked and (for DEFLATE)
 * inflated when it is read. Every offset and size comes from the file, so each one is checked against
 * the buffer before it is used, and a malformed archive is refused with an Error naming the file.
 */
import { crc32, inflateRawSync } from 'node:zlib';

const EOCD_SIGNATURE = 0x06054b50;
const EOCD_SIZE = 22;
const MAX_COMMENT_LENGTH = 0xffff;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_LOCATOR_SIZE = 20;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
const ZIP64_EOCD_FIXED_SIZE = 56;
const CENTRAL_HEADER_SIGNATURE = 0x02014b50;
const CENTRAL_HEADER_SIZE = 46;
const LOCAL_HEADER_SIGNATURE = 0x04034b50;
const LOCAL_HEADER_SIZE = 30;
const ZIP64_EXTRA_ID = 0x0001;
const FLAG_ENCRYPTED = 0x0001;

export const ZIP_METHOD_STORED = 0;
export const ZIP_METHOD_DEFLATE = 8;

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  uncompressedSize: number;
  crc32: number;
  localHeaderOffset: number;
}

/** Reads a little-endian u64 as a number, refusing values past 2^53 (no real archive is that big). */
function readSafeU64(view: DataView, offset: number, fail: (what: string) => never, field: string): number {
  const value = view.getBigUint64(offset, true);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) fail(`${field} ${value} is too large`);
  return Number(value);
}

export class ZipArchive {
  readonly source: string;
  private readonly bytes: Uint8Array;
  private readonly view: DataView;
  private readonly entriesByName = new Map<string, ZipEntry>();

  /** `source` names the archive in error messages (usually its path). */
  constructor(bytes: Uint8Array, source: string) {
    this.source = source;
    // A plain Uint8Array view, so entries read from a Buffer are Uint8Arrays too (Buffer.slice would not copy).
    this.bytes = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.parseCentralDirectory();
  }

  /** Entry names in central-directory order. */
  names(): string[] {
    return [...this.entriesByName.keys()];
  }

  has(name: string): boolean {
    return this.entriesByName.has(name);
  }

  entry(name: string): ZipEntry {
    const entry = this.entriesByName.get(name);
    if (!entry) this.fail(`has no entry named '${name}'`);
    return entry;
  }

  /**
   * The entry's uncompressed bytes. STORED entries are views into the archive buffer (no copy). With
   * `maxBytes`, an entry that declares more is refused before anything is inflated; a DEFLATE entry never
   * inflates past its declared size either way.
   */
  read(name: string, options: { maxBytes?: number; what?: string } = {}): Uint8Array {
    const entry = this.entry(name);
    if (options.maxBytes !== undefined && entry.uncompressedSize > options.maxBytes) {
      this.fail(
        `entry '${name}' declares ${entry.uncompressedSize} bytes, more than the ${options.maxBytes} allowed${options.what ? ` for ${options.what}` : ''}; refused before reading it`,
      );
    }
    const dataStart = this.locateData(entry);
    const stored = this.bytes.subarray(dataStart, dataStart + entry.compressedSize);
    let data: Uint8Array;
    if (entry.method === ZIP_METHOD_STORED) {
      data = stored;
    } else if (entry.method === ZIP_METHOD_DEFLATE) {
      try {
        data = inflateRawSync(stored, { maxOutputLength: Math.max(1, entry.uncompressedSize) });
      } catch (error) {
        this.fail(
          `entry '${name}' does not inflate to its declared ${entry.uncompressedSize} bytes: ${(error as Error).message}`,
        );
      }
      if (data.length !== entry.uncompressedSize) {
        this.fail(`entry '${name}' inflates to ${data.length} bytes, expected ${entry.uncompressedSize}`);
      }
    } else {
      this.fail(
        `entry '${name}' uses compression method ${entry.method}; only STORED (0) and DEFLATE (8) are supported`,
      );
    }
    const actualCrc = crc32(data) >>> 0;
    if (actualCrc !== entry.crc32) {
      this.fail(`entry '${name}' is corrupt: CRC-32 ${hex(actualCrc)} does not match the recorded ${hex(entry.crc32)}`);
    }
    return data;
  }

  private fail(what: string): never {
    throw new Error(`zip archive ${this.source}: ${what}`);
  }

  private findEndOfCentralDirectory(): number {
    const size = this.bytes.length;
    if (size < EOCD_SIZE)
      this.fail(`${size} bytes is too short to be a zip archive (no end-of-central-directory record)`);
    const lowest = Math.max(0, size - EOCD_SIZE - MAX_COMMENT_LENGTH);
    for (let offset = size - EOCD_SIZE; offset >= lowest; offset--) {
      // The comment length must reach exactly to the end of the file, so a signature inside a comment is skipped.
      if (
        this.view.getUint32(offset, true) === EOCD_SIGNATURE &&
        offset + EOCD_SIZE + this.view.getUint16(offset + 20, true) === size
      ) {
        return offset;
      }
    }
    return this.fail('no end-of-central-directory record (not a zip archive, or truncated)');
  }

  private parseCentralDirectory(): void {
    const eocd = this.findEndOfCentralDirectory();
    const v = this.view;
    if (v.getUint16(eocd + 4, true) !== 0 || v.getUint16(eocd + 6, true) !== 0)
      this.fail('multi-disk archives are not supported');
    let entryCount = v.getUint16(eocd + 10, true);
    let directorySize = v.getUint32(eocd + 12, true);
    let directoryOffset = v.getUint32(eocd + 16, true);
    let directoryEnd = eocd;

    const locator = eocd - ZIP64_LOCATOR_SIZE;
    if (locator >= 0 && v.getUint32(locator, true) === ZIP64_LOCATOR_SIGNATURE) {
      const record = readSafeU64(v, locator + 8, (w) => this.fail(w), 'zip64 end-of-central-directory offset');
      if (record + ZIP64_EOCD_FIXED_SIZE > locator) {
        this.fail(`zip64 end-of-central-directory offset ${record} lies outside the ${this.bytes.length}-byte file`);
      }
      if (v.getUint32(record, true) !== ZIP64_EOCD_SIGNATURE)
        this.fail(`no zip64 end-of-central-directory record at offset ${record}`);
      const failField = (w: string): never => this.fail(w);
      entryCount = readSafeU64(v, record + 32, failField, 'zip64 entry count');
      directorySize = readSafeU64(v, record + 40, failField, 'zip64 central directory size');
      directoryOffset = readSafeU64(v, record + 48, failField, 'zip64 central directory offset');
      directoryEnd = record;
    } else if (entryCount === 0xffff || directorySize === 0xffffffff || directoryOffset === 0xffffffff) {
      this.fail('end-of-central-directory record needs zip64 values but the zip64 locator is missing');
    }

    if (directoryOffset + directorySize > directoryEnd) {
      this.fail(
        `central directory (offset ${directoryOffset}, ${directorySize} bytes) extends past its end record at offset ${directoryEnd}`,
      );
    }
    const nameDecoder = new TextDecoder('utf-8', { fatal: true });
    let cursor = directoryOffset;
    const limit = directoryOffset + directorySize;
    for (let index = 0; index < entryCount; index++) {
      if (cursor + CENTRAL_HEADER_SIZE > limit)
        this.fail(`central directory ends inside entry ${index} of ${entryCount}`);
      if (v.getUint32(cursor, true) !== CENTRAL_HEADER_SIGNATURE) {
        this.fail(
          `bad central directory: no entry header signature at offset ${cursor} (entry ${index} of ${entryCount})`,
        );
      }
      const flags = v.getUint16(cursor + 8, true);
      const method = v.getUint16(cursor + 10, true);
      const crc = v.getUint32(cursor + 16, true);
      let compressedSize = v.getUint32(cursor + 20, true);
      let uncompressedSize = v.getUint32(cursor + 24, true);
      const nameLength = v.getUint16(cursor + 28, true);
      const extraLength = v.getUint16(cursor + 30, true);
      const commentLength = v.getUint16(cursor + 32, true);
      let localHeaderOffset = v.getUint32(cursor + 42, true);
      const nameStart = cursor + CENTRAL_HEADER_SIZE;
      const extraStart = nameStart + nameLength;
      const next = extraStart + extraLength + commentLength;
      if (next > limit)
        this.fail(`central directory entry ${index} (name, extra, comment) runs past the directory's end`);
      let name: string;
      try {
        name = nameDecoder.decode(this.bytes.subarray(nameStart, extraStart));
      } catch {
        return this.fail(`central directory entry ${index} has a name that is not valid UTF-8`);
      }
      if (flags & FLAG_ENCRYPTED) this.fail(`entry '${name}' is encrypted`);

      // Saturated 32-bit fields are replaced, in order, by the u64 values of the zip64 extra field.
      const needs = [uncompressedSize === 0xffffffff, compressedSize === 0xffffffff, localHeaderOffset === 0xffffffff];
      if (needs.some(Boolean)) {
        const values = this.readZip64Extra(extraStart, extraLength, needs.filter(Boolean).length, name);
        let next64 = 0;
        if (needs[0]) uncompressedSize = values[next64++];
        if (needs[1]) compressedSize = values[next64++];
        if (needs[2]) localHeaderOffset = values[next64];
      }
      if (method === ZIP_METHOD_STORED && compressedSize !== uncompressedSize) {
        this.fail(
          `STORED entry '${name}' records ${compressedSize} stored bytes but ${uncompressedSize} uncompressed bytes`,
        );
      }
      if (localHeaderOffset + LOCAL_HEADER_SIZE > directoryOffset) {
        this.fail(
          `entry '${name}' has local header offset ${localHeaderOffset}, outside the ${directoryOffset} bytes before the central directory`,
        );
      }
      if (this.entriesByName.has(name)) this.fail(`entry name '${name}' appears twice`);
      this.entriesByName.set(name, { name, method, compressedSize, uncompressedSize, crc32: crc, localHeaderOffset });
      cursor = next;
    }
  }

  private readZip64Extra(start: number, length: number, count: number, name: string): number[] {
    const end = start + length;
    for (let cursor = start; cursor + 4 <= end;) {
      const id = this.view.getUint16(cursor, true);
      const size = this.view.getUint16(cursor + 2, true);
      if (cursor + 4 + size > end) break;
      if (id === ZIP64_EXTRA_ID) {
        if (size < count * 8)
          this.fail(`entry '${name}' has a zip64 extra field of ${size} bytes; ${count * 8} needed`);
        const values: number[] = [];
        for (let i = 0; i < count; i++) {
          values.push(
            readSafeU64(this.view, cursor + 4 + 8 * i, (w) => this.fail(w), `entry '${name}' zip64 size or offset`),
          );
        }
        return values;
      }
      cursor += 4 + size;
    }
    return this.fail(`entry '${name}' has saturated sizes but no zip64 extra field`);
  }

  /** Checks the entry's local header and returns where its data begins. */
  private locateData(entry: ZipEntry): number {
    const v = this.view;
    const header = entry.localHeaderOffset;
    if (v.getUint32(header, true) !== LOCAL_HEADER_SIGNATURE) {
      this.fail(`entry '${entry.name}': no local header signature at offset ${header}`);
    }
    const nameLength = v.getUint16(header + 26, true);
    const extraLength = v.getUint16(header + 28, true);
    const nameStart = header + LOCAL_HEADER_SIZE;
    const dataStart = nameStart + nameLength + extraLength;
    if (dataStart + entry.compressedSize > this.bytes.length) {
      this.fail(
        `entry '${entry.name}' (${entry.compressedSize} bytes at offset ${dataStart}) extends past the end of the ${this.bytes.length}-byte file`,
      );
    }
    const localName = Buffer.from(this.bytes.buffer, this.bytes.byteOffset + nameStart, nameLength).toString('utf8');
    if (localName !== entry.name) {
      this.fail(`local header at offset ${header} names '${localName}' but the central directory says '${entry.name}'`);
    }
    return dataStart;
  }
}

function hex(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}
