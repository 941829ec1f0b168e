/**
 * YAML reading as the original's PyYAML `FullLoader` reads its configs: YAML 1.1 scalars (`True`,
 * `yes`, `off` are booleans, `5.e-5` is a float, `None` is the string "None"), with the line of
 * every key kept for error messages.
 *
 * Differences from PyYAML that can matter: a single `y`/`n` stays a string here as in PyYAML (the
 * `yaml` package's 1.1 schema would make it a boolean); `1e-5` (no dot) is read as a number, where
 * PyYAML would keep the string "1e-5" and the original would then fail; duplicate keys are refused
 * (PyYAML silently keeps the last).
 */
import {
  LineCounter,
  parseDocument,
  isMap,
  isScalar,
  isPair,
  Scalar,
  type Node,
  type ParseOptions,
  type DocumentOptions,
  type SchemaOptions,
} from 'yaml';

type Tags = NonNullable<SchemaOptions['customTags']>;
type TagList = Extract<Tags, unknown[]>;

const BOOL_TAG = 'tag:yaml.org,2002:bool';

// PyYAML's bool resolver: yes/no, true/false, on/off in three spellings each; never y/n.
const pyYamlTrue = {
  identify: (value: unknown) => value === true,
  default: true,
  tag: BOOL_TAG,
  test: /^(?:yes|Yes|YES|true|True|TRUE|on|On|ON)$/,
  resolve: () => new Scalar(true),
};
const pyYamlFalse = {
  identify: (value: unknown) => value === false,
  default: true,
  tag: BOOL_TAG,
  test: /^(?:no|No|NO|false|False|FALSE|off|Off|OFF)$/,
  resolve: () => new Scalar(false),
};

const OPTIONS: ParseOptions & DocumentOptions & SchemaOptions = {
  version: '1.1',
  customTags: (tags: TagList) =>
    [
      ...tags.filter((t) => typeof t === 'string' || (t as { tag?: string }).tag !== BOOL_TAG),
      pyYamlTrue,
      pyYamlFalse,
    ] as TagList,
  uniqueKeys: true,
};

/** Alias uses read at most (the `yaml` package's own guard against alias bombs, made explicit). */
export const MAX_ALIAS_COUNT = 100;

export interface YamlProblem {
  line?: number;
  message: string;
}

export interface ParsedYaml {
  value: unknown;
  /** 1-based line of each mapping key, by dotted path (`data.num_segments`). */
  lines: Map<string, number>;
  problems: YamlProblem[];
}

function recordLines(
  node: Node | null | undefined,
  prefix: string,
  counter: LineCounter,
  lines: Map<string, number>,
): void {
  if (!isMap(node)) return;
  for (const item of node.items) {
    if (!isPair(item) || !isScalar(item.key)) continue;
    const path = prefix ? `${prefix}.${String(item.key.value)}` : String(item.key.value);
    const offset = item.key.range?.[0];
    if (offset !== undefined) lines.set(path, counter.linePos(offset).line);
    recordLines(item.value as Node | null, path, counter, lines);
  }
}

/** Parses one YAML document; syntax errors come back as problems with their line. */
export function parseYaml(text: string): ParsedYaml {
  const counter = new LineCounter();
  const doc = parseDocument(text, { ...OPTIONS, lineCounter: counter });
  const problems: YamlProblem[] = doc.errors.map((e) => ({
    line: e.linePos?.[0]?.line,
    message: e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, ''),
  }));
  const lines = new Map<string, number>();
  if (problems.length > 0) return { value: undefined, lines, problems };
  // PyYAML's FullLoader refuses tags it does not know (`!!python/name:...`); the `yaml` package only
  // warns and reads the node as plain text, which would hide the input at fault.
  for (const w of doc.warnings) {
    if (w.code !== 'TAG_RESOLVE_FAILED') continue;
    const tag = /Unresolved tag: (\S+)/.exec(w.message)?.[1] ?? 'unknown';
    const shown = tag.startsWith('tag:yaml.org,2002:') ? `!!${tag.slice('tag:yaml.org,2002:'.length)}` : tag;
    problems.push({
      line: w.linePos?.[0]?.line,
      message: `unknown tag ${shown}: a config holds plain values only (text, numbers, booleans, lists, mappings)`,
    });
  }
  if (problems.length > 0) return { value: undefined, lines, problems };
  recordLines(doc.contents as Node | null, '', counter, lines);
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (error) {
    // An alias bomb (aliases of aliases, expanding exponentially) ends here, before any memory is spent.
    return {
      value: undefined,
      lines,
      problems: [
        {
          message: `aliases expand too far (${(error as Error).message}); at most ${MAX_ALIAS_COUNT} alias uses are read`,
        },
      ],
    };
  }
  return { value, lines, problems };
}
