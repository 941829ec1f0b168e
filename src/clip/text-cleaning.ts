/**
 * CLIP's text cleaning before BPE, as in OpenAI's `simple_tokenizer.py`:
 *   basic_clean:      ftfy.fix_text(text), then html.unescape twice, then strip
 *   whitespace_clean: collapse runs of whitespace to one space, strip
 * followed by lower-casing.
 *
 * ftfy.fix_text is reproduced here for its deterministic fixers, in ftfy 6's order (HTML entities
 * when the text has no `<`, C1 controls, Latin ligatures, full/half-width forms, curly quotes, line
 * breaks, surrogates, terminal escapes, control characters, NFC), repeated until nothing changes.
 * Its mojibake repair (`fix_encoding`: re-decoding text that was decoded with the wrong codec, guided
 * by a badness heuristic) is NOT reproduced: it only alters text that is already corrupted, and
 * class names and prompts are plain text for which it changes nothing.
 */
import { HTML5_NAMED_REFERENCES } from './html-entities.ts';

/** Windows-1252 meaning of bytes 0x80-0x9F; undefined bytes keep their Latin-1 (C1 control) value. */
const WINDOWS_1252_C1 = [
  '\u20ac',
  '\x81',
  '\u201a',
  '\u0192',
  '\u201e',
  '\u2026',
  '\u2020',
  '\u2021',
  '\u02c6',
  '\u2030',
  '\u0160',
  '\u2039',
  '\u0152',
  '\x8d',
  '\u017d',
  '\x8f',
  '\x90',
  '\u2018',
  '\u2019',
  '\u201c',
  '\u201d',
  '\u2022',
  '\u2013',
  '\u2014',
  '\u02dc',
  '\u2122',
  '\u0161',
  '\u203a',
  '\u0153',
  '\x9d',
  '\u017e',
  '\u0178',
];

// ---------------------------------------------------------------- Python's html.unescape

/** Same alternatives as CPython's `html._charref`. */
const CHARACTER_REFERENCE = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/gu;

function isNoncharacterOrControl(code: number): boolean {
  return (
    (code >= 0x1 && code <= 0x8) ||
    code === 0xb ||
    (code >= 0xe && code <= 0x1f) ||
    (code >= 0x7f && code <= 0x9f) ||
    (code >= 0xfdd0 && code <= 0xfdef) ||
    (code & 0xfffe) === 0xfffe
  );
}

function numericReference(body: string): string {
  const hex = body[1] === 'x' || body[1] === 'X';
  const digits = body.slice(hex ? 2 : 1).replace(/;$/, '');
  // Digit strings too long for a double still parse to a number beyond U+10FFFF, which is all we need.
  const code = parseInt(digits, hex ? 16 : 10);
  if (code === 0) return '\ufffd';
  if (code === 0x0d) return '\r';
  if (code >= 0x80 && code <= 0x9f) return WINDOWS_1252_C1[code - 0x80]!;
  if ((code >= 0xd800 && code <= 0xdfff) || code > 0x10ffff) return '\ufffd';
  if (isNoncharacterOrControl(code)) return '';
  return String.fromCodePoint(code);
}

/** Python's `html.unescape` (HTML5 rules, including the longest-prefix match of legacy names). */
export function htmlUnescape(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(CHARACTER_REFERENCE, (_match, body: string) => {
    if (body[0] === '#') return numericReference(body);
    const exact = HTML5_NAMED_REFERENCES.get(body);
    if (exact !== undefined) return exact;
    for (let length = body.length - 1; length > 1; length--) {
      const prefix = HTML5_NAMED_REFERENCES.get(body.slice(0, length));
      if (prefix !== undefined) return prefix + body.slice(length);
    }
    return `&${body}`;
  });
}

// ---------------------------------------------------------------- ftfy's deterministic fixers

/** ftfy's entity table: names with `;`, plus upper-cased forms of lower-case names (`&NTILDE;`). */
const FTFY_ENTITIES: ReadonlyMap<string, string> = (() => {
  const entities = new Map<string, string>();
  for (const [name, value] of HTML5_NAMED_REFERENCES) {
    if (!name.endsWith(';')) continue;
    entities.set(`&${name}`, value);
    if (name === name.toLowerCase()) {
      const upper = `&${name.toUpperCase()}`;
      if (htmlUnescape(upper) === upper) entities.set(upper, value.toUpperCase());
    }
  }
  return entities;
})();

const FTFY_ENTITY = /&#?[0-9A-Za-z]{1,24};/g;

function ftfyUnescapeHtml(text: string): string {
  return text.replace(FTFY_ENTITY, (entity) => {
    const named = FTFY_ENTITIES.get(entity);
    if (named !== undefined) return named;
    if (entity.startsWith('&#')) {
      const unescaped = htmlUnescape(entity);
      // A reference that html.unescape only partly consumed is left alone.
      return unescaped.includes(';') ? entity : unescaped;
    }
    return entity;
  });
}

const LATIN_LIGATURES: Record<string, string> = {
  Ĳ: 'IJ',
  ĳ: 'ij',
  ŉ: 'ʼn',
  Ǳ: 'DZ',
  ǲ: 'Dz',
  ǳ: 'dz',
  Ǆ: 'DŽ',
  ǅ: 'Dž',
  ǆ: 'dž',
  Ǉ: 'LJ',
  ǈ: 'Lj',
  ǉ: 'lj',
  Ǌ: 'NJ',
  ǋ: 'Nj',
  ǌ: 'nj',
  ﬀ: 'ff',
  ﬁ: 'fi',
  ﬂ: 'fl',
  ﬃ: 'ffi',
  ﬄ: 'ffl',
  ﬅ: 'ſt',
  ﬆ: 'st',
};
const LATIN_LIGATURE = new RegExp(`[${Object.keys(LATIN_LIGATURES).join('')}]`, 'g');

/** U+3000 and the halfwidth/fullwidth forms block mapped to their NFKC equivalents. */
const WIDTH_MAP: ReadonlyMap<string, string> = (() => {
  const map = new Map<string, string>([['\u3000', ' ']]);
  for (let code = 0xff01; code < 0xfff0; code++) {
    const char = String.fromCharCode(code);
    const alternate = char.normalize('NFKC');
    if (alternate !== char) map.set(char, alternate);
  }
  return map;
})();
const WIDE_OR_NARROW = /[\u3000\uff01-\uffef]/g;

const C1_CONTROL = /[\x80-\x9f]/g;
const SINGLE_QUOTES = /[\u02bc\u2018-\u201b]/g;
const DOUBLE_QUOTES = /[\u201c-\u201f]/g;
const LINE_BREAKS = /\r\n|[\r\u2028\u2029\u0085]/g;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const TERMINAL_ESCAPE = /\x1b\[(?:\p{Nd}|;)*[a-zA-Z]/gu;
const CONTROL_CHARACTERS = /[\x00-\x08\x0b\x0e-\x1f\x7f\u206a-\u206f\ufeff\ufff9-\ufffc]/g;

/** One pass of ftfy's fixers after its encoding repair (see the file comment). */
function applyFixers(text: string, unescapeHtml: boolean): string {
  let fixed = unescapeHtml ? ftfyUnescapeHtml(text) : text;
  fixed = fixed.replace(C1_CONTROL, (char) => WINDOWS_1252_C1[char.charCodeAt(0) - 0x80]!);
  fixed = fixed.replace(LATIN_LIGATURE, (char) => LATIN_LIGATURES[char]!);
  fixed = fixed.replace(WIDE_OR_NARROW, (char) => WIDTH_MAP.get(char) ?? char);
  fixed = fixed.replace(SINGLE_QUOTES, "'").replace(DOUBLE_QUOTES, '"');
  fixed = fixed.replace(LINE_BREAKS, '\n');
  fixed = fixed.replace(LONE_SURROGATE, '\ufffd');
  fixed = fixed.replace(TERMINAL_ESCAPE, '');
  fixed = fixed.replace(CONTROL_CHARACTERS, '');
  return fixed.normalize('NFC');
}

/**
 * ftfy.fix_text with its default settings, minus mojibake repair. Like ftfy, it works line by line
 * and stops unescaping HTML from the first line that contains a `<` on.
 */
export function fixText(text: string): string {
  let unescapeHtml = true;
  const out: string[] = [];
  let position = 0;
  while (position < text.length) {
    const lineEnd = text.indexOf('\n', position);
    const end = lineEnd === -1 ? text.length : lineEnd + 1;
    let segment = text.slice(position, end);
    if (unescapeHtml && segment.includes('<')) unescapeHtml = false;
    for (;;) {
      const fixed = applyFixers(segment, unescapeHtml);
      if (fixed === segment) break;
      segment = fixed;
    }
    out.push(segment);
    position = end;
  }
  return out.join('');
}

// ---------------------------------------------------------------- CLIP's cleaning

/** Python's `str.strip()` set: Unicode White_Space plus the separators U+001C-U+001F. */
const PYTHON_STRIP = /^[\p{White_Space}\x1c-\x1f]+|[\p{White_Space}\x1c-\x1f]+$/gu;
/** The `regex` module's `\s`, which is exactly Unicode White_Space (JS's `\s` also matches U+FEFF). */
const WHITESPACE_RUN = /\p{White_Space}+/gu;

export function pythonStrip(text: string): string {
  return text.replace(PYTHON_STRIP, '');
}

/** `whitespace_clean(basic_clean(text)).lower()` of OpenAI's simple_tokenizer. */
export function cleanText(text: string): string {
  const basic = pythonStrip(htmlUnescape(htmlUnescape(fixText(text))));
  return pythonStrip(basic.replace(WHITESPACE_RUN, ' ')).toLowerCase();
}
