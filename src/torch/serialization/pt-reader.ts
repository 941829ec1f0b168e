/**
 * A safe reader for PyTorch `.pt` checkpoints in `torch.save`'s zip format:
 * `<prefix>/data.pkl` (the object graph), `<prefix>/data/<key>` (raw storages), `<prefix>/byteorder`.
 * The pickle runs on a restricted unpickler that admits only the globals a state dict needs
 * (OrderedDict, tensor/parameter rebuilders, typed storage classes); any other global is refused,
 * never imported or executed. Dicts with string keys become plain objects, other dicts Maps, lists and
 * tuples arrays, tensors `LoadedTensor`s (C-contiguous RawTensors).
 */
import { readFileSync } from 'node:fs';
import { DTYPE_BYTES, type DType } from './raw-tensor.ts';
import { PickleDict, describePickleValue, toPlainValue, type PickleCallable } from './pickle-values.ts';
import { StridedTensorRecord, materializeTensor, type PtStorage } from './pt-tensor.ts';
import { unpickle } from './unpickler.ts';
import { ZIP_METHOD_STORED, ZipArchive } from './zip-reader.ts';

export { LoadedTensor, isLoadedTensor } from './pt-tensor.ts';
export { pickleAttributes } from './pickle-values.ts';

const STORAGE_DTYPES: Record<string, DType> = {
  FloatStorage: 'float32',
  DoubleStorage: 'float64',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
};

/** A `torch.<X>Storage` class: only ever named inside a persistent id, never called. */
class StorageType implements PickleCallable {
  readonly isClass = true;
  constructor(
    readonly qualifiedName: string,
    readonly dtype: DType,
  ) {}
  call(): never {
    throw new Error('storage classes are only valid inside persistent ids');
  }
}

function callable(qualifiedName: string, isClass: boolean, call: (args: unknown[]) => unknown): PickleCallable {
  return { qualifiedName, isClass, call };
}

function nonNegativeInteger(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new Error(`${what} must be a non-negative integer, got ${describePickleValue(value)}`);
  }
  return value;
}

function integerList(value: unknown, what: string): number[] {
  if (!Array.isArray(value)) throw new Error(`${what} must be a tuple of integers, got ${describePickleValue(value)}`);
  return value.map((item, i) => nonNegativeInteger(item, `${what}[${i}]`));
}

function expectArgs(args: unknown[], allowed: number[], signature: string): void {
  if (!allowed.includes(args.length)) throw new Error(`expects ${signature}, got ${args.length} arguments`);
}

/** `_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])`. */
function rebuildTensor(args: unknown[]): StridedTensorRecord {
  expectArgs(args, [6, 7], '(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])');
  const [storage, offset, size, stride] = args;
  if (!(typeof storage === 'object' && storage !== null && 'key' in storage && 'bytes' in storage)) {
    throw new Error(`storage must come from a persistent id, got ${describePickleValue(storage)}`);
  }
  const shape = integerList(size, 'size');
  const strides = integerList(stride, 'stride');
  if (shape.length !== strides.length) throw new Error(`size [${shape}] and stride [${strides}] differ in length`);
  return new StridedTensorRecord(storage as PtStorage, nonNegativeInteger(offset, 'storage_offset'), shape, strides);
}

/** `_rebuild_parameter(data, requires_grad, backward_hooks)` and the `_with_state` variant: the data is the value. */
function rebuildParameter(args: unknown[], withState: boolean): StridedTensorRecord {
  expectArgs(
    args,
    withState ? [4] : [3],
    withState ? '(data, requires_grad, backward_hooks, state)' : '(data, requires_grad, backward_hooks)',
  );
  if (!(args[0] instanceof StridedTensorRecord))
    throw new Error(`data must be a tensor, got ${describePickleValue(args[0])}`);
  return args[0];
}

/** `OrderedDict()` or `OrderedDict([(key, value), ...])`. */
function orderedDict(args: unknown[]): PickleDict {
  const dict = new PickleDict();
  if (args.length === 0) return dict;
  expectArgs(args, [1], '() or ([(key, value), ...])');
  if (!Array.isArray(args[0])) throw new Error(`expects a list of pairs, got ${describePickleValue(args[0])}`);
  for (const pair of args[0]) {
    if (!Array.isArray(pair) || pair.length !== 2)
      throw new Error(`expects (key, value) pairs, got ${describePickleValue(pair)}`);
    dict.entries.set(pair[0], pair[1]);
  }
  return dict;
}

const ALLOWED_GLOBALS = new Map<string, PickleCallable>([
  ['collections.OrderedDict', callable('collections.OrderedDict', true, orderedDict)],
  ['torch._utils._rebuild_tensor_v2', callable('torch._utils._rebuild_tensor_v2', false, rebuildTensor)],
  [
    'torch._utils._rebuild_parameter',
    callable('torch._utils._rebuild_parameter', false, (a) => rebuildParameter(a, false)),
  ],
  [
    'torch._utils._rebuild_parameter_with_state',
    callable('torch._utils._rebuild_parameter_with_state', false, (a) => rebuildParameter(a, true)),
  ],
  ...Object.entries(STORAGE_DTYPES).map(([name, dtype]): [string, PickleCallable] => [
    `torch.${name}`,
    new StorageType(`torch.${name}`, dtype),
  ]),
]);

/** The qualified names (`module.name`) a checkpoint pickle may use. */
export const ALLOWED_PT_GLOBALS: readonly string[] = [...ALLOWED_GLOBALS.keys()];

/** Matches the exact (module, name) pair, so no other split of a dotted path (`torch` + `_utils.x`) is admitted. */
export function resolveAllowedGlobal(module: string, name: string): PickleCallable | undefined {
  return name.includes('.') ? undefined : ALLOWED_GLOBALS.get(`${module}.${name}`);
}

/** A pickle entry larger than this is refused unread: a state dict's pickle is kilobytes to a few megabytes. */
export const MAX_PICKLE_BYTES = 256 * 1024 * 1024;

/** A `data/<key>` record, read (and for DEFLATE, inflated) only when a tensor is materialised from it. */
class ArchiveStorage implements PtStorage {
  private cached?: Uint8Array;
  constructor(
    readonly key: string,
    readonly dtype: DType,
    readonly numel: number,
    private readonly load: () => Uint8Array,
  ) {}
  get bytes(): Uint8Array {
    this.cached ??= this.load();
    return this.cached;
  }
}

/**
 * The storage `key` of `numel` x `dtype`, checked against its entry's declared size before any byte is
 * read: shorter is refused, and so is a compressed entry that would inflate to more than the storage
 * needs (a few megabytes of DEFLATE can declare gigabytes). `records` shares one read between dtype views.
 */
export function archiveStorage(
  archive: ZipArchive,
  entryName: string,
  key: string,
  dtype: DType,
  numel: number,
  records: Map<string, Uint8Array>,
): PtStorage {
  if (!archive.has(entryName)) throw new Error(`storage '${key}' has no archive entry '${entryName}'`);
  const entry = archive.entry(entryName);
  const needed = numel * DTYPE_BYTES[dtype];
  if (entry.uncompressedSize < needed) {
    throw new Error(
      `storage '${entryName}' holds ${entry.uncompressedSize} bytes, but ${numel} x ${dtype} needs ${needed}`,
    );
  }
  if (entry.method !== ZIP_METHOD_STORED && entry.uncompressedSize > needed) {
    throw new Error(
      `storage '${entryName}' is compressed and declares ${entry.uncompressedSize} bytes, more than the ${needed} bytes of its ${numel} x ${dtype}; refused before inflating`,
    );
  }
  return new ArchiveStorage(key, dtype, numel, () => {
    let bytes = records.get(entryName);
    if (!bytes) {
      bytes = archive.read(entryName);
      records.set(entryName, bytes);
    }
    return bytes;
  });
}

/** Finds `<prefix>/` from the archive's `data.pkl` entry. */
export function findPrefix(archive: ZipArchive): string {
  const pickles = archive.names().filter((name) => /^[^/]+\/data\.pkl$/.test(name));
  if (pickles.length !== 1) {
    throw new Error(
      `${archive.source}: expected exactly one '<prefix>/data.pkl' entry (a torch.save zip checkpoint), found ${pickles.length ? pickles.join(', ') : 'none'}`,
    );
  }
  return pickles[0].slice(0, -'data.pkl'.length);
}

export function checkByteOrder(archive: ZipArchive, prefix: string): void {
  const name = `${prefix}byteorder`;
  if (!archive.has(name)) return; // Older PyTorch versions omit it; their files are little-endian in practice.
  const order = new TextDecoder().decode(archive.read(name)).trim();
  if (order === 'big')
    throw new Error(
      `${archive.source}: the checkpoint was saved big-endian ('${name}' says "big"); only little-endian checkpoints are supported`,
    );
  if (order !== 'little') throw new Error(`${archive.source}: '${name}' says "${order}"; expected "little"`);
}

/**
 * The persistent-id resolver of a torch.save or TorchScript pickle: `('storage', torch.<X>Storage, key,
 * location, numel)` becomes the storage of entry `<directory><key>`, checked but not yet read.
 */
export function storageLoader(archive: ZipArchive, directory: string): (pid: unknown) => PtStorage {
  const recordBytes = new Map<string, Uint8Array>();
  const storages = new Map<string, PtStorage>();
  return (pid: unknown): PtStorage => {
    if (!Array.isArray(pid) || pid.length !== 5 || pid[0] !== 'storage') {
      throw new Error(`expected ('storage', storage_type, key, location, numel), got ${describePickleValue(pid)}`);
    }
    const [, storageType, key, , numelValue] = pid;
    if (!(storageType instanceof StorageType))
      throw new Error(`storage type must be a torch.<X>Storage class, got ${describePickleValue(storageType)}`);
    if (typeof key !== 'string') throw new Error(`storage key must be a string, got ${describePickleValue(key)}`);
    const numel = nonNegativeInteger(numelValue, `storage '${key}' numel`);
    // One record may be viewed with several dtypes (tensor.view(dtype) saved beside its source).
    const viewKey = `${key}\n${storageType.dtype}\n${numel}`;
    const cached = storages.get(viewKey);
    if (cached) return cached;
    const storage = archiveStorage(archive, `${directory}${key}`, key, storageType.dtype, numel, recordBytes);
    storages.set(viewKey, storage);
    return storage;
  };
}

export interface ReadPtOptions {
  /** Contiguous tensors' data as views of the archive's bytes instead of copies (see `materializeTensor`). */
  views?: boolean;
}

/** Reads a torch.save zip checkpoint held in memory; `source` names it in errors. */
export function readPtBuffer(bytes: Uint8Array, source: string, options: ReadPtOptions = {}): unknown {
  if (bytes.length >= 2 && bytes[0] === 0x80 && bytes[1] <= 5) {
    throw new Error(
      `${source}: this is a legacy (pre-1.6, non-zip) torch.save file; re-save it with a newer PyTorch (the zip format)`,
    );
  }
  const archive = new ZipArchive(bytes, source);
  const prefix = findPrefix(archive);
  checkByteOrder(archive, prefix);
  const persistentLoad = storageLoader(archive, `${prefix}data/`);

  const pickleName = `${prefix}data.pkl`;
  const root = unpickle(archive.read(pickleName, { maxBytes: MAX_PICKLE_BYTES, what: 'a pickle' }), {
    source: `${source}/${pickleName}`,
    resolveGlobal: resolveAllowedGlobal,
    persistentLoad,
  });
  return toPlainValue(
    root,
    (value, path) => {
      if (value instanceof StridedTensorRecord)
        return materializeTensor(value, `${source} ${path || '(root)'}`, options);
      throw new Error(
        `${source} ${path || '(root)'}: ${describePickleValue(value)} cannot be represented as a plain value`,
      );
    },
    source,
  );
}

/** Reads a torch.save zip checkpoint (`.pt`/`.pth`) from disk. See the file comment for the value mapping. */
export function readPtFile(path: string, options: ReadPtOptions = {}): unknown {
  return readPtBuffer(readFileSync(path), path, options);
}
