/**
 * What the server tests share: a tiny trained run (src/testing/tiny-run.ts), a longer video made of
 * two classes one after the other (for the timeline), damaged inputs, and a raw HTTP request that
 * sends part of its body and hangs up.
 */
import { copyFileSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { framesToMp4, makeTinyRun, type TinyRun } from '../../testing/tiny-run.ts';

export interface ServeHarness {
  run: TinyRun;
  /** red for 2 s, then green for 2 s, at 8 fps. */
  longVideo: string;
  truncated: string;
  image: string;
}

export async function makeServeHarness(dir: string): Promise<ServeHarness> {
  const run = await makeTinyRun(dir);
  const long = path.join(dir, 'long-frames');
  mkdirSync(long, { recursive: true });
  let n = 1;
  for (const clip of ['red_0', 'red_0', 'green_0', 'green_0']) {
    const folder = path.join(run.dataset.root, 'val', clip);
    for (const f of readdirSync(folder).sort())
      copyFileSync(path.join(folder, f), path.join(long, `img_${String(n++).padStart(5, '0')}.png`));
  }
  const longVideo = path.join(dir, 'long.mp4');
  framesToMp4(long, longVideo, 8);
  const bytes = readFileSync(run.video);
  const truncated = path.join(dir, 'truncated.mp4');
  writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length / 3)));
  const image = path.join(dir, 'frame.png');
  copyFileSync(path.join(run.frameFolder, readdirSync(run.frameFolder).sort()[0]!), image);
  return { run, longVideo, truncated, image };
}

/** POSTs headers announcing `declared` bytes, sends `sent` of them, then destroys the socket. */
export function uploadAndHangUp(address: string, route: string, declared: number, sent: number): Promise<void> {
  const url = new URL(address);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname, () => {
      socket.write(
        `POST ${route} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: video/mp4\r\nContent-Length: ${declared}\r\n\r\n`,
      );
      socket.write(Buffer.alloc(sent, 7), () =>
        setTimeout(() => {
          socket.destroy();
          resolve();
        }, 100),
      );
    });
    socket.on('error', reject);
  });
}

/** Opens a raw upload that sends nothing after its headers until `finish` (holds a queue slot). */
export function slowUpload(address: string, route: string): Promise<{ finish: () => void }> {
  const url = new URL(address);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname, () => {
      socket.write(
        `POST ${route} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: video/mp4\r\nContent-Length: 1000\r\n\r\n`,
      );
      socket.write(Buffer.alloc(10, 1), () => resolve({ finish: () => socket.destroy() }));
    });
    socket.on('error', reject);
  });
}
