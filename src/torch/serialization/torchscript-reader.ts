/**
 * Reads the parameters and buffers of a TorchScript archive (`torch.jit.save`, e.g. OpenAI's CLIP `.pt`
 * files) without running any of its code. The archive's `data.pkl` is a pickle of the module tree:
 * each module is a `__torch__.<qualified name>` class instance whose BUILD state is its attribute dict,
 * tensors are `_rebuild_tensor_v2` calls on persistent storage ids, as in a torch.save checkpoint. The
 * restricted unpickler builds modules as plain attribute records (no constructor, no `__setstate__`
 * runs); which attributes are parameters and which are buffers is read from the `__parameters__` /
 * `__buffers__` declarations of each class in `code/`, as text. The names are those of libtorch's
 * `named_parameters()` / `named_buffers()`: dotted attribute paths, parameters first.
 */
import { readFileSync } from 'node:fs';
import { PickleDict, describePickleValue, type PickleCallable, type PickleStateful } from './pickle-values.ts';
import { LoadedTensor, StridedTensorRecord, materializeTensor } from './pt-tensor.ts';
import { MAX_PICKLE_BYTES, checkByteOrder, findPrefix, resolveAllowedGlobal, storageLoader } from './pt-reader.ts';
import { unpickle } from './unpickler.ts';
import { ZipArchive } from './zip-reader.ts';

/** A `code/` file larger than this is refused unread (CLIP ViT-L's largest is under a megabyte). */
export const MAX_CODE_BYTES = 64 * 1024 * 1024;

/** Modules nested deeper than this are refused (CLIP nests about six). */
const MAX_MODULE_DEPTH = 1000;

/** What the archive's code declares about one class. */
export interface TorchScriptClassInfo {
  qualifiedName: string;
  isModule: boolean;
  parameters: ReadonlySet<string>;
  buffers: ReadonlySet<string>;
  definesSetState: boolean;
}

function quotedNames(list: string): Set<string> {
  return new Set([...list.matchAll(/"([^"\\]*)"/g)].map((m) => m[1]));
}

/**
 * The classes a `code/` file declares, from its text: `class Name(Module):` headers and, in each body
 * (two-space indent), the `__parameters__ = [...]` and `__buffers__ = [...]` lines and a `def __setstate__`.
 */
export function parseTorchScriptClasses(text: string, module: string): Map<string, TorchScriptClassInfo> {
  const classes = new Map<string, TorchScriptClassInfo>();
  let current:
    | { name: string; isModule: boolean; parameters: Set<string>; buffers: Set<string>; definesSetState: boolean }
    | undefined;
  const finish = () => {
    if (current) classes.set(current.name, { qualifiedName: `${module}.${current.name}`, ...current });
  };
  for (const line of text.split('\n')) {
    const header = /^class ([A-Za-z_][A-Za-z0-9_]*)(?:\(([^)]*)\))?:\s*$/.exec(line);
    if (header) {
      finish();
      current = {
        name: header[1],
        isModule: (header[2] ?? '').trim() === 'Module',
        parameters: new Set(),
        buffers: new Set(),
        definesSetState: false,
      };
      continue;
    }
    if (!current) continue;
    if (!line.startsWith(' ') && line.trim() !== '') {
      finish();
      current = undefined;
      continue;
    }
    let m: RegExpExecArray | null;
    if ((m = /^ {2}__parameters__ = \[(.*)\]\s*$/.exec(line))) current.parameters = quotedNames(m[1]);
    else if ((m = /^ {2}__buffers__ = \[(.*)\]\s*$/.exec(line))) current.buffers = quotedNames(m[1]);
    else if (/^ {2}def __setstate__\(/.test(line)) current.definesSetState = true;
  }
  finish();
  return classes;
}

/** A module (or script-class object) of the archive: its class and its attributes, in pickle order. */
export class TorchScriptObject implements PickleStateful {
  readonly attributes = new Map<string, unknown>();
  private built = false;
  constructor(readonly info: TorchScriptClassInfo) {}

  setPickleState(state: unknown): void {
    const name = this.info.qualifiedName;
    if (this.info.definesSetState) {
      throw new Error(
        `class ${name} defines __setstate__, which would have to run to make sense of its state; this reader never runs an archive's code`,
      );
    }
    if (this.built) throw new Error(`class ${name}: its state is set twice`);
    if (!(state instanceof PickleDict))
      throw new Error(`class ${name}: state must be an attribute dict, got ${describePickleValue(state)}`);
    for (const [key, value] of state.entries) {
      if (typeof key !== 'string')
        throw new Error(`class ${name}: attribute name must be a string, got ${describePickleValue(key)}`);
      this.attributes.set(key, value);
    }
    this.built = true;
  }
}

/** `torch.jit._pickle` helpers that TorchScript's pickler wraps typed lists and containers in: each returns its argument. */
const JIT_PICKLE_IDENTITIES = [
  'build_intlist',
  'build_tensorlist',
  'build_doublelist',
  'build_boollist',
  'restore_type_tag',
];

function identity(qualifiedName: string): PickleCallable {
  return {
    qualifiedName,
    isClass: false,
    call(args: unknown[]): unknown {
      if (args.length < 1) throw new Error('expects (value[, type])');
      return args[0];
    },
  };
}

/** Reads the class declarations of `code/` on demand, one file per qualifier. */
class ClassDeclarations {
  private readonly files = new Map<string, Map<string, TorchScriptClassInfo>>();
  constructor(
    private readonly archive: ZipArchive,
    private readonly prefix: string,
  ) {}

  get(module: string, name: string): TorchScriptClassInfo {
    let classes = this.files.get(module);
    if (!classes) {
      const entryName = `${this.prefix}code/${module.split('.').join('/')}.py`;
      if (!this.archive.has(entryName)) {
        throw new Error(`class ${module}.${name}: the archive has no code entry '${entryName}' that declares it`);
      }
      const bytes = this.archive.read(entryName, { maxBytes: MAX_CODE_BYTES, what: 'a code file' });
      let text: string;
      try {
        text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
      } catch {
        throw new Error(`class ${module}.${name}: code entry '${entryName}' is not valid UTF-8`);
      }
      classes = parseTorchScriptClasses(text, module);
      this.files.set(module, classes);
    }
    const info = classes.get(name);
    if (!info) throw new Error(`class ${module}.${name}: its code file declares no class '${name}'`);
    return info;
  }
}

/** Whether a zip's entries are those of a TorchScript archive (code/ or constants.pkl beside data.pkl). */
export function isTorchScriptEntryList(names: readonly string[]): boolean {
  return names.some((n) => /^[^/]+\/constants\.pkl$/.test(n) || /^[^/]+\/code\//.test(n));
}

/**
 * Every parameter and buffer of a TorchScript archive held in memory, by dotted name (parameters first,
 * then buffers, each in attribute order), as contiguous LoadedTensors. `source` names it in errors.
 */
export function readTorchScriptBuffer(
  bytes: Uint8Array,
  source: string,
  options: { views?: boolean } = {},
): Map<string, LoadedTensor> {
  const archive = new ZipArchive(bytes, source);
  if (!isTorchScriptEntryList(archive.names())) {
    throw new Error(
      `${source}: has no code/ or constants.pkl entries; this looks like a torch.save checkpoint, not a TorchScript archive: read it with loadPtFile`,
    );
  }
  const prefix = findPrefix(archive);
  checkByteOrder(archive, prefix);
  const declarations = new ClassDeclarations(archive, prefix);
  const classes = new Map<string, PickleCallable>();

  const resolveGlobal = (module: string, name: string): PickleCallable | undefined => {
    if (module === 'torch.jit._pickle' && JIT_PICKLE_IDENTITIES.includes(name)) return identity(`${module}.${name}`);
    if (module !== '__torch__' && !module.startsWith('__torch__.')) return resolveAllowedGlobal(module, name);
    if (module === '__torch__.torch.classes' || module.startsWith('__torch__.torch.classes.')) {
      throw new Error(
        `${source}: class ${module}.${name} is a C++ custom class (torch.classes), whose state only its own code can read`,
      );
    }
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) || !/^[A-Za-z_][A-Za-z0-9_.]*$/.test(module)) return undefined;
    const qualifiedName = `${module}.${name}`;
    let stand = classes.get(qualifiedName);
    if (!stand) {
      const info = declarations.get(module, name);
      stand = {
        qualifiedName,
        isClass: true,
        call(args: unknown[]): TorchScriptObject {
          if (args.length !== 0) throw new Error(`expects no constructor arguments, got ${args.length}`);
          return new TorchScriptObject(info);
        },
      };
      classes.set(qualifiedName, stand);
    }
    return stand;
  };

  const pickleName = `${prefix}data.pkl`;
  let root: unknown;
  try {
    root = unpickle(archive.read(pickleName, { maxBytes: MAX_PICKLE_BYTES, what: 'a pickle' }), {
      source: `${source}/${pickleName}`,
      resolveGlobal,
      persistentLoad: storageLoader(archive, `${prefix}data/`),
    });
  } catch (error) {
    // Class look-ups fail with the archive named already; keep one mention of it.
    const message = (error as Error).message;
    throw new Error(message.includes(source) ? message : `${source}: ${message}`, { cause: error });
  }
  if (!(root instanceof TorchScriptObject) || !root.info.isModule) {
    throw new Error(`${source}: ${pickleName} holds ${describePickleValue(root)}, not a scripted module`);
  }

  const parameters = new Map<string, LoadedTensor>();
  const buffers = new Map<string, LoadedTensor>();
  const materialized = new Map<StridedTensorRecord, LoadedTensor>();
  const onPath = new Set<TorchScriptObject>();
  const tensorOf = (record: StridedTensorRecord, name: string): LoadedTensor => {
    let tensor = materialized.get(record);
    if (!tensor) {
      tensor = materializeTensor(record, `${source} ${name}`, options);
      materialized.set(record, tensor);
    }
    return tensor;
  };
  const visit = (module: TorchScriptObject, path: string, depth: number): void => {
    if (depth > MAX_MODULE_DEPTH)
      throw new Error(`${source}: module '${path}' is nested more than ${MAX_MODULE_DEPTH} deep`);
    if (onPath.has(module)) throw new Error(`${source}: module '${path}' contains itself`);
    onPath.add(module);
    for (const [name, value] of module.attributes) {
      const full = path ? `${path}.${name}` : name;
      const declared = module.info.parameters.has(name)
        ? parameters
        : module.info.buffers.has(name)
          ? buffers
          : undefined;
      if (declared) {
        if (value instanceof StridedTensorRecord) declared.set(full, tensorOf(value, full));
        else if (value !== null) {
          throw new Error(
            `${source}: ${module.info.qualifiedName} declares '${full}' a ${declared === parameters ? 'parameter' : 'buffer'}, but it holds ${describePickleValue(value)}`,
          );
        }
      } else if (value instanceof TorchScriptObject && value.info.isModule) {
        visit(value, full, depth + 1);
      }
    }
    onPath.delete(module);
  };
  visit(root, '', 0);
  return new Map([...parameters, ...buffers]);
}

/** Reads a TorchScript archive from disk; see `readTorchScriptBuffer`. */
export function readTorchScriptFile(path: string, options: { views?: boolean } = {}): Map<string, LoadedTensor> {
  return readTorchScriptBuffer(readFileSync(path), path, options);
}
