import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

test('operator methods exist on a Tensor from tensor.ts alone (no side-effect import)', () => {
  const tensorModule = fileURLToPath(new URL('./tensor.ts', import.meta.url));
  const script = `import { tensor } from ${JSON.stringify(tensorModule)};
const t = tensor([[1, 2], [3, 4]]);
console.log(JSON.stringify([t.add(1).toArray(), t.matmul(t).toArray(), t.sum().item(), t.t().toArray(), t.clone().mul_(2).toArray()]));`;
  const result = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    encoding: 'utf8',
  });
  assert.equal(result.status, 0, result.stderr);
  assert.deepEqual(JSON.parse(result.stdout.trim()), [[2, 3, 4, 5], [7, 10, 15, 22], 10, [1, 3, 2, 4], [2, 4, 6, 8]]);
});
