#!/usr/bin/env node
// The `bike` command: runs src/cli/main.ts through tsx (TypeScript without a build step).
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
