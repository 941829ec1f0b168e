// A worker for reading-board.test.ts: records a file on the board, then blocks its thread (as a read
// that never returns would) until the test releases it.
import { workerData } from 'node:worker_threads';
import { ReadingBoard } from '../reading-board.ts';

const { board, gate, file } = workerData as { board: SharedArrayBuffer; gate: SharedArrayBuffer; file: string };
new ReadingBoard(board).record(7, 3, file, false);
Atomics.wait(new Int32Array(gate), 0, 0, 10_000);
