/**
 * Command-line flags of the `bike` commands: each command declares its flags (name, kind, whether it
 * repeats); `parseArgs` returns the positionals and the values, or throws a UsageError naming the
 * flag or argument at fault.
 */

export class UsageError extends Error {
  constructor(
    message: string,
    readonly command?: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

export type FlagKind = 'boolean' | 'string' | 'int' | 'number';

export interface FlagSpec {
  kind: FlagKind;
  /** May be given several times (values collected in order). */
  repeat?: boolean;
  /** Allowed values (strings or ints). */
  choices?: readonly (string | number)[];
  /** Smallest value for int/number flags. */
  min?: number;
  /** Largest value for int/number flags. */
  max?: number;
  help: string;
  /** Shown as the value placeholder in help. */
  value?: string;
}

/** The value a flag of this spec yields: `true` for booleans, a string, or a number (int/number). */
type FlagValue<F extends FlagSpec> = F['kind'] extends 'boolean' ? true : F['kind'] extends 'string' ? string : number;

/** The typed flags of a command's specs: each absent (undefined) or its value; repeated flags give arrays. */
export type FlagValues<S extends Record<string, FlagSpec>> = {
  [K in keyof S]?: S[K]['repeat'] extends true ? FlagValue<S[K]>[] : FlagValue<S[K]>;
};

export interface ParsedArgs<S extends Record<string, FlagSpec> = Record<string, FlagSpec>> {
  positionals: string[];
  flags: FlagValues<S>;
}

function convert(name: string, spec: FlagSpec, text: string, command: string): unknown {
  let value: unknown = text;
  if (spec.kind === 'int' || spec.kind === 'number') {
    const n = Number(text);
    if (text.trim() === '' || !Number.isFinite(n) || (spec.kind === 'int' && !Number.isInteger(n))) {
      throw new UsageError(
        `--${name} ${JSON.stringify(text)}: expected ${spec.kind === 'int' ? 'an integer' : 'a number'}`,
        command,
      );
    }
    if (spec.max !== undefined && (n > spec.max || n < (spec.min ?? -Infinity))) {
      throw new UsageError(`--${name} ${n}: expected a value in ${spec.min ?? '-inf'}..${spec.max}`, command);
    }
    if (spec.min !== undefined && n < spec.min)
      throw new UsageError(`--${name} ${n}: expected a value >= ${spec.min}`, command);
    value = n;
  }
  if (spec.choices && !spec.choices.includes(value as string | number)) {
    throw new UsageError(`--${name} ${JSON.stringify(text)}: expected one of ${spec.choices.join(', ')}`, command);
  }
  return value;
}

/** Parses `argv` (after the command name) against `specs`. `--name=value` and `--name value` both work. */
export function parseArgs<S extends Record<string, FlagSpec>>(
  argv: readonly string[],
  specs: S,
  command: string,
): ParsedArgs<S> {
  const positionals: string[] = [];
  const flags: Record<string, unknown> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('--') || arg === '-') {
      if (arg.startsWith('-') && arg !== '-')
        throw new UsageError(`unknown option ${arg} (options are written --name)`, command);
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const spec = specs[name];
    if (!spec) {
      const known = Object.keys(specs)
        .map((k) => `--${k}`)
        .join(', ');
      throw new UsageError(`unknown option --${name} for "bike ${command}"; known options: ${known}`, command);
    }
    let value: unknown;
    if (spec.kind === 'boolean') {
      if (eq >= 0) throw new UsageError(`--${name} takes no value`, command);
      value = true;
    } else {
      let text: string | undefined;
      if (eq >= 0) text = arg.slice(eq + 1);
      else {
        text = argv[i + 1];
        if (text === undefined || (text.startsWith('--') && text.length > 2))
          throw new UsageError(`--${name} needs a value (${spec.value ?? spec.kind})`, command);
        i++;
      }
      value = convert(name, spec, text, command);
    }
    if (spec.repeat) ((flags[name] ??= []) as unknown[]).push(value);
    else if (name in flags) throw new UsageError(`--${name} was given twice`, command);
    else flags[name] = value;
  }
  return { positionals, flags: flags as FlagValues<S> };
}

/** The option lines of a command's help. */
export function describeFlags(specs: Record<string, FlagSpec>): string {
  const rows = Object.entries(specs).map(([name, spec]) => {
    const left = spec.kind === 'boolean' ? `--${name}` : `--${name} <${spec.value ?? spec.kind}>`;
    return [left, `${spec.help}${spec.repeat ? ' (repeatable)' : ''}`] as const;
  });
  const width = Math.max(...rows.map(([l]) => l.length)) + 2;
  return rows.map(([l, r]) => `  ${l.padEnd(width)}${r}`).join('\n');
}
