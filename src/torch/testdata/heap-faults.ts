// For runtime.test.ts: page faults while a 40 MB block (over glibc's default 32 MB ceiling for heap
// blocks) is allocated, written and freed five times, after loading the addon. Prints one JSON line.
import { mallocTuned } from '../native.ts';

const gc = (globalThis as { gc?: () => void }).gc!;
const pass = () => {
  Buffer.allocUnsafeSlow(40 * 1024 * 1024).fill(1); // malloc'd; freed by the collection below
  gc();
};
pass();
const before = process.resourceUsage().minorPageFault;
for (let i = 0; i < 5; i++) pass();
console.log(JSON.stringify({ mallocTuned, faults: process.resourceUsage().minorPageFault - before }));
