/**
 * Parity of the LR schedules with the reference fixture: `expect.lr_schedule_<N>_per_epoch` (the lr of
 * both groups at every iteration, stepped as the original loop steps) and `expect.adamw.lrs` (the lrs of
 * the AdamW steps), from meta.json's solver settings; and that the reference checkpoint's
 * `optimizer_state_dict` loads. The base lrs are the original `_optimizer`'s groups: CLIP at
 * `lr * clip_ratio`, the rest at `lr`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ParityResult } from './parity-result.ts';
import type { RawTensor } from '../torch/serialization/raw-tensor.ts';
import { readSafetensorsFileSync } from '../torch/serialization/safetensors-format.ts';
import { readPtFile } from '../torch/serialization/pt-reader.ts';
import { isTensor, zeros } from '../torch/tensor.ts';
import { tidy } from '../torch/scope.ts';
import { createLrScheduler, stepBikeSchedule, type ScheduleSettings } from '../engine/training/lr-schedule.ts';
import { AdamW } from '../torch/optim/adam.ts';
import { loadOptimizerCheckpoint } from '../torch/optim/optimizer.ts';
import { isRawTensor } from '../torch/optim/state-dict.ts';
import { compareValues, guarded, type Tolerance } from './compare.ts';

/** Relative error allowed between our lr (float64, rounded to float32 as the fixture stores it) and the fixture's. */
const LR_TOLERANCE: Tolerance = { kind: 'relative', rtol: 1e-12 };

interface Solver extends ScheduleSettings {
  lr: number;
  clip_ratio: number;
}

function readSolver(metaPath: string): Solver {
  const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as { solver?: Record<string, unknown> };
  const solver = meta.solver;
  if (typeof solver !== 'object' || solver === null) throw new Error(`${metaPath}: missing 'solver'`);
  for (const key of ['lr', 'clip_ratio', 'epochs', 'lr_warmup_step']) {
    if (typeof solver[key] !== 'number')
      throw new Error(`${metaPath}: solver.${key} must be a number, got ${JSON.stringify(solver[key])}`);
  }
  if (typeof solver.type !== 'string') throw new Error(`${metaPath}: solver.type must be a string`);
  return solver as unknown as Solver;
}

function float32Values(raw: RawTensor, name: string): Float32Array {
  if (raw.dtype !== 'float32') throw new Error(`${name} is ${raw.dtype}; expected float32`);
  return new Float32Array(raw.data.slice().buffer);
}

function baseGroups(solver: Solver): { lr: number; initial_lr?: number }[] {
  return [{ lr: solver.lr * solver.clip_ratio }, { lr: solver.lr }];
}

/** Our float64 lrs, rounded to float32 as the fixture stores them, against the fixture's (`[row, group]` row-major). */
function compare(name: string, actual: number[], expected: Float32Array, columns: number, what: string): ParityResult {
  const result = compareValues(name, actual.map(Math.fround), expected, LR_TOLERANCE, {
    label: (i) => `row ${Math.floor(i / columns)}, group ${i % columns}`,
  });
  return { ...result, detail: `${what}: ${result.detail} (our float64 lr rounded to float32 as stored)` };
}

function scheduleCheck(name: string, expected: RawTensor, solver: Solver): ParityResult {
  const [rows, columns] = expected.shape;
  if (expected.shape.length !== 2 || columns !== 2)
    return { name, ok: false, detail: `shape [${expected.shape}]; expected [iterations, 2] (CLIP group, head group)` };
  const perEpoch = rows! / solver.epochs;
  if (!Number.isInteger(perEpoch))
    return {
      name,
      ok: false,
      detail: `${rows} rows are not a whole number of iterations per epoch for meta.json solver.epochs ${solver.epochs}`,
    };
  const optimizer = { paramGroups: baseGroups(solver) };
  const scheduler = createLrScheduler(solver, optimizer);
  const lrs: number[] = [];
  for (let epoch = 0; epoch < solver.epochs; epoch++) {
    for (let i = 0; i < perEpoch; i++) {
      stepBikeSchedule(scheduler, epoch, i, perEpoch);
      for (const group of optimizer.paramGroups) lrs.push(group.lr);
    }
  }
  return compare(
    name,
    lrs,
    float32Values(expected, name),
    2,
    `${solver.type} schedule, ${solver.epochs} epochs x ${perEpoch} iterations, stepped at iteration 1 and every 10th`,
  );
}

function adamwLrsCheck(name: string, expected: RawTensor, solver: Solver, plan: unknown): ParityResult {
  const match = typeof plan === 'string' ? /stepped to epoch\s+(\d+)\s*\+\s*s\b/.exec(plan) : null;
  if (!match)
    return {
      name,
      ok: false,
      detail: `meta.json adamw_steps must say "the scheduler is stepped to epoch <E>+s", got ${JSON.stringify(plan)}`,
    };
  const firstEpoch = Number(match[1]);
  const [steps, columns] = expected.shape;
  if (expected.shape.length !== 2 || columns !== 2)
    return { name, ok: false, detail: `shape [${expected.shape}]; expected [steps, 2]` };
  const optimizer = { paramGroups: baseGroups(solver) };
  const scheduler = createLrScheduler(solver, optimizer);
  const lrs: number[] = [];
  for (let s = 0; s < steps!; s++) {
    scheduler.step(firstEpoch + s);
    for (const group of optimizer.paramGroups) lrs.push(group.lr);
  }
  return compare(
    name,
    lrs,
    float32Values(expected, name),
    2,
    `${steps} steps at epochs ${firstEpoch}..${firstEpoch + steps! - 1}`,
  );
}

/** Loads the checkpoint's optimizer state into an AdamW over stand-in parameters shaped like its state. */
function checkpointCheck(name: string, path: string): ParityResult {
  const checkpoint = readPtFile(path) as Record<string, unknown>;
  if (!('optimizer_state_dict' in checkpoint))
    return {
      name,
      ok: false,
      detail: `${path} has no 'optimizer_state_dict' (keys: ${Object.keys(checkpoint).join(', ')})`,
    };
  const saved = checkpoint.optimizer_state_dict as { state?: unknown; param_groups?: { params?: number[] }[] };
  return tidy(() => {
    const groups = Array.isArray(saved.param_groups) ? saved.param_groups : [];
    const state =
      saved.state instanceof Map
        ? saved.state
        : new Map(Object.entries(saved.state ?? {}).map(([k, v]) => [Number(k), v]));
    const shapeOf = (id: number): number[] => {
      const entry = state.get(id) as Record<string, unknown> | undefined;
      const tensor = entry && Object.values(entry).find((v) => isRawTensor(v) && v.shape.length > 0);
      return tensor && isRawTensor(tensor) ? tensor.shape : [1];
    };
    const params = groups.map((g) => ({ params: (g.params ?? []).map((id) => zeros(shapeOf(id))) }));
    const optimizer = new AdamW(params.length > 0 ? params : [zeros([1])]);
    const loaded = loadOptimizerCheckpoint(optimizer, saved, `${path} optimizer_state_dict`);
    for (const entry of optimizer.state.values())
      for (const value of Object.values(entry)) if (isTensor(value)) value.dispose();
    const detail = loaded
      ? `loaded ${groups.length} parameter groups and ${state.size} parameter states into AdamW`
      : 'holds an empty dict (no optimizer state saved): accepted, nothing to restore';
    return { name, ok: true, detail: `${detail} (tolerance: loads without error)` };
  });
}

export async function optimParityChecks(fixtureDir: string): Promise<ParityResult[]> {
  const metaPath = join(fixtureDir, 'meta.json');
  const ioPath = join(fixtureDir, 'io.safetensors');
  const checkpointPath = join(fixtureDir, 'checkpoint_official.pt');
  const scheduleName = 'lr schedule (expect.lr_schedule_*_per_epoch)';
  const adamwName = 'lr schedule (expect.adamw.lrs)';
  const checkpointName = 'optimizer_state_dict of checkpoint_official.pt';
  const results: ParityResult[] = [];
  if (!existsSync(metaPath) || !existsSync(ioPath)) {
    const missing = existsSync(metaPath) ? ioPath : metaPath;
    results.push({ name: scheduleName, ok: false, skipped: true, detail: `${missing} is missing` });
    results.push({ name: adamwName, ok: false, skipped: true, detail: `${missing} is missing` });
  } else {
    const io = readSafetensorsFileSync(ioPath).tensors;
    let solver: Solver | undefined;
    let plan: unknown;
    try {
      solver = readSolver(metaPath);
      plan = (JSON.parse(readFileSync(metaPath, 'utf8')) as { adamw_steps?: unknown }).adamw_steps;
    } catch (error) {
      results.push({ name: scheduleName, ok: false, detail: (error as Error).message });
    }
    if (solver) {
      const scheduleKey = [...io.keys()].find((k) => /^expect\.lr_schedule_\d+_per_epoch$/.test(k));
      results.push(
        scheduleKey
          ? guarded(`lr schedule (${scheduleKey})`, () =>
              scheduleCheck(`lr schedule (${scheduleKey})`, io.get(scheduleKey)!, solver),
            )[0]!
          : {
              name: scheduleName,
              ok: false,
              skipped: true,
              detail: `${ioPath} has no expect.lr_schedule_<N>_per_epoch`,
            },
      );
      const adamw = io.get('expect.adamw.lrs');
      results.push(
        adamw
          ? guarded(adamwName, () => adamwLrsCheck(adamwName, adamw, solver, plan))[0]!
          : { name: adamwName, ok: false, skipped: true, detail: `${ioPath} has no expect.adamw.lrs` },
      );
    }
  }
  results.push(
    existsSync(checkpointPath)
      ? guarded(checkpointName, () => checkpointCheck(checkpointName, checkpointPath))[0]!
      : { name: checkpointName, ok: false, skipped: true, detail: `${checkpointPath} is missing` },
  );
  return results;
}
