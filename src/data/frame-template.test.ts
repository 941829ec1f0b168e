import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatTemplate, frameFileName, templateArity } from './frame-template.ts';

test('the original templates expand as Python str.format does', () => {
  assert.equal(frameFileName('img_{:05d}.jpg', 'abseiling/x1', 7), 'img_00007.jpg');
  assert.equal(frameFileName('frame{:d}.jpg', 'v', 0), 'frame0.jpg');
  assert.equal(frameFileName('image_{:06d}.jpg', 'v', 123456), 'image_123456.jpg');
  // Charades: image_tmpl.format(directory, idx)
  assert.equal(frameFileName('{}-{:06d}.jpg', '46GP8', 3), '46GP8-000003.jpg');
  assert.equal(
    frameFileName('img_{:05d}.jpg', 'v', 123456),
    'img_123456.jpg',
    'width is a minimum, never a truncation',
  );
});

test('format spec subset: fill, align, sign, zero padding, numbered fields, escapes', () => {
  // Expected strings produced by CPython 3.11.
  assert.equal(formatTemplate('{:05d}', [-3]), '-0003');
  assert.equal(formatTemplate('{:>6}|{:<4}|{:^7}', [1, 2, 'x']), '     1|2   |   x   ');
  assert.equal(formatTemplate('{{}}{0}{0}', [1]), '{}11');
  assert.equal(formatTemplate('{:+d}', [5]), '+5');
  assert.equal(formatTemplate('{:x<4d}', [5]), '5xxx');
  assert.equal(formatTemplate('{:05}', ['ab']), 'ab000');
  assert.equal(formatTemplate('{:6d}', [42]), '    42');
  assert.equal(formatTemplate('{1}_{0}', ['a', 'b']), 'b_a');
  assert.equal(formatTemplate('{:d}.jpg', [9, 'ignored extra']), '9.jpg');
});

test('arity counts the values a template consumes', () => {
  assert.equal(templateArity('img_{:05d}.jpg'), 1);
  assert.equal(templateArity('{}-{:06d}.jpg'), 2);
  assert.equal(templateArity('{1}{0}{1}'), 2);
  assert.equal(templateArity('plain.jpg'), 0);
});

test('bad templates and values are refused with the template named', () => {
  assert.throws(() => formatTemplate('img_{:05d', [1]), /img_\{:05d.*never closed/);
  assert.throws(() => formatTemplate('img_}.jpg', [1]), /single '\}'/);
  assert.throws(() => formatTemplate('{name}.jpg', [1]), /only positional fields/);
  assert.throws(() => formatTemplate('{:05d}', ['abc']), /needs an integer, got "abc"/);
  assert.throws(() => formatTemplate('{:.3f}', [1]), /unsupported format spec ":\.3f"/);
  assert.throws(() => formatTemplate('{}{0}', [1]), /cannot mix/);
  assert.throws(() => formatTemplate('{}-{}', [1]), /field 1 has no value/);
  assert.throws(() => frameFileName('static.jpg', 'v', 1), /"static.jpg".*found 0/);
});
