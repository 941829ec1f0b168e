import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isTensor, tensor, type Tensor } from '../index.ts';
import { readPtBuffer } from '../serialization/pt-reader.ts';
import { PickleWriter, buildPtArchive, writeTensor } from '../serialization/pt-test-archive.ts';
import {
  AdamW,
  SGD,
  WarmupCosineAnnealingLR,
  loadOptimizerCheckpoint,
  type Optimizer,
  type OptimizerStateDict,
  type ParamGroup,
} from './index.ts';

const INIT = [
  [0.5, -1.25, 2.0, 0.125],
  [1.0, -2.0, 0.25],
  [0.75, -0.5, 1.5, 3.0, -0.25],
];
const SHAPES = [[2, 2], [3], [5]];

function gradsAt(step: number): number[][] {
  // Deterministic, step-dependent gradients of mixed sign and size.
  return INIT.map((values, i) => values.map((_, k) => Math.sin(1.7 * step + 0.9 * k + 0.3 * i) * 10 ** ((k % 3) - 1)));
}

function makeParams(): Tensor[] {
  return INIT.map((v, i) => tensor(v).reshape(SHAPES[i]!).keep().requiresGrad_(true));
}

function clonedParams(from: Tensor[]): Tensor[] {
  return from.map((p) => tensor(p.toArray()).reshape(p.shape).keep().requiresGrad_(true));
}

function groupsOf(params: Tensor[]): { params: Tensor[]; lr: number }[] {
  return [
    { params: params.slice(0, 2), lr: 0.01 },
    { params: params.slice(2), lr: 0.1 },
  ];
}

function stepAll(optimizer: Optimizer<ParamGroup>, params: Tensor[], step: number): void {
  const grads = gradsAt(step);
  params.forEach((p, i) => {
    p.grad = tensor(grads[i]!).reshape(SHAPES[i]!);
  });
  optimizer.step();
}

function bits(params: Tensor[]): number[][] {
  return params.map((p) => p.toArray());
}

/** What a checkpoint writer stores: tensors as RawTensor bytes, everything else as plain values. */
function asSavedCheckpoint(sd: OptimizerStateDict): Record<string, unknown> {
  const state: Record<string, unknown> = {};
  for (const [id, entry] of Object.entries(sd.state)) {
    state[id] = Object.fromEntries(Object.entries(entry).map(([k, v]) => [k, isTensor(v) ? v.toRaw() : v]));
  }
  return { param_groups: structuredClone(sd.param_groups), state };
}

const makers: [string, (groups: { params: Tensor[]; lr: number }[]) => Optimizer<ParamGroup>][] = [
  ['AdamW', (groups) => new AdamW(groups, { weight_decay: 0.2, amsgrad: true }) as unknown as Optimizer<ParamGroup>],
  [
    'SGD',
    (groups) =>
      new SGD(groups, { momentum: 0.9, nesterov: true, weight_decay: 1e-3 }) as unknown as Optimizer<ParamGroup>,
  ],
];

for (const [name, make] of makers) {
  test(`${name}: save after 3 steps, load into a new optimizer, continue 2 steps == 5 uninterrupted steps, bit for bit`, () => {
    const uninterrupted = makeParams();
    const u = make(groupsOf(uninterrupted));
    const uSchedule = new WarmupCosineAnnealingLR(u, 5, { warmupEpochs: 2 });
    for (let s = 0; s < 5; s++) {
      uSchedule.step(s + 0.5);
      stepAll(u, uninterrupted, s);
    }

    const first = makeParams();
    const a = make(groupsOf(first));
    const aSchedule = new WarmupCosineAnnealingLR(a, 5, { warmupEpochs: 2 });
    for (let s = 0; s < 3; s++) {
      aSchedule.step(s + 0.5);
      stepAll(a, first, s);
    }
    const saved = asSavedCheckpoint(a.stateDict());
    const savedSchedule = JSON.parse(JSON.stringify(aSchedule.stateDict())) as Record<string, unknown>;

    const resumed = clonedParams(first);
    const b = make(groupsOf(resumed).map((g) => ({ ...g, lr: 123 })));
    const bSchedule = new WarmupCosineAnnealingLR(b, 5, { warmupEpochs: 2 });
    b.loadStateDict(saved);
    bSchedule.loadStateDict(savedSchedule);
    assert.deepEqual(
      b.paramGroups.map((g) => g.lr),
      a.paramGroups.map((g) => g.lr),
    );
    for (let s = 3; s < 5; s++) {
      bSchedule.step(s + 0.5);
      stepAll(b, resumed, s);
    }
    assert.deepEqual(bits(resumed), bits(uninterrupted));
    assert.deepEqual(bSchedule.getLastLr(), uSchedule.getLastLr());
  });
}

test('loaded state is a copy: stepping the new optimizer leaves the source state alone', () => {
  const params = makeParams();
  const a = new AdamW(groupsOf(params));
  stepAll(a as unknown as Optimizer<ParamGroup>, params, 0);
  const sd = a.stateDict();
  const before = (sd.state[0]!.exp_avg as Tensor).toArray();
  const other = clonedParams(params);
  const b = new AdamW(groupsOf(other));
  b.loadStateDict(sd);
  stepAll(b as unknown as Optimizer<ParamGroup>, other, 1);
  assert.deepEqual((sd.state[0]!.exp_avg as Tensor).toArray(), before);
  assert.equal(b.state.get(other[0]!)!.step, 2);
  assert.equal(sd.state[0]!.step, 1);
});

test("state dict layout is PyTorch's: indices across groups, hyper-parameters, step as a number", () => {
  const params = makeParams();
  const optimizer = new AdamW(groupsOf(params), { weight_decay: 0.2 });
  params[0]!.grad = tensor(gradsAt(0)[0]!).reshape(SHAPES[0]!);
  params[2]!.grad = tensor(gradsAt(0)[2]!);
  optimizer.step();
  const sd = optimizer.stateDict();
  assert.deepEqual(
    sd.param_groups.map((g) => g.params),
    [[0, 1], [2]],
  );
  assert.deepEqual(Object.keys(sd.state), ['0', '2']);
  assert.deepEqual(Object.keys(sd.state[0]!), ['step', 'exp_avg', 'exp_avg_sq']);
  assert.equal(sd.state[0]!.step, 1);
  const { params: _ids, ...hyper } = sd.param_groups[1]!;
  assert.deepEqual(hyper, {
    lr: 0.1,
    betas: [0.9, 0.999],
    eps: 1e-8,
    weight_decay: 0.2,
    amsgrad: false,
    foreach: null,
    maximize: false,
    capturable: false,
  });
});

test('loading checks group count, group sizes, state shapes and indices, and changes nothing on failure', () => {
  const params = makeParams();
  const a = new AdamW(groupsOf(params));
  stepAll(a as unknown as Optimizer<ParamGroup>, params, 0);
  const good = a.stateDict();
  const target = new AdamW(groupsOf(clonedParams(params)));
  assert.throws(
    () => target.loadStateDict({ ...good, param_groups: good.param_groups.slice(0, 1) }, 'ck.pt'),
    /ck\.pt has 1 parameter groups; this AdamW has 2/,
  );
  assert.throws(
    () =>
      target.loadStateDict({
        ...good,
        param_groups: [{ ...good.param_groups[0]!, params: [0] }, good.param_groups[1]!],
      }),
    /param_groups\[0\] holds 1 parameters; this AdamW's group 0 holds 2/,
  );
  const wrongShape = { ...good, state: { ...good.state, 1: { ...good.state[1]!, exp_avg: tensor([1, 2]) } } };
  assert.throws(
    () => target.loadStateDict(wrongShape),
    /state\[1\] \(group 0, parameter 1\)\.exp_avg has shape \[2\]; the parameter has shape \[3\]/,
  );
  assert.throws(
    () => target.loadStateDict({ ...good, state: { ...good.state, 7: good.state[0]! } }),
    /state\[7\] names no parameter/,
  );
  assert.throws(
    () => target.loadStateDict({ ...good, state: { 0: { step: 1, exp_avg: good.state[0]!.exp_avg } } }),
    /state\[0\] \(group 0, parameter 0\): 'exp_avg_sq' must be a tensor/,
  );
  assert.throws(() => target.loadStateDict({ state: {} } as never), /missing key 'param_groups'/);
  assert.throws(
    () =>
      target.loadStateDict({ ...good, param_groups: [{ ...good.param_groups[0]!, eps: -1 }, good.param_groups[1]!] }),
    /param_groups\[0\]: 'eps' must be a finite number >= 0/,
  );
  assert.equal(target.state.size, 0);
  assert.deepEqual(
    target.paramGroups.map((g) => g.lr),
    [0.01, 0.1],
  );
});

/** A torch.save archive of `{'optimizer_state_dict': sd}` laid out as PyTorch 1.13 writes an AdamW state dict. */
function torchSaveArchive(sd: OptimizerStateDict): Uint8Array {
  const p = new PickleWriter().proto().emptyDict().binunicode('optimizer_state_dict');
  const storages: Record<string, Uint8Array> = {};
  const tensorSpec = (t: Tensor) => {
    const key = String(Object.keys(storages).length);
    storages[key] = t.toRaw().data;
    const strides = t.shape.map((_, d) => t.shape.slice(d + 1).reduce((a, b) => a * b, 1));
    return { storageClass: 'FloatStorage', key, storageNumel: t.numel, offset: 0, shape: t.shape, stride: strides };
  };
  p.emptyDict().mark().binunicode('state').emptyDict().mark();
  for (const [id, entry] of Object.entries(sd.state)) {
    p.int(Number(id)).emptyDict().mark();
    // PyTorch >= 1.12 keeps `step` as a 0-dim float tensor.
    p.binunicode('step');
    writeTensor(p, tensorSpec(tensor(entry.step as number)));
    for (const key of ['exp_avg', 'exp_avg_sq']) writeTensor(p.binunicode(key), tensorSpec(entry[key] as Tensor));
    p.setitems();
  }
  p.setitems().binunicode('param_groups').emptyList().mark();
  for (const group of sd.param_groups) {
    p.emptyDict().mark();
    p.binunicode('lr').binfloat(group.lr);
    const betas = group.betas as number[];
    p.binunicode('betas').binfloat(betas[0]!).binfloat(betas[1]!).tuple2();
    p.binunicode('eps')
      .binfloat(group.eps as number)
      .binunicode('weight_decay')
      .binfloat(group.weight_decay as number);
    p.binunicode('amsgrad')
      .bool(false)
      .binunicode('foreach')
      .none()
      .binunicode('maximize')
      .bool(false)
      .binunicode('capturable')
      .bool(false);
    p.binunicode('initial_lr').binfloat(group.lr);
    p.binunicode('params').emptyList().mark();
    for (const id of group.params) p.int(id);
    p.appends().setitems();
  }
  p.appends().setitems().setitem().stop();
  return buildPtArchive(p.bytes(), storages);
}

test("a PyTorch checkpoint's optimizer_state_dict (Map state, tensor step, tuple betas, None) loads and continues bit for bit", () => {
  const uninterrupted = makeParams();
  const u = new AdamW(groupsOf(uninterrupted), { weight_decay: 0.2 });
  for (let s = 0; s < 4; s++) stepAll(u as unknown as Optimizer<ParamGroup>, uninterrupted, s);

  const first = makeParams();
  const a = new AdamW(groupsOf(first), { weight_decay: 0.2 });
  for (let s = 0; s < 2; s++) stepAll(a as unknown as Optimizer<ParamGroup>, first, s);
  const checkpoint = readPtBuffer(torchSaveArchive(a.stateDict()), 'adamw.pt') as Record<string, unknown>;
  assert.ok((checkpoint.optimizer_state_dict as { state: unknown }).state instanceof Map);

  const resumed = clonedParams(first);
  const b = new AdamW(
    groupsOf(resumed).map((g) => ({ ...g, lr: 1 })),
    { weight_decay: 0 },
  );
  assert.equal(loadOptimizerCheckpoint(b, checkpoint.optimizer_state_dict, 'adamw.pt optimizer_state_dict'), true);
  assert.equal(b.paramGroups[0]!.weight_decay, 0.2);
  assert.equal(b.paramGroups[1]!.initial_lr, 0.1);
  assert.equal(b.state.get(resumed[2]!)!.step, 2);
  for (let s = 2; s < 4; s++) stepAll(b as unknown as Optimizer<ParamGroup>, resumed, s);
  assert.deepEqual(bits(resumed), bits(uninterrupted));
});
