import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cleanText, fixText, htmlUnescape, pythonStrip } from './text-cleaning.ts';

// Expected values are what CPython 3.11's html.unescape returns for the same inputs.
const pythonUnescape: [string, string][] = [
  ['&#39;', "'"],
  ['&#x27;', "'"],
  ['&amp;', '&'],
  ['&notit;', '¬it;'],
  ['&ampx', '&x'],
  ['&#0;', '\ufffd'],
  ['&#x80;', '€'],
  ['&#1;', ''],
  ['&#xD800;', '\ufffd'],
  ['&#1114112;', '\ufffd'],
  ['&#65', 'A'],
  ['&lt&gt', '<>'],
  ['&eacute&x', 'é&x'],
  ['&NotANamedEntity;', '&NotANamedEntity;'],
  ['&#99999999999999999999;', '\ufffd'],
  ['&#x1F600;', '😀'],
  ['a &amp;amp; b', 'a &amp; b'],
  ['&Afr;', '𝔄'],
  ['&#13;', '\r'],
  ['no entities', 'no entities'],
];

test('htmlUnescape matches Python html.unescape', () => {
  for (const [input, expected] of pythonUnescape) assert.equal(htmlUnescape(input), expected, input);
});

// Expected values are ftfy 6's documented results (its doctests) for its deterministic fixers.
test('fixText reproduces ftfy.fix_text on text that needs no mojibake repair', () => {
  assert.equal(fixText('ＬＯＵＤ　ＮＯＩＳＥＳ'), 'LOUD NOISES');
  assert.equal(fixText('Ｕﾀｰﾝ'), 'Uターン');
  assert.equal(fixText('ﬂuﬃeﬆ'), 'fluffiest');
  assert.equal(fixText('\u201chere\u2019s a test\u201d'), '"here\'s a test"');
  assert.equal(fixText('P&EACUTE;REZ'), 'PÉREZ');
  assert.equal(fixText('BUNDESSTRA&SZLIG;E'), 'BUNDESSTRASSE');
  assert.equal(fixText('&ntilde; &Ntilde; &NTILDE; &nTILDE;'), 'ñ Ñ Ñ &nTILDE;');
  assert.equal(fixText("\x1b[36;44mI'm blue, da ba dee da ba doo...\x1b[0m"), "I'm blue, da ba dee da ba doo...");
  assert.equal(fixText('a\x00\x08\tb\x0b\x7fc\ufeff'), 'a\tbc');
  assert.equal(fixText('one\r\ntwo\rthree\u2028four\u2029five'), 'one\ntwo\nthree\nfour\nfive');
  assert.equal(fixText('price \x80'), 'price €');
  assert.equal(fixText('e\u0301'), 'é');
  // Entities are unescaped until nothing changes, but not in or after a line holding a '<'.
  assert.equal(fixText('&amp;amp;amp;'), '&');
  assert.equal(fixText('&amp;\n<html>\n&amp;'), '&\n<html>\n&amp;');
  assert.equal(fixText('lone \ud800 surrogate'), 'lone \ufffd surrogate');
});

test('cleanText is whitespace_clean(basic_clean(text)).lower()', () => {
  assert.equal(cleanText('   Many \t spaces\n\nand  LINES  '), 'many spaces and lines');
  assert.equal(cleanText('Tom &amp;amp; Jerry'), 'tom & jerry');
  assert.equal(cleanText('\u00a0\u3000wide\u2003space\u00a0'), 'wide space');
  assert.equal(cleanText('zero\u200bwidth'), 'zero\u200bwidth', 'U+200B is not whitespace in Python');
  assert.equal(pythonStrip('\x1c\x1f x \x85'), 'x', 'Python strips U+001C-U+001F and U+0085');
  assert.equal(pythonStrip('\ufeffx'), '\ufeffx', 'Python does not strip U+FEFF');
});
