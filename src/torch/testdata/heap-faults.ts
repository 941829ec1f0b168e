// For runtime.test.ts: page faults over repeated passes of an MLP whose hidden activations (40 MB) exceed
// glibc's default ceiling for heap blocks. Prints one JSON line.
import { manualSeed, noGrad, randn, tidy } from '../index.ts';
import { linear } from '../functional.ts';
import { mallocTuned } from '../native.ts';

manualSeed(0);
const x = randn([3328, 768]);
const w1 = randn([3072, 768]).mul(0.02);
const w2 = randn([768, 3072]).mul(0.02);
const pass = () => tidy(() => noGrad(() => void linear(linear(x, w1).sigmoid(), w2).sum().item()));
pass();
const before = process.resourceUsage().minorPageFault;
for (let i = 0; i < 5; i++) pass();
console.log(JSON.stringify({ mallocTuned, faults: process.resourceUsage().minorPageFault - before }));
