#!/usr/bin/env node
// The `bike` command: runs src/cli/main.ts through tsx (TypeScript without a build step). Calls
// main() itself, since under npx or a global link argv[1] is a link, not this file.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
// Loader threads and process groups must not keep a finished command alive.
process.exit(await main(process.argv.slice(2)));
