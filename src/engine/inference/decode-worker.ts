/** A decode worker: reads clips and timelines (src/engine/video-clips.ts) off the main thread. */
import { parentPort } from 'node:worker_threads';
import sharp from 'sharp';
import { MediaError } from '../../data/media-error.ts';
import { readClip, readTimeline } from './video-clips.ts';
import type { DecodeJob } from './decode-pool.ts';

sharp.concurrency(1);

parentPort!.on('message', async (job: DecodeJob & { id: number }) => {
  try {
    if (job.kind === 'clip') {
      const clip = await readClip(job.file, job.read);
      parentPort!.postMessage({ id: job.id, result: clip }, [clip.clip.data.buffer as ArrayBuffer]);
    } else {
      const timeline = await readTimeline(job.file, { ...job.read, ...job.timeline });
      parentPort!.postMessage(
        { id: job.id, result: timeline },
        timeline.clips.map((c) => c.clip.data.buffer as ArrayBuffer),
      );
    }
  } catch (error) {
    const e = error as Error;
    parentPort!.postMessage({
      id: job.id,
      error: {
        name: e.name,
        message: e.message,
        ...(e instanceof MediaError ? { file: e.file, reason: e.reason } : {}),
      },
    });
  }
});
