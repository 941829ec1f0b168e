import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const here = path.dirname(new URL(import.meta.url).pathname);
const avx2 = /\bavx2\b/.test(readFileSync('/proc/cpuinfo', 'utf8'));

/** Which kernels a fresh process's transforms get after importing `modules`, and whether the addon loaded. */
function kernelsAfter(modules: string[], env: Record<string, string> = {}): { kind: string; addon: boolean } {
  const script = [
    ...modules.map((m) => `await import(${JSON.stringify(path.join(here, m))});`),
    `const { frameOps } = await import(${JSON.stringify(path.join(here, 'frame-ops.ts'))});`,
    `const { readFileSync } = await import('node:fs'); const addon = readFileSync('/proc/self/maps', 'utf8').includes('bike_torch.node');`,
    `console.log(JSON.stringify({ kind: frameOps().kind, addon }));`,
  ].join('\n');
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    encoding: 'utf8',
    env: { ...process.env, BIKE_FRAME_KERNELS: '', ...env },
  });
  return JSON.parse(out.trim().split('\n').pop()!) as { kind: string; addon: boolean };
}

test("the transforms use the addon's AVX2 kernels once a decoder loaded the addon, WebAssembly without it", () => {
  // The ONNX Runtime path (browser bundles too) imports the transforms alone: no libtorch.
  assert.deepEqual(kernelsAfter(['clip-transform.ts']), { kind: 'wasm', addon: false });
  assert.deepEqual(kernelsAfter(['clip-transform.ts', 'image-decoder.ts']), {
    kind: avx2 ? 'native' : 'wasm',
    addon: true,
  });
  assert.deepEqual(kernelsAfter(['video-decoder.ts']).kind, avx2 ? 'native' : 'wasm');
  assert.deepEqual(kernelsAfter(['image-decoder.ts'], { BIKE_FRAME_KERNELS: 'wasm' }).kind, 'wasm');
});
