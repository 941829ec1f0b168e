/**
 * `npm run parity -- [dir]`: the checks of src/parity (every layer against the original PyTorch
 * code's reference outputs), one line per check and last `N passed, M failed`.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parityCommand } from '../parity/run.ts';

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  parityCommand(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error) => {
      process.stderr.write(`parity: ${(error as Error).stack ?? error}\n`);
      process.exitCode = 1;
    },
  );
}
