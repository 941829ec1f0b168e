/**
 * `bike serve`: an HTTP API (and the page at `/`) over one `VideoClassifier`. Uploads (multipart or
 * a raw body) are streamed to a temporary file that is removed whatever happens, decoded on the
 * classifier's decode workers, and classified through the Batcher, so concurrent requests share
 * forward passes. Every refusal is a 4xx/5xx JSON `{ error, field?, reason? }` naming what was wrong.
 */
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import fastifyStatic from '@fastify/static';
import { MediaError, type DecodedClip, type VideoClassifier } from '../index.ts';
import { Batcher } from './batcher.ts';
import { ServerMetrics } from './metrics.ts';

export interface ServerOptions {
  classifier: VideoClassifier;
  /** Largest upload in MB (default 200). */
  maxUploadMb?: number;
  /** Clips per forward pass (default 8). */
  batchSize?: number;
  /** Milliseconds a clip waits for others to share its forward pass (default 5). */
  batchWindowMs?: number;
  /** Classification requests admitted at once; more get 503 (default 64). */
  queueLimit?: number;
  /** Class names per request at most (default 256). */
  maxLabels?: number;
  /** Where uploads are written while they are read (default: a fresh folder in the system's temporary directory, removed on close). */
  uploadDir?: string;
  /** Timeline windows per request at most (default 512). */
  maxWindows?: number;
  /** Decoded uploads kept for `POST /v1/rescore` (default 8, the latest). */
  keptClips?: number;
  /** Fastify's logger (default off). */
  logger?: boolean;
}

/** A refusal: HTTP status, a message naming what was wrong, and the field at fault. */
export class RequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly field?: string,
    readonly reason?: string,
  ) {
    super(message);
  }
}

const PUBLIC_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'public');
const CLASSIFY_FIELDS = ['labels', 'top'] as const;
const TIMELINE_FIELDS = ['labels', 'top', 'window', 'stride'] as const;

interface Upload {
  file: string;
  name: string;
  bytes: number;
  fields: Record<string, string>;
  uploadMs: number;
}

/** A class list from a field: a JSON array of strings, else one name per line, else comma-separated. */
export function parseLabels(text: string, maxLabels: number): string[] {
  let names: unknown;
  const trimmed = text.trim();
  if (trimmed.startsWith('[')) {
    try {
      names = JSON.parse(trimmed);
    } catch (error) {
      throw new RequestError(400, `labels: not a valid JSON array (${(error as Error).message})`, 'labels');
    }
    if (!Array.isArray(names) || names.some((n) => typeof n !== 'string'))
      throw new RequestError(400, 'labels: expected a JSON array of strings', 'labels');
  } else {
    names = trimmed.split(trimmed.includes('\n') ? /\r?\n/ : ',');
  }
  const list = (names as string[]).map((n) => n.trim()).filter((n) => n.length > 0);
  if (list.length === 0)
    throw new RequestError(400, 'labels: the list is empty; give at least one class name', 'labels');
  if (list.length > maxLabels)
    throw new RequestError(400, `labels: ${list.length} class names, at most ${maxLabels} allowed`, 'labels');
  const long = list.find((n) => n.length > 200);
  if (long)
    throw new RequestError(400, `labels: class name "${long.slice(0, 40)}..." is longer than 200 characters`, 'labels');
  const seen = new Set<string>();
  for (const n of list) {
    if (seen.has(n)) throw new RequestError(400, `labels: "${n}" is given twice`, 'labels');
    seen.add(n);
  }
  return list;
}

function positive(fields: Record<string, string>, name: string, integer: boolean, max: number): number | undefined {
  const text = fields[name];
  if (text === undefined) return undefined;
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n)) || n > max) {
    throw new RequestError(
      400,
      `${name}: ${JSON.stringify(text)} is not ${integer ? 'an integer' : 'a number'} in (0, ${max}]`,
      name,
    );
  }
  return n;
}

export interface Server {
  app: FastifyInstance;
  metrics: ServerMetrics;
  uploadDir: string;
  /** Listens on `host:port` (port 0: a free one) and gives the address. */
  listen(port: number, host?: string): Promise<string>;
  close(): Promise<void>;
}

export async function createServer(options: ServerOptions): Promise<Server> {
  const classifier = options.classifier;
  const maxUploadBytes = Math.round((options.maxUploadMb ?? 200) * 2 ** 20);
  const queueLimit = options.queueLimit ?? 64;
  const maxLabels = options.maxLabels ?? 256;
  const maxWindows = options.maxWindows ?? 512;
  const keptClips = options.keptClips ?? 8;
  const clips = new Map<string, DecodedClip>();
  let clipCount = 0;
  const keep = (clip: DecodedClip): string => {
    const id = `c${process.pid.toString(36)}-${(clipCount++).toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
    clips.set(id, clip);
    while (clips.size > keptClips) clips.delete(clips.keys().next().value as string);
    return id;
  };
  const ownDir = options.uploadDir === undefined;
  const uploadDir = options.uploadDir ?? mkdtempSync(path.join(os.tmpdir(), 'bike-serve-'));
  const metrics = new ServerMetrics();
  const batcher = new Batcher(classifier, {
    batchSize: options.batchSize,
    windowMs: options.batchWindowMs,
    onBatch: (size, ms) => {
      metrics.batchSize.observe(size);
      metrics.modelSeconds.observe(ms / 1000);
    },
  });
  let admitted = 0;
  let uploadCount = 0;

  const app = Fastify({ logger: options.logger ?? false, bodyLimit: 1 << 20 });
  await app.register(multipart, {
    limits: { fileSize: maxUploadBytes, files: 1, fields: 16, fieldSize: 1 << 20, parts: 24 },
  });
  // A raw body (video/*, application/octet-stream, anything not multipart or JSON) is handed over as the stream itself.
  app.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
  await app.register(fastifyStatic, { root: PUBLIC_DIR, prefix: '/' });

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ route, method: request.method, status: String(reply.statusCode) });
    metrics.latency.observe({ route }, reply.elapsedTime / 1000);
  });

  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, request, reply) => {
    if (error instanceof RequestError) {
      return reply.code(error.status).send({
        error: error.message,
        ...(error.field ? { field: error.field } : {}),
        ...(error.reason ? { reason: error.reason } : {}),
      });
    }
    if (error.code === 'FST_FILES_LIMIT')
      return reply
        .code(400)
        .send({ error: 'more than one file: send one video per request, as the field "file"', field: 'file' });
    if (error.code === 'FST_FIELDS_LIMIT' || error.code === 'FST_PARTS_LIMIT')
      return reply.code(400).send({ error: `too many fields (${error.message})` });
    if (error.code === 'FST_REQ_FILE_TOO_LARGE') {
      return reply
        .code(413)
        .send({ error: `upload larger than --max-upload-mb (${maxUploadBytes / 2 ** 20} MB)`, field: 'file' });
    }
    const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    if (status === 500) request.log.error(error);
    return reply.code(status).send({ error: status === 500 ? `internal error: ${error.message}` : error.message });
  });

  /** Streams `source` into a fresh file of the upload folder, refusing more than the limit. */
  async function receive(source: NodeJS.ReadableStream, name: string, file: string): Promise<number> {
    let bytes = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        bytes += chunk.length;
        if (bytes > maxUploadBytes)
          callback(
            new RequestError(
              413,
              `upload ${name}: larger than --max-upload-mb (${maxUploadBytes / 2 ** 20} MB)`,
              'file',
            ),
          );
        else callback(null, chunk);
      },
    });
    await pipeline(source, counter, createWriteStream(file));
    return bytes;
  }

  /** Reads the request's video (multipart `file` part or the raw body) and its fields; the caller removes `file`. */
  async function readUpload(request: FastifyRequest, allowed: readonly string[], file: string): Promise<Upload> {
    const start = performance.now();
    const fields: Record<string, string> = {};
    const check = (name: string) => {
      if (!allowed.includes(name))
        throw new RequestError(400, `unknown field "${name}"; known fields: file, ${allowed.join(', ')}`, name);
      if (name in fields) throw new RequestError(400, `field "${name}" is given twice`, name);
    };
    let name: string | null = null;
    let bytes = 0;
    if (request.isMultipart()) {
      for await (const part of request.parts()) {
        if (part.type === 'file') {
          if (part.fieldname !== 'file') {
            part.file.resume();
            throw new RequestError(
              400,
              `unknown file field "${part.fieldname}"; send the video as the field "file"`,
              part.fieldname,
            );
          }
          name = part.filename || 'upload';
          bytes = await receive(part.file, name, file);
          if (part.file.truncated)
            throw new RequestError(
              413,
              `upload ${name}: larger than --max-upload-mb (${maxUploadBytes / 2 ** 20} MB)`,
              'file',
            );
        } else {
          check(part.fieldname);
          fields[part.fieldname] = String(part.value);
        }
      }
      if (name === null)
        throw new RequestError(
          400,
          'no file: send the video as the multipart field "file" (or as the raw request body)',
          'file',
        );
    } else {
      const query = (request.query ?? {}) as Record<string, string | string[]>;
      for (const [key, value] of Object.entries(query)) {
        check(key);
        fields[key] = Array.isArray(value) ? value.join('\n') : value;
      }
      const declared = Number(request.headers['content-length']);
      if (Number.isFinite(declared) && declared > maxUploadBytes) {
        throw new RequestError(
          413,
          `upload of ${declared} bytes: larger than --max-upload-mb (${maxUploadBytes / 2 ** 20} MB)`,
          'file',
        );
      }
      name = String(request.headers['x-filename'] ?? 'upload');
      if (!request.body || typeof (request.body as NodeJS.ReadableStream).pipe !== 'function') {
        throw new RequestError(
          400,
          'no file: send the video as the raw request body (Content-Type video/* or application/octet-stream) or as the multipart field "file"',
          'file',
        );
      }
      bytes = await receive(request.body as NodeJS.ReadableStream, name, file);
    }
    if (bytes === 0) throw new RequestError(400, `upload ${name}: 0 bytes; the file is empty`, 'file');
    return { file, name, bytes, fields, uploadMs: performance.now() - start };
  }

  function admit(reply: FastifyReply): boolean {
    if (admitted >= queueLimit) {
      metrics.rejected.inc();
      void reply
        .code(503)
        .header('Retry-After', '1')
        .send({ error: `the queue is full (${queueLimit} requests in progress); retry after 1 s` });
      return false;
    }
    admitted++;
    metrics.queueLength.set(admitted);
    return true;
  }

  function release(): void {
    admitted--;
    metrics.queueLength.set(admitted);
  }

  /** A decoder's refusal as a 422 naming the upload, not the temporary file. */
  function undecodable(error: unknown, upload: Upload): never {
    if (error instanceof MediaError) {
      const reason = error.reason.replaceAll(upload.file, upload.name);
      throw new RequestError(422, `${upload.name}: cannot be read as a video: ${reason}`, 'file', reason);
    }
    if (error instanceof RangeError) throw new RequestError(400, error.message);
    throw error;
  }

  async function withUpload<T>(
    request: FastifyRequest,
    reply: FastifyReply,
    allowed: readonly string[],
    use: (upload: Upload) => Promise<T>,
  ): Promise<T | undefined> {
    if (!admit(reply)) return undefined;
    const file = path.join(uploadDir, `upload-${process.pid}-${uploadCount++}`);
    try {
      const upload = await readUpload(request, allowed, file);
      return await use(upload);
    } finally {
      await rm(file, { force: true });
      release();
    }
  }

  function requestLabels(fields: Record<string, string>): string[] | undefined {
    return fields.labels === undefined ? undefined : parseLabels(fields.labels, maxLabels);
  }

  function afterLabels(names: string[] | undefined): void {
    if (names) metrics.labelSets.set(classifier.labelSetCache.size);
  }

  app.post('/v1/classify', async (request, reply) =>
    withUpload(request, reply, CLASSIFY_FIELDS, async (upload) => {
      const classNames = requestLabels(upload.fields);
      const classes = classNames?.length ?? classifier.classNames.length;
      const topK = Math.min(positive(upload.fields, 'top', true, 1000) ?? 5, classes);
      const decodeStart = performance.now();
      let clip;
      try {
        clip = await classifier.decode(upload.file);
      } catch (error) {
        undecodable(error, upload);
      }
      // The decoder names the upload's temporary file; the client knows it by its own name.
      if (clip.warning) clip = { ...clip, warning: clip.warning.replaceAll(upload.file, upload.name) };
      const decodeMs = performance.now() - decodeStart;
      metrics.decodeSeconds.observe(decodeMs / 1000);
      metrics.waitingForModel.set(batcher.waiting + 1);
      const scored = await score(clip, topK, classNames, keep(clip));
      return {
        file: upload.name,
        bytes: upload.bytes,
        ...scored,
        timings: { ...scored.timings, uploadMs: round(upload.uploadMs), decodeMs: round(decodeMs) },
      };
    }),
  );

  /** Scores a decoded clip through the batcher; the response fields shared by classify and rescore. */
  async function score(clip: DecodedClip, topK: number, classNames: string[] | undefined, id: string) {
    metrics.waitingForModel.set(batcher.waiting + 1);
    const result = await batcher.classify(clip, { topK, saliencyClasses: topK, classNames });
    metrics.waitingForModel.set(batcher.waiting);
    afterLabels(classNames);
    const c = result.classification;
    return {
      clip: id,
      mode: classifier.mode,
      top: c.top,
      saliency: c.saliency,
      frames: c.frameIndices.map((index, i) => ({ index, timestamp: c.timestamps ? c.timestamps[i]! : null })),
      // Frames that did not decode (a damaged packet) and got the nearest decodable frame's pixels.
      substituted: c.substituted,
      ...(clip.warning ? { warning: clip.warning } : {}),
      labels: classNames ?? null,
      batch: result.batchSize,
      timings: { uploadMs: 0, decodeMs: 0, queueMs: round(result.queueMs), modelMs: round(result.modelMs) },
    };
  }

  // The last uploads' decoded clips scored again against other class names, without uploading again.
  app.post('/v1/rescore', async (request, reply) => {
    const body = request.body;
    if (
      !body ||
      typeof body !== 'object' ||
      Array.isArray(body) ||
      typeof (body as NodeJS.ReadableStream).pipe === 'function'
    ) {
      throw new RequestError(
        400,
        'expected a JSON object { "clip": id from /v1/classify, "labels": [class names], "top"?: K }',
      );
    }
    const fields = body as Record<string, unknown>;
    for (const key of Object.keys(fields)) {
      if (!['clip', 'labels', 'top'].includes(key))
        throw new RequestError(400, `unknown field "${key}"; known fields: clip, labels, top`, key);
    }
    if (typeof fields.clip !== 'string')
      throw new RequestError(400, 'clip: expected the "clip" id a /v1/classify response gave', 'clip');
    const clip = clips.get(fields.clip);
    if (!clip)
      throw new RequestError(
        404,
        `clip ${JSON.stringify(fields.clip)}: not kept (the server keeps the last ${keptClips} uploads); upload the video again`,
        'clip',
      );
    const classNames =
      fields.labels === undefined
        ? undefined
        : parseLabels(Array.isArray(fields.labels) ? JSON.stringify(fields.labels) : String(fields.labels), maxLabels);
    const classes = classNames?.length ?? classifier.classNames.length;
    const topK = Math.min(
      positive(fields.top === undefined ? {} : { top: String(fields.top) }, 'top', true, 1000) ?? 5,
      classes,
    );
    if (!admit(reply)) return undefined;
    try {
      return await score(clip, topK, classNames, fields.clip);
    } finally {
      release();
    }
  });

  app.post('/v1/timeline', async (request, reply) =>
    withUpload(request, reply, TIMELINE_FIELDS, async (upload) => {
      const classNames = requestLabels(upload.fields);
      const classes = classNames?.length ?? classifier.classNames.length;
      const topK = Math.min(positive(upload.fields, 'top', true, 1000) ?? 3, classes);
      const window = positive(upload.fields, 'window', false, 3600) ?? 2;
      const stride = positive(upload.fields, 'stride', false, 3600) ?? window;
      const start = performance.now();
      let timeline;
      try {
        timeline = await classifier.timeline(upload.file, {
          window,
          stride,
          topK,
          classNames,
          batchSize: batcher.batchSize,
          maxWindows,
        });
      } catch (error) {
        undecodable(error, upload);
      }
      afterLabels(classNames);
      return {
        file: upload.name,
        window,
        stride,
        fps: timeline.fps,
        frameCount: timeline.frameCount,
        duration: timeline.duration,
        windows: timeline.windows.map((w) => ({
          start: w.start,
          end: w.end,
          label: w.top[0]!.name,
          top: w.top,
          substituted: w.substituted,
        })),
        substituted: timeline.substituted,
        ...(timeline.warning ? { warning: timeline.warning.replaceAll(upload.file, upload.name) } : {}),
        timings: { uploadMs: round(upload.uploadMs), totalMs: round(performance.now() - start) },
      };
    }),
  );

  app.get('/v1/model', async () => ({
    mode: classifier.mode,
    architecture: classifier.architecture,
    classes: classifier.classNames,
    frames: classifier.numSegments,
    inputSize: classifier.inputSize,
    device: classifier.device,
    precision: classifier.precision,
    openVocabulary: true,
    maxLabels,
    maxUploadMb: maxUploadBytes / 2 ** 20,
    batchSize: batcher.batchSize,
    queueLimit,
  }));

  app.get('/healthz', async () => ({ ok: true, queue: admitted }));

  app.get('/metrics', async (_request, reply) => {
    metrics.queueLength.set(admitted);
    metrics.waitingForModel.set(batcher.waiting);
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  return {
    app,
    metrics,
    uploadDir,
    async listen(port, host = '127.0.0.1') {
      return app.listen({ port, host });
    },
    async close() {
      batcher.close();
      await app.close();
      if (ownDir) rmSync(uploadDir, { recursive: true, force: true });
    },
  };
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
