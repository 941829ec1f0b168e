// Run by ops-errors.test.ts in a child process: calls that are wrong in ways that could crash a
// native binding. Prints `threw <message>` per call that raised a JS error and `RETURNED <name>` per
// call that did not; a native abort kills the process instead, which the test detects.
import {
  tensor,
  zeros,
  randn,
  arange,
  F,
  aten,
  native,
  noGrad,
  backward,
  grad,
  applyCustom,
  nn,
  type Tensor,
} from '../index.ts';

const long = (values: unknown) => tensor(values, { dtype: 'int64' });
const a = arange(0, 6, 1, { dtype: 'float32' }).view(2, 3);

const calls: [string, () => unknown][] = [
  ['index out of range', () => a.index([long([99])])],
  ['negative index out of range', () => a.index([long([-3])])],
  ['gather out of range', () => a.gather(0, long([[5, 0, 0]]))],
  ['scatter out of range', () => zeros([2, 2]).scatter(0, long([[9, 0]]), tensor([[1, 1]]))],
  ['embedding out of range', () => F.embedding(randn([3, 2]), long([-1]))],
  ['cross entropy target out of range', () => F.crossEntropy(randn([2, 3]), long([0, -5]))],
  ['index_put out of range', () => a.clone().indexPut_([long([4])], tensor([0]))],
  ['bad dtype string', () => zeros([2], { dtype: 'complex256' as never })],
  ['bad device string', () => a.to('npu:7' as never)],
  ['string where a tensor goes', () => a.add('1' as never)],
  ['number where a tensor goes', () => a.matmul(3 as never)],
  ['null tensor', () => F.linear(a, null as never)],
  ['handle of another kind', () => aten('neg')({} as never)],
  ['wrong arity', () => aten('add.Tensor')(a.handle)],
  ['string where an int list goes', () => aten('view')(a.handle, 'abc')],
  ['object where a number goes', () => aten('select.int')(a.handle, {}, 0)],
  ['negative shape', () => zeros([-5, 2])],
  ['huge allocation', () => zeros([2 ** 40, 2 ** 20])],
  ['item of many', () => a.item()],
  ['backward of a non-scalar', () => randn([3], { requiresGrad: true }).mul(2).backward()],
  [
    'backward twice',
    () => {
      const y = randn([3], { requiresGrad: true }).exp().sum();
      y.backward();
      y.backward();
    },
  ],
  ['backward without grad', () => noGrad(() => randn([3], { requiresGrad: true }).sum()).backward()],
  ['grad of an input not in the graph', () => grad([randn([2], { requiresGrad: true }).sum()], [zeros([2])])],
  [
    'custom backward that throws',
    () => {
      const x = randn([2], { requiresGrad: true });
      const [y] = applyCustom(
        {
          forward: ([t]) => [t!.mul(2)],
          backward: () => {
            throw new Error('backward failed on purpose');
          },
        },
        [x],
      );
      backward([y!.sum()]);
    },
  ],
  [
    'custom backward returning a wrong shape',
    () => {
      const x = randn([2], { requiresGrad: true });
      const [y] = applyCustom({ forward: ([t]) => [t!.mul(2)], backward: () => [zeros([5])] }, [x]);
      backward([y!.sum()]);
    },
  ],
  [
    'custom backward returning a non-tensor',
    () => {
      const x = randn([2], { requiresGrad: true });
      const [y] = applyCustom({ forward: ([t]) => [t!.mul(2)], backward: () => ['x' as unknown as Tensor] }, [x]);
      backward([y!.sum()]);
    },
  ],
  [
    'load state dict with wrong shapes',
    () => new nn.Linear(2, 2).loadStateDict({ weight: zeros([3, 3]), bias: zeros([2]) }),
  ],
  ['fromBuffer with too few bytes', () => native.fromBuffer(new Float32Array(2), 6, [3])],
  ['fromFile on a bad file descriptor', () => native.fromFile(-1, 0, 6, [3])],
  ['fromFile with a negative offset', () => native.fromFile(0, -8, 6, [3])],
  ['process group on a bad backend', () => native.createProcessGroup('mpi', '127.0.0.1', 1, 0, 1, 100)],
];

for (const [name, call] of calls) {
  try {
    call();
    console.log(`RETURNED ${name}`);
  } catch (error) {
    console.log(
      `threw ${name}: ${String((error as Error).message)
        .split('\n')[0]!
        .slice(0, 200)}`,
    );
  }
}
