// Shape changes, joining and splitting, slicing and indexing, with hand-computed expectations.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tensor, arange, zeros, cat, stack, tidy, native } from './index.ts';

const long = (values: unknown) => tensor(values, { dtype: 'int64' });
/** [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]] as float32. */
const grid = () => arange(0, 12, 1, { dtype: 'float32' }).view(3, 4);

test('view, reshape, flatten, squeeze and unsqueeze', () =>
  tidy(() => {
    const x = grid();
    assert.deepEqual(x.view(4, 3).toNested(), [
      [0, 1, 2],
      [3, 4, 5],
      [6, 7, 8],
      [9, 10, 11],
    ]);
    assert.deepEqual(x.view(-1).shape, [12]);
    assert.deepEqual(x.view([2, -1, 2]).shape, [2, 3, 2], 'shape as an array');
    assert.ok(native.sameStorage(x.view(12).handle, x.handle), 'view shares storage');
    assert.deepEqual(
      x.t().reshape(12).toArray(),
      [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11],
      'reshape copies a non-contiguous input',
    );
    assert.throws(() => x.t().view(12), /view/, 'view of a non-contiguous tensor fails as in PyTorch');
    assert.deepEqual(zeros([2, 3, 4]).flatten(1).shape, [2, 12]);
    assert.deepEqual(zeros([2, 3, 4]).flatten().shape, [24]);
    assert.deepEqual(zeros([1, 3, 1]).squeeze().shape, [3]);
    assert.deepEqual(zeros([1, 3, 1]).squeeze(0).shape, [3, 1]);
    assert.deepEqual(zeros([3]).unsqueeze(0).unsqueeze(-1).shape, [1, 3, 1]);
  }));

test('permute, transpose, contiguous', () =>
  tidy(() => {
    const x = arange(0, 24, 1, { dtype: 'float32' }).view(2, 3, 4);
    const p = x.permute(2, 0, 1);
    assert.deepEqual(p.shape, [4, 2, 3]);
    assert.equal(p.select(0, 1).select(0, 1).select(0, 2).item(), 1 * 12 + 2 * 4 + 1);
    assert.deepEqual(x.permute([1, 0, 2]).shape, [3, 2, 4]);
    const t = x.transpose(0, 2);
    assert.deepEqual(t.shape, [4, 3, 2]);
    assert.equal(t.select(0, 3).select(0, 2).select(0, 1).item(), 1 * 12 + 2 * 4 + 3);
    assert.deepEqual(x.transpose(-1, -2).shape, [2, 4, 3]);
    const c = t.contiguous();
    assert.deepEqual(c.toArray(), t.toArray());
    assert.ok(!native.sameStorage(c.handle, x.handle), 'contiguous() of a strided view copies');
    assert.deepEqual(c.view(24).shape, [24]);
  }));

test('expand, expandAs, repeat, repeatInterleave, flip, roll, tril, triu', () =>
  tidy(() => {
    const v = tensor([[1], [2]]);
    assert.deepEqual(v.expand(2, 3).toNested(), [
      [1, 1, 1],
      [2, 2, 2],
    ]);
    assert.deepEqual(v.expand(-1, 2).toNested(), [
      [1, 1],
      [2, 2],
    ]);
    assert.deepEqual(v.expandAs(zeros([2, 2])).shape, [2, 2]);
    assert.deepEqual(tensor([1, 2]).repeat(2, 2).toNested(), [
      [1, 2, 1, 2],
      [1, 2, 1, 2],
    ]);
    assert.deepEqual(tensor([1, 2]).repeatInterleave(2).toArray(), [1, 1, 2, 2]);
    assert.deepEqual(v.repeatInterleave(2, 1).toNested(), [
      [1, 1],
      [2, 2],
    ]);
    assert.deepEqual(grid().flip(0, 1).select(0, 0).toArray(), [11, 10, 9, 8]);
    assert.deepEqual(tensor([1, 2, 3, 4]).roll(1, 0).toArray(), [4, 1, 2, 3]);
    assert.deepEqual(
      tensor([
        [1, 2],
        [3, 4],
      ])
        .tril()
        .toNested(),
      [
        [1, 0],
        [3, 4],
      ],
    );
    assert.deepEqual(
      tensor([
        [1, 2],
        [3, 4],
      ])
        .triu(1)
        .toNested(),
      [
        [0, 2],
        [0, 0],
      ],
    );
  }));

test('cat and stack', () =>
  tidy(() => {
    const a = tensor([[1, 2]]);
    const b = tensor([
      [3, 4],
      [5, 6],
    ]);
    assert.deepEqual(cat([a, b]).toNested(), [
      [1, 2],
      [3, 4],
      [5, 6],
    ]);
    assert.deepEqual(cat([b, b], 1).toNested(), [
      [3, 4, 3, 4],
      [5, 6, 5, 6],
    ]);
    assert.deepEqual(cat([b, b], -1).shape, [2, 4]);
    assert.deepEqual(stack([a, a]).shape, [2, 1, 2]);
    assert.deepEqual(stack([tensor([1, 2]), tensor([3, 4])], 1).toNested(), [
      [1, 3],
      [2, 4],
    ]);
    assert.deepEqual(stack([tensor([1, 2]), tensor([3, 4])], -1).toNested(), [
      [1, 3],
      [2, 4],
    ]);
  }));

test('split, chunk and unbind', () =>
  tidy(() => {
    const x = arange(0, 10, 1, { dtype: 'float32' });
    assert.deepEqual(
      x.split(4).map((t) => t.toArray()),
      [
        [0, 1, 2, 3],
        [4, 5, 6, 7],
        [8, 9],
      ],
    );
    assert.deepEqual(
      x.split([2, 3, 5]).map((t) => t.shape[0]),
      [2, 3, 5],
    );
    assert.deepEqual(
      x.chunk(3).map((t) => t.shape[0]),
      [4, 4, 2],
    );
    const g = grid();
    const [q, k, v] = g.chunk(3, 0);
    assert.deepEqual(
      [q!.toArray(), k!.toArray(), v!.toArray()],
      [
        [0, 1, 2, 3],
        [4, 5, 6, 7],
        [8, 9, 10, 11],
      ],
    );
    assert.deepEqual(
      g.chunk(2, -1).map((t) => t.toNested()),
      [
        [
          [0, 1],
          [4, 5],
          [8, 9],
        ],
        [
          [2, 3],
          [6, 7],
          [10, 11],
        ],
      ],
    );
    assert.deepEqual(
      g.unbind(1).map((t) => t.toArray()),
      [
        [0, 4, 8],
        [1, 5, 9],
        [2, 6, 10],
        [3, 7, 11],
      ],
    );
    assert.ok(native.sameStorage(g.split(1)[1]!.handle, g.handle), 'split parts are views');
  }));

test('slicing with start, end, step and negative indices, narrow and select', () =>
  tidy(() => {
    const x = grid();
    assert.deepEqual(
      x.slice(1, 1, 3).toNested(),
      [
        [1, 2],
        [5, 6],
        [9, 10],
      ],
      'x[:, 1:3]',
    );
    assert.deepEqual(
      x.slice(1, null, null, 2).toNested(),
      [
        [0, 2],
        [4, 6],
        [8, 10],
      ],
      'x[:, ::2]',
    );
    assert.deepEqual(x.slice(0, -1).toNested(), [[8, 9, 10, 11]], 'x[-1:]');
    assert.deepEqual(x.slice(0, 0, -1).shape, [2, 4], 'x[:-1]');
    assert.deepEqual(x.slice(1, 3, 100).toNested(), [[3], [7], [11]], 'end past the size clamps');
    assert.deepEqual(x.slice(0, 5, 10).shape, [0, 4], 'start past the size gives an empty slice');
    assert.deepEqual(x.narrow(1, 2, 2).toNested(), [
      [2, 3],
      [6, 7],
      [10, 11],
    ]);
    assert.deepEqual(x.select(0, -1).toArray(), [8, 9, 10, 11]);
    assert.deepEqual(x.select(1, 0).toArray(), [0, 4, 8]);
    const y = x.clone();
    y.slice(1, 0, 2).fill_(-1);
    assert.deepEqual(y.select(0, 2).toArray(), [-1, -1, 10, 11], 'a slice is a writable view');
  }));

test('indexSelect, gather, scatter and row indexing', () =>
  tidy(() => {
    const x = grid();
    assert.deepEqual(x.indexSelect(0, long([2, 0, 2])).toNested(), [
      [8, 9, 10, 11],
      [0, 1, 2, 3],
      [8, 9, 10, 11],
    ]);
    assert.deepEqual(x.indexSelect(1, long([3])).toNested(), [[3], [7], [11]]);
    assert.deepEqual(
      x
        .gather(
          1,
          long([
            [0, 3],
            [1, 1],
            [2, 0],
          ]),
        )
        .toNested(),
      [
        [0, 3],
        [5, 5],
        [10, 8],
      ],
    );
    assert.deepEqual(x.gather(0, long([[2, 1, 0, 0]])).toNested(), [[8, 5, 2, 3]]);
    assert.deepEqual(
      zeros([2, 3])
        .scatter(1, long([[2], [0]]), tensor([[7], [9]]))
        .toNested(),
      [
        [0, 0, 7],
        [9, 0, 0],
      ],
    );
    // x[[2, 0]] and x[:, [1, 3]] and x[[0, 2], [1, 3]] (advanced indexing pairs the index tensors)
    assert.deepEqual(x.index([long([2, 0])]).toNested(), [
      [8, 9, 10, 11],
      [0, 1, 2, 3],
    ]);
    assert.deepEqual(x.index([null, long([1, 3])]).toNested(), [
      [1, 3],
      [5, 7],
      [9, 11],
    ]);
    assert.deepEqual(x.index([long([0, 2]), long([1, 3])]).toArray(), [1, 11]);
    assert.deepEqual(
      x.index([long([[0], [2]]), long([1, 3])]).toNested(),
      [
        [1, 3],
        [9, 11],
      ],
      'index tensors broadcast',
    );
    assert.deepEqual(x.index([long([-1])]).toNested(), [[8, 9, 10, 11]], 'negative row index');
  }));

test('boolean masks: index, maskedSelect, maskedFill', () =>
  tidy(() => {
    const x = grid();
    const rows = tensor([true, false, true]);
    assert.deepEqual(
      x.index([rows]).toNested(),
      [
        [0, 1, 2, 3],
        [8, 9, 10, 11],
      ],
      'x[mask] keeps masked rows',
    );
    const big = x.gt(8);
    assert.deepEqual(x.index([big]).toArray(), [9, 10, 11], 'x[x > 8]');
    assert.deepEqual(x.maskedSelect(x.lt(2)).toArray(), [0, 1]);
    assert.deepEqual(x.maskedFill(x.lt(10), 0).select(0, 2).toArray(), [0, 0, 10, 11]);
    assert.deepEqual(
      x
        .maskedFill(tensor([[true], [false], [false]]), -Infinity)
        .select(0, 0)
        .toArray(),
      [-Infinity, -Infinity, -Infinity, -Infinity],
      'the mask broadcasts',
    );
    assert.deepEqual(x.maskedFill(x.eq(0), tensor(5)).select(0, 0).toArray(), [5, 1, 2, 3], 'a 0-d tensor value');
    const y = x.clone();
    y.indexPut_([y.gt(9)], tensor([0]));
    assert.deepEqual(y.select(0, 2).toArray(), [8, 9, 0, 0], 'x[x > 9] = 0');
  }));
