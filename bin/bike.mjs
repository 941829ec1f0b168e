#!/usr/bin/env node
// The `bike` command. An installed package runs the compiled JavaScript (dist/cli/main.js); a
// checkout with sources runs src/cli/main.ts through tsx (TypeScript without a build step), unless
// BIKE_USE_DIST=1 asks for dist/. Calls main() itself, since under npx or a global link argv[1] is
// a link, not this file.
import { existsSync } from 'node:fs';

const source = new URL('../src/cli/main.ts', import.meta.url);
const compiled = new URL('../dist/cli/main.js', import.meta.url);
let main;
if (existsSync(source) && process.env.BIKE_USE_DIST !== '1') {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import(source.href));
} else {
  if (!existsSync(compiled)) {
    console.error('bike: dist/cli/main.js is missing: run `npm run build`');
    process.exit(1);
  }
  ({ main } = await import(compiled.href));
}
// Loader threads and process groups must not keep a finished command alive.
process.exit(await main(process.argv.slice(2)));
