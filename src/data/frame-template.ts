/**
 * Frame file names from the original configs' `image_tmpl`, a Python `str.format` template:
 * `img_{:05d}.jpg`, `frame{:d}.jpg`, `image_{:06d}.jpg`, Charades' `{}-{:06d}.jpg` (formatted with
 * the video id and the frame number). Supported: `{}` / `{0}` fields, `{{` `}}` escapes, and the
 * format spec `[[fill]align][sign][0][width][type]` with type `d`, `s` or none.
 */

export type TemplateValue = string | number;

interface Field {
  position: number | null;
  spec: string;
}

type Part = string | Field;

function parseTemplate(template: string): Part[] {
  const parts: Part[] = [];
  let text = '';
  for (let i = 0; i < template.length; i++) {
    const ch = template[i]!;
    if (ch === '{' && template[i + 1] === '{') {
      text += '{';
      i++;
      continue;
    }
    if (ch === '}' && template[i + 1] === '}') {
      text += '}';
      i++;
      continue;
    }
    if (ch === '}')
      throw new Error(
        `frame template ${JSON.stringify(template)}: single '}' at character ${i}; write '}}' for a literal brace`,
      );
    if (ch !== '{') {
      text += ch;
      continue;
    }
    const close = template.indexOf('}', i);
    if (close < 0) throw new Error(`frame template ${JSON.stringify(template)}: '{' at character ${i} is never closed`);
    const body = template.slice(i + 1, close);
    const colon = body.indexOf(':');
    const name = colon < 0 ? body : body.slice(0, colon);
    const spec = colon < 0 ? '' : body.slice(colon + 1);
    if (name !== '' && !/^\d+$/.test(name)) {
      throw new Error(
        `frame template ${JSON.stringify(template)}: field {${body}} names ${JSON.stringify(name)}; only positional fields ({} or {0}) are supported`,
      );
    }
    if (text) parts.push(text);
    text = '';
    parts.push({ position: name === '' ? null : Number(name), spec });
    i = close;
  }
  if (text) parts.push(text);
  return parts;
}

const SPEC = /^(?:(.)?([<>=^]))?([-+ ])?(0)?(\d+)?([ds])?$/u;

function formatValue(value: TemplateValue, spec: string, template: string): string {
  const m = SPEC.exec(spec);
  if (!m)
    throw new Error(
      `frame template ${JSON.stringify(template)}: unsupported format spec ":${spec}" (expected e.g. ":05d", ":d", ":06d")`,
    );
  const [, fillGiven, alignGiven, sign, zero, widthText, type] = m;
  const numeric = type === 'd' || (type === undefined && typeof value === 'number');
  if (type === 'd' && !(typeof value === 'number' && Number.isInteger(value))) {
    throw new Error(
      `frame template ${JSON.stringify(template)}: ":${spec}" needs an integer, got ${JSON.stringify(value)}`,
    );
  }
  if (!numeric && sign) {
    throw new Error(
      `frame template ${JSON.stringify(template)}: a sign in ":${spec}" needs a number, got ${JSON.stringify(value)}`,
    );
  }
  let body: string;
  let prefix = '';
  if (numeric) {
    const n = value as number;
    body = String(Math.abs(n));
    if (n < 0) prefix = '-';
    else if (sign === '+') prefix = '+';
    else if (sign === ' ') prefix = ' ';
  } else {
    body = String(value);
  }
  const width = widthText ? Number(widthText) : 0;
  const fill = fillGiven ?? (zero && !alignGiven ? '0' : ' ');
  const align = alignGiven ?? (numeric ? (zero ? '=' : '>') : '<');
  const pad = Math.max(0, width - prefix.length - body.length);
  switch (align) {
    case '<':
      return prefix + body + fill.repeat(pad);
    case '>':
      return fill.repeat(pad) + prefix + body;
    case '^':
      return fill.repeat(Math.floor(pad / 2)) + prefix + body + fill.repeat(pad - Math.floor(pad / 2));
    default:
      return prefix + fill.repeat(pad) + body; // '=': padding after the sign
  }
}

/** Python's `template.format(*args)` for the supported subset; extra arguments are ignored as Python does. */
export function formatTemplate(template: string, args: readonly TemplateValue[]): string {
  let auto = 0;
  let sawAuto = false;
  let sawManual = false;
  let out = '';
  for (const part of parseTemplate(template)) {
    if (typeof part === 'string') {
      out += part;
      continue;
    }
    let position: number;
    if (part.position === null) {
      sawAuto = true;
      position = auto++;
    } else {
      sawManual = true;
      position = part.position;
    }
    if (sawAuto && sawManual) {
      throw new Error(`frame template ${JSON.stringify(template)}: cannot mix automatic {} and numbered {0} fields`);
    }
    if (position >= args.length) {
      throw new Error(
        `frame template ${JSON.stringify(template)}: field ${position} has no value (${args.length} given)`,
      );
    }
    out += formatValue(args[position]!, part.spec, template);
  }
  return out;
}

/** How many values the template consumes (highest field number + 1). */
export function templateArity(template: string): number {
  let auto = 0;
  let highest = -1;
  for (const part of parseTemplate(template)) {
    if (typeof part === 'string') continue;
    const position = part.position ?? auto++;
    highest = Math.max(highest, position);
  }
  return highest + 1;
}

/**
 * The file name of frame `index` of the video in `directory`: templates with one field get the index
 * (`img_{:05d}.jpg`), templates with two get the directory name and the index, as Charades'
 * `{}-{:06d}.jpg` is formatted by the original (`image_tmpl.format(directory, idx)`).
 */
export function frameFileName(template: string, directory: string, index: number): string {
  const arity = templateArity(template);
  if (arity === 1) return formatTemplate(template, [index]);
  if (arity === 2) return formatTemplate(template, [directory, index]);
  throw new Error(
    `frame template ${JSON.stringify(template)}: expected one field (the frame number) or two (video id, frame number), found ${arity}`,
  );
}
