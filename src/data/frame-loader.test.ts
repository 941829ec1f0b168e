import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { framePath, loadFrameFolder } from './frame-loader.ts';
import { decodeImage, decodeImageFile, encodedImageSize } from './image-decoder.ts';
import { Rng } from './rng.ts';

/** A 24x16 frame whose red channel is `shade` everywhere (JPEG keeps a flat colour within a level or two). */
function solidFrame(shade: number, format: 'jpeg' | 'png'): Promise<Buffer> {
  const raw = Buffer.alloc(24 * 16 * 3);
  for (let i = 0; i < raw.length; i += 3) {
    raw[i] = shade;
    raw[i + 1] = 128;
    raw[i + 2] = 255 - shade;
  }
  const img = sharp(raw, { raw: { width: 24, height: 16, channels: 3 } });
  return format === 'jpeg' ? img.jpeg({ quality: 95 }).toBuffer() : img.png().toBuffer();
}

async function makeVideoFolder(): Promise<{ root: string; cleanup: () => void }> {
  const root = mkdtempSync(path.join(tmpdir(), 'bike-frames-'));
  mkdirSync(path.join(root, 'class_a', 'vid1'), { recursive: true });
  for (let i = 1; i <= 6; i++) {
    writeFileSync(
      path.join(root, 'class_a', 'vid1', `img_${String(i).padStart(5, '0')}.jpg`),
      await solidFrame(i * 30, 'jpeg'),
    );
  }
  return { root, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

const red = (img: { data: Uint8Array }) => img.data[0]!;

test('frames load in request order; repeated indices are decoded once', async () => {
  const { root, cleanup } = await makeVideoFolder();
  try {
    const folder = { root, directory: 'class_a/vid1', template: 'img_{:05d}.jpg' };
    const { frames, report } = await loadFrameFolder(folder, [5, 2, 2, 6]);
    assert.deepEqual(
      frames.map(red).map((v) => Math.round(v / 30)),
      [5, 2, 2, 6],
    );
    assert.equal(frames[1], frames[2]);
    assert.deepEqual(report, { requested: 4, decoded: 3, fallbacks: [] });
  } finally {
    cleanup();
  }
});

test('a missing frame and a corrupt JPEG fall back to frame 1, as the original does, and are reported', async () => {
  const { root, cleanup } = await makeVideoFolder();
  try {
    const folder = { root, directory: 'class_a/vid1', template: 'img_{:05d}.jpg' };
    const good = await solidFrame(4 * 30, 'jpeg');
    writeFileSync(framePath(folder, 4), good.subarray(0, good.length >> 1)); // truncated JPEG
    writeFileSync(framePath(folder, 3), Buffer.from('not an image at all'));
    const seen: number[] = [];
    const { frames, report } = await loadFrameFolder(folder, [3, 4, 9, 5, 4], {
      onFallback: (f) => seen.push(f.index),
    });
    assert.deepEqual(
      frames.map(red).map((v) => Math.round(v / 30)),
      [1, 1, 1, 5, 1],
    );
    assert.deepEqual(
      report.fallbacks.map((f) => f.index),
      [3, 4, 9, 4],
    );
    assert.deepEqual(seen.sort(), [3, 4, 9]);
    for (const f of report.fallbacks) assert.equal(f.replacement, framePath(folder, 1));
    assert.match(report.fallbacks[2]!.reason, /img_00009\.jpg: cannot read \(ENOENT\)/);
    assert.match(report.fallbacks[0]!.reason, /img_00003\.jpg: cannot decode/);
    assert.match(report.fallbacks[1]!.reason, /img_00004\.jpg: cannot decode/);
    assert.equal(report.requested, 5);
  } finally {
    cleanup();
  }
});

test('when frame 1 fails too the clip fails with both files named', async () => {
  const { root, cleanup } = await makeVideoFolder();
  try {
    const folder = { root, directory: 'class_a/vid1', template: 'img_{:05d}.jpg' };
    rmSync(framePath(folder, 1));
    await assert.rejects(loadFrameFolder(folder, [2, 8]), (e: Error) =>
      /frame 8 \(.*img_00008\.jpg\) failed.*frame 1 \(.*img_00001\.jpg\), failed too/.test(e.message),
    );
  } finally {
    cleanup();
  }
});

test('Charades-style templates get the video id', async () => {
  const root = mkdtempSync(path.join(tmpdir(), 'bike-frames-'));
  try {
    mkdirSync(path.join(root, '46GP8'));
    writeFileSync(path.join(root, '46GP8', '46GP8-000002.jpg'), await solidFrame(60, 'jpeg'));
    const { frames } = await loadFrameFolder({ root, directory: '46GP8', template: '{}-{:06d}.jpg' }, [2]);
    assert.equal(Math.round(red(frames[0]!) / 30), 2);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('PNG decodes losslessly; grey and RGBA become RGB as PIL convert("RGB") does', async () => {
  const png = await solidFrame(77, 'png');
  const rgb = await decodeImage(png, 'mem.png');
  assert.equal(rgb.width, 24);
  assert.deepEqual([...rgb.data.subarray(0, 3)], [77, 128, 178]);
  const grey = await sharp(Buffer.alloc(4 * 4, 90), { raw: { width: 4, height: 4, channels: 1 } })
    .png()
    .toBuffer();
  assert.deepEqual([...(await decodeImage(grey, 'grey.png')).data.subarray(0, 3)], [90, 90, 90]);
  const rgba = Buffer.alloc(4 * 4 * 4);
  for (let i = 0; i < rgba.length; i += 4) {
    rgba[i] = 10;
    rgba[i + 1] = 20;
    rgba[i + 2] = 30;
    rgba[i + 3] = 0;
  }
  const rgbaPng = await sharp(rgba, { raw: { width: 4, height: 4, channels: 4 } })
    .png()
    .toBuffer();
  // Alpha is dropped, not composited: a fully transparent pixel keeps its colour.
  assert.deepEqual([...(await decodeImage(rgbaPng, 'rgba.png')).data.subarray(0, 3)], [10, 20, 30]);
  await assert.rejects(decodeImageFile('/nonexistent/x.jpg'), /image \/nonexistent\/x\.jpg: cannot read \(ENOENT\)/);
});

/** A 427x320-like frame with detail in every channel, so chroma upsampling matters at region edges. */
async function detailedJpeg(
  width: number,
  height: number,
  options: { chroma?: '4:2:0' | '4:4:4'; progressive?: boolean; grey?: boolean },
): Promise<Buffer> {
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      raw[i] = (x * 3 + y) & 255;
      raw[i + 1] = (y * 2 + (x >> 2)) & 255;
      raw[i + 2] = (((x * y) >> 5) + ((x * 7919 + y * 104729) % 29)) & 255;
    }
  let img = sharp(raw, { raw: { width, height, channels: 3 } });
  if (options.grey) img = img.greyscale();
  return img
    .jpeg({ quality: 90, chromaSubsampling: options.chroma ?? '4:2:0', progressive: options.progressive ?? false })
    .toBuffer();
}

test('decoding a region of a JPEG gives exactly those pixels of the whole decode', async () => {
  const rng = new Rng(5);
  const kinds = [{ chroma: '4:2:0' as const }, { chroma: '4:4:4' as const }, { progressive: true }, { grey: true }];
  for (const [k, kind] of kinds.entries()) {
    const [width, height] = k % 2 ? [99, 61] : [427, 320];
    const bytes = await detailedJpeg(width, height, kind);
    assert.deepEqual(encodedImageSize(bytes), { width, height });
    const whole = await decodeImage(bytes, 'whole.jpg');
    assert.equal(whole.partOf, undefined);
    for (let trial = 0; trial < 25; trial++) {
      const x = rng.intInclusive(0, width - 1),
        y = rng.intInclusive(0, height - 1);
      const region = { x, y, width: rng.intInclusive(1, width - x), height: rng.intInclusive(1, height - y) };
      const part = await decodeImage(bytes, 'part.jpg', { region, frame: { width, height } });
      // Columns are cut only when that keeps at most 60% of the width; else whole rows are decoded.
      const cut = region.width <= width * 0.6;
      const [px, pw] = cut ? [x, region.width] : [0, width];
      const isWhole = pw === width && region.height === height;
      assert.deepEqual(
        part.partOf,
        isWhole ? undefined : { x: px, y, frameWidth: width, frameHeight: height },
        `${JSON.stringify(kind)} ${JSON.stringify(region)}`,
      );
      assert.deepEqual([part.width, part.height], [pw, region.height]);
      for (let row = 0; row < region.height; row++) {
        const from = ((y + row) * width + px) * 3;
        assert.deepEqual(
          part.data.subarray(row * pw * 3, (row + 1) * pw * 3),
          whole.data.subarray(from, from + pw * 3),
          `${JSON.stringify(kind)} region ${JSON.stringify(region)} row ${row}`,
        );
      }
    }
    // A frame of another size than expected decodes whole.
    const other = await decodeImage(bytes, 'other.jpg', {
      region: { x: 1, y: 1, width: 4, height: 4 },
      frame: { width: width + 1, height },
    });
    assert.equal(other.partOf, undefined);
    assert.equal(other.width, width);
  }
});

test('a truncated JPEG fails even when only a region of its intact start is asked for', async () => {
  const bytes = await detailedJpeg(427, 320, {});
  const cut = bytes.subarray(0, Math.floor(bytes.length * 0.8));
  await assert.rejects(
    decodeImage(cut, 'cut.jpg', { region: { x: 10, y: 0, width: 50, height: 20 }, frame: { width: 427, height: 320 } }),
    /cut\.jpg: cannot decode/,
  );
});

test('image sizes come from headers without decoding; other data gives null', async () => {
  assert.deepEqual(encodedImageSize(await solidFrame(10, 'png')), { width: 24, height: 16 });
  assert.deepEqual(encodedImageSize(await solidFrame(10, 'jpeg')), { width: 24, height: 16 });
  assert.equal(encodedImageSize(Buffer.from('not an image at all')), null);
  const jpeg = await solidFrame(10, 'jpeg');
  assert.equal(encodedImageSize(jpeg.subarray(0, 20)), null, 'cut before the frame header');
});
