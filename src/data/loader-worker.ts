/** A loader worker: receives the dataset spec once, then makes the batches it is asked for. */
import { parentPort, workerData } from 'node:worker_threads';
import sharp from 'sharp';
import { ReadingBoard } from './reading-board.ts';
import { BatchArrays, makeBatch, type VideoDatasetSpec } from './video-dataset.ts';

// One libvips thread per worker: the pool is the parallelism.
sharp.concurrency(1);

const spec = workerData.spec as VideoDatasetSpec;
// Which files a batch reads, so a batch that never ends is reported with the file at fault.
const board = new ReadingBoard(workerData.board as SharedArrayBuffer);
const arrays = new BatchArrays();
type Message = { id: number; indices: number[]; epoch: number } | { recycle: Float32Array };
parentPort!.on('message', async (message: Message) => {
  if ('recycle' in message) {
    arrays.give(message.recycle);
    return;
  }
  const job = message;
  try {
    const batch = await makeBatch(
      spec,
      job.indices,
      job.epoch,
      ({ index, file, done }) => board.record(job.id, index, file, done),
      arrays,
    );
    parentPort!.postMessage({ id: job.id, batch }, [batch.frames.buffer as ArrayBuffer]);
  } catch (error) {
    parentPort!.postMessage({ id: job.id, error: (error as Error).message });
  }
});
