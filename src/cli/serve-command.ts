/**
 * `bike serve`: flags to a `VideoClassifier` and the HTTP server of src/server (the API, the page at
 * `/`). Runs until SIGINT/SIGTERM, then stops taking requests, answers those in flight and exits.
 */
import { VideoClassifier } from '../index.ts';
import { type InferencePrecision } from '../engine/training/precision.ts';
import { createServer } from '../server/server.ts';
import { UsageError, parseArgs, type FlagSpec } from './args.ts';
import type { Command } from './commands.ts';
import { checkModelFlags, modelFlags } from './model-flags.ts';

const flags = {
  ...modelFlags,
  host: { kind: 'string', value: 'address', help: 'address to listen on (default 127.0.0.1)' },
  port: { kind: 'int', min: 0, value: 'N', help: 'port to listen on (default 8080; 0: a free one)' },
  'max-upload-mb': {
    kind: 'number',
    min: 0.001,
    value: 'MB',
    help: 'largest upload accepted (default 200); larger ones get 413',
  },
  concurrency: { kind: 'int', min: 1, value: 'N', help: 'decode worker threads (default 2)' },
  'batch-size': { kind: 'int', min: 1, value: 'N', help: 'clips per forward pass at most (default 8)' },
  'batch-window-ms': {
    kind: 'number',
    min: 0,
    value: 'ms',
    help: 'how long a clip waits for others to share its forward pass (default 5)',
  },
  queue: {
    kind: 'int',
    min: 1,
    value: 'N',
    help: 'requests in progress at most; more get 503 with Retry-After (default 64)',
  },
} satisfies Record<string, FlagSpec>;

export const serveCommand: Command = {
  summary:
    'serve the model over HTTP: POST /v1/classify, /v1/timeline, GET /v1/model, /healthz, /metrics and a page at /',
  usage: 'bike serve (--model <run-dir|checkpoint> | --clip <weights> --labels <csv>) [--host H] [--port N] [options]',
  flags,
  async run(argv) {
    const parsed = parseArgs(argv, flags, 'serve');
    if (parsed.positionals.length > 0)
      throw new UsageError(
        `takes no arguments, got ${parsed.positionals.map((p) => JSON.stringify(p)).join(' ')}`,
        'serve',
      );
    const f = parsed.flags;
    const device = checkModelFlags(f, 'serve');
    const classifier = await VideoClassifier.load({
      model: f.model,
      clip: f.clip,
      labels: f.labels,
      config: f.config,
      vocab: f.vocab,
      numSegments: f.frames,
      device,
      precision: f.precision as InferencePrecision | undefined,
      decodeWorkers: f.concurrency ?? 2,
    });
    const server = await createServer({
      classifier,
      maxUploadMb: f['max-upload-mb'],
      batchSize: f['batch-size'],
      batchWindowMs: f['batch-window-ms'],
      queueLimit: f.queue,
    });
    const address = await server.listen(f.port ?? 8080, f.host ?? '127.0.0.1');
    process.stdout.write(
      `bike serve: ${classifier.mode} ${classifier.architecture}, ${classifier.classNames.length} classes, listening on ${address}\n`,
    );
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await server.close();
    classifier.dispose();
    return { address };
  },
};
