import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCsv } from './csv.ts';
import { AnnotationError } from './annotation-error.ts';

test('parses quoted fields with commas, doubled quotes and newlines, CRLF, and reports start lines', () => {
  const text = 'a,b,c\r\n1,"x, y",3\r\n\r\n2,"say ""hi""\nthere",4\n5,,6';
  const rows = parseCsv(text, 'mem.csv');
  assert.deepEqual(
    rows.map((r) => [r.line, r.fields]),
    [
      [1, ['a', 'b', 'c']],
      [2, ['1', 'x, y', '3']],
      [4, ['2', 'say "hi"\nthere', '4']],
      [6, ['5', '', '6']],
    ],
  );
});

test('an unclosed quote is an error at the line where it opened', () => {
  assert.throws(
    () => parseCsv('a,b\n1,2\n3,"open\nstill open\n', 'bad.csv'),
    (e: unknown) =>
      e instanceof AnnotationError && e.file === 'bad.csv' && e.line === 3 && /never closed/.test(e.message),
  );
});
