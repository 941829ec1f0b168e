// Bad input gives a JS error that names the operation and the shapes or argument at fault, and never
// aborts the process natively. The last test re-runs the riskiest calls in a child process so that a
// native abort would show up as a failed exit status rather than killing this runner.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  tensor,
  zeros,
  ones,
  randn,
  arange,
  cat,
  stack,
  einsum,
  tidy,
  aten,
  F,
  nn,
  fromTypedArray,
  native,
} from './index.ts';

const long = (values: unknown) => tensor(values, { dtype: 'int64' });

test('shape mismatches name the operator and both shapes', () =>
  tidy(() => {
    const a = zeros([2, 3]);
    assert.throws(
      () => a.matmul(zeros([4, 5])),
      /aten::matmul\(self=\[2, 3\] Float cpu, other=\[4, 5\] Float cpu\): .*2x3 and 4x5/,
    );
    assert.throws(
      () => a.add(zeros([4])),
      /aten::add\.Tensor\(self=\[2, 3\] Float cpu, other=\[4\] Float cpu\): The size of tensor a \(3\) must match the size of tensor b \(4\)/,
    );
    assert.throws(
      () => F.linear(zeros([2, 3]), zeros([4, 5])),
      /aten::linear\(input=\[2, 3\] .*weight=\[4, 5\].*cannot be multiplied/,
    );
    assert.throws(
      () => F.conv2d(zeros([1, 3, 5, 5]), zeros([4, 2, 3, 3])),
      /aten::conv2d\(input=\[1, 3, 5, 5\].*weight=\[4, 2, 3, 3\].*expected input\[1, 3, 5, 5\] to have 2 channels/,
    );
    assert.throws(() => F.layerNorm(a, [4]), /aten::layer_norm\(input=\[2, 3\].*normalized_shape=\[4\]/);
    assert.throws(() => a.bmm(zeros([2, 3, 4])), /aten::bmm\(self=\[2, 3\]/);
    assert.throws(
      () => a.view(4),
      /aten::view\(self=\[2, 3\] Float cpu\): shape '\[4\]' is invalid for input of size 6/,
    );
    assert.throws(
      () => cat([a, zeros([2])]),
      /aten::cat\(\): Tensors must have same number of dimensions: got 2 and 1/,
    );
    assert.throws(
      () => stack([a, zeros([3, 2])]),
      /stack expects each tensor to be equal size, but got \[2, 3\] at entry 0 and \[3, 2\] at entry 1/,
    );
    assert.throws(() => einsum('ij,jk->ik', a, zeros([4])), /einsum/);
    assert.throws(
      () => F.scaledDotProductAttention(zeros([2, 3, 4]), zeros([2, 5, 3]), zeros([2, 5, 4])),
      /\[2, 3, 4\]/,
    );
    assert.throws(() => new nn.Linear(3, 2).forward(zeros([4, 5])), /\[4, 5\]/);
  }));

test('out-of-range indices and dims are errors, not crashes', () =>
  tidy(() => {
    const a = arange(0, 6, 1, { dtype: 'float32' }).view(2, 3);
    assert.throws(
      () => a.index([long([5])]),
      /aten::index\.Tensor\(self=\[2, 3\].*index 5 is out of bounds for dimension 0 with size 2/,
    );
    assert.throws(() => a.indexSelect(0, long([7])), /aten::index_select.*index out of range/);
    assert.throws(
      () =>
        a.gather(
          1,
          long([
            [9, 0, 0],
            [0, 0, 0],
          ]),
        ),
      /aten::gather.*index 9 is out of bounds for dimension 1 with size 3/,
    );
    assert.throws(() => a.clone().indexPut_([long([2])], tensor([1])), /index 2 is out of bounds/);
    assert.throws(() => a.select(0, 10), /select\(\): index 10 out of range/);
    assert.throws(() => a.narrow(1, 2, 5), /exceeds dimension size/);
    assert.throws(() => a.sum(4), /Dimension out of range \(expected to be in range of \[-2, 1\], but got 4\)/);
    assert.throws(() => F.softmax(a, 2), /aten::softmax\.int\(self=\[2, 3\].*Dimension out of range/);
    assert.throws(() => a.topk(7), /aten::topk.*k out of range/);
    assert.throws(() => a.size(3), /dimension 3 is out of range for shape \[2,3\]/);
    assert.throws(
      () => F.embedding(randn([4, 2]), long([4])),
      /aten::embedding\(weight=\[4, 2\].*indices=\[1\].*index out of range/,
    );
    assert.throws(
      () => F.crossEntropy(randn([2, 3]), long([0, 3])),
      /aten::cross_entropy_loss.*Target 3 is out of bounds/,
    );
    assert.throws(() => a.index([tensor([0.5])]), /tensors used as indices must be long, (int, )?byte or bool tensors/); // 2.x adds int
  }));

test('bad dtype and device strings, wrong argument types and bad options', () =>
  tidy(() => {
    const a = zeros([2]);
    assert.throws(() => zeros([2], { dtype: 'floaty' as never }), /unknown dtype 'floaty' \(expected one of .*float32/);
    assert.throws(() => a.to('floaty' as never), /to\('floaty'\): not a dtype .* nor a device/);
    assert.throws(() => a.to({ device: 'gpu' }), /'gpu' is not a device/);
    assert.throws(() => zeros([2], { device: 'tpu' }), /'tpu' is not a device/);
    if (native.cudaDeviceCount() === 0)
      assert.throws(() => ones([2], { device: 'cuda:0' }), /'cuda:0' is not available/);
    assert.throws(() => a.add('x' as never), /add: other must be a Tensor, got string x/);
    assert.throws(() => a.mul({} as never), /mul: other must be a Tensor, got an object \(Object\)/);
    assert.throws(() => a.matmul([1, 2] as never), /matmul: other must be a Tensor, got an array/);
    assert.throws(() => a.where(undefined as never, a), /where: condition must be a Tensor, got undefined/);
    assert.throws(() => a.index([[0]] as never), /index: indices\[\] must be a Tensor/);
    assert.throws(() => cat([a, 3] as never), /cat: tensors\[1\] must be a Tensor, got number 3/);
    assert.throws(() => cat(a as never), /cat: expected an array of tensors/);
    assert.throws(() => F.linear(a, 'w' as never), /linear: weight must be a Tensor, got string w/);
    assert.throws(
      () => F.crossEntropy(randn([2, 3]), long([0, 1]), { reduction: 'avg' as never }),
      /crossEntropy: reduction 'avg' is not one of none, mean, sum/,
    );
    assert.throws(() => F.klDiv(randn([2, 3]), randn([2, 3]), 'total' as never), /klDiv: reduction 'total'/);
    assert.throws(() => a.view('x' as never), /element 0 is not a number/);
    assert.throws(() => tensor(['a'] as never), /tensor\(\): element 0 is string/);
    assert.throws(() => tensor([[1, 2], [3]]), /ragged nested array/);
    assert.throws(() => fromTypedArray(new Float32Array(3), [2, 2]), /shape \[2,2\] needs 4 elements, got 3/);
    assert.throws(() => fromTypedArray([1, 2] as never), /unsupported array type/);
    assert.throws(() => zeros([-1]), /aten::zeros\(\): .*(negative dimension -1|must be non-negative)/); // 1.13 and 2.x wording
    assert.throws(() => zeros([1e6, 1e6, 1e6]), /can't allocate memory|numel|overflow/i);
    assert.throws(() => aten('neg')(a.handle, 1, 2), /aten::neg: takes 1 arguments, got 3/);
    assert.throws(() => aten('no_such_operator')(a.handle), /has no operator aten::no_such_operator/);
    assert.throws(() => a.item(), /item: expected a tensor with one element, got \[2\] Float cpu/);
    assert.throws(() => a.long().mm(zeros([2, 2])), /aten::mm\(self=\[2\] Long cpu/);
  }));

test('a disposed tensor errors clearly, wherever it is used', () => {
  const t = tensor([1, 2]);
  t.dispose();
  assert.equal(t.isDisposed, true);
  const disposed = /this tensor was disposed \(by dispose\(\) or by the tidy\(\) scope that created it/;
  assert.throws(() => t.add(1), disposed);
  assert.throws(() => tensor([1]).add(t), disposed);
  assert.throws(() => t.shape, disposed);
  assert.throws(() => t.toArray(), disposed);
  assert.throws(() => F.softmax(t, 0), disposed);
  t.dispose(); // disposing twice is harmless
  const escaped = tidy(() => {
    const inner = tensor([3]);
    return { leaked: inner.add(1), freed: inner };
  });
  assert.deepEqual(escaped.leaked.toArray(), [4]);
  // A tensor freed by a scope, then used later (a common bug), is reported, not read from freed memory.
  const freedByScope = (() => {
    let kept: ReturnType<typeof tensor> | undefined;
    tidy(() => {
      kept = tensor([5]);
    });
    return kept!;
  })();
  assert.throws(() => freedByScope.item(), disposed);
  // The raw handle path reports the same fault from the addon.
  const raw = tensor([1]);
  const handle = raw.handle;
  native.dispose(handle);
  assert.throws(() => aten('neg')(handle), /self: this tensor was disposed \(by dispose\(\) or by the tidy\(\) scope/);
  escaped.leaked.dispose();
});

test('risky calls in a child process: every one throws a JS error and the process exits normally', () => {
  const script = fileURLToPath(new URL('./testdata/bad-calls.ts', import.meta.url));
  const result = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(result.signal, null, `child killed by ${result.signal}: ${result.stderr.slice(-2000)}`);
  assert.equal(
    result.status,
    0,
    `child exited ${result.status}: ${result.stdout.slice(-2000)}${result.stderr.slice(-2000)}`,
  );
  const lines = result.stdout.trim().split('\n');
  assert.ok(lines.length >= 20, `expected a report line per call, got ${lines.length}`);
  for (const line of lines) assert.match(line, /^threw /, line);
});
