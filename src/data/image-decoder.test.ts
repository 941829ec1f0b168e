import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { decodeImageFile, decodeImageWithLibvips } from './image-decoder.ts';
import { MediaError } from './media-error.ts';
import { DEFAULT_MEDIA_LIMITS, mediaLimits, setMediaLimits } from './media-limits.ts';
import { native } from '../torch/native.ts';
import { PixelBuffers } from './rgb-image.ts';
import sharp from 'sharp';

const PYTHON = '/usr/bin/python3';
function hasPillow(): boolean {
  if (!existsSync(PYTHON)) return false;
  return spawnSync(PYTHON, ['-c', 'import PIL, numpy'], { stdio: 'ignore' }).status === 0;
}
const skip = hasPillow() ? false : `${PYTHON} with PIL and numpy is needed to make the images and Pillow's decodes`;
const nativeJpeg = native.decodeJpeg;

/**
 * Writes real-world and damaged images made with Pillow (and byte surgery on its files) into
 * `dir`, and beside each `NAME.pil`: Pillow's `Image.open(f).convert('RGB')` bytes, or
 * `NAME.refused` holding Pillow's error when it refuses the file.
 */
const GENERATOR = String.raw`
import io, os, struct, sys, zlib
import numpy as np
from PIL import Image
out = sys.argv[1]
rng = np.random.default_rng(7)
# Smooth colours plus noise, so chroma subsampling and the IDCT both matter.
yy, xx = np.mgrid[0:48, 0:61]
base = np.stack([xx * 4, yy * 5, (xx + yy) * 2], -1) + rng.integers(0, 40, (48, 61, 3))
base = np.clip(base, 0, 255).astype('uint8')
files = {}
def jpeg(img, **kw):
    b = io.BytesIO(); img.save(b, 'JPEG', **kw); return b.getvalue()
def segments(data):
    # (marker, start, end) of each segment before the scan
    at, found = 2, []
    while data[at] == 0xFF and data[at + 1] != 0xDA:
        n = struct.unpack('>H', data[at + 2:at + 4])[0]
        found.append((data[at + 1], at, at + 2 + n)); at += 2 + n
    return found
rgb = jpeg(Image.fromarray(base), quality=90)
files['plain.jpg'] = rgb
files['q75-444.jpg'] = jpeg(Image.fromarray(base), quality=75, subsampling=0)
files['grey.jpg'] = jpeg(Image.fromarray(base[..., 1]), quality=85)
files['progressive.jpg'] = jpeg(Image.fromarray(base), quality=85, progressive=True)
dqt = rgb.index(b'\xff\xdb')
files['junk-between-segments.jpg'] = rgb[:dqt] + b'\x00junk\x13' + rgb[dqt:]
files['stray-ff00.jpg'] = rgb[:dqt] + b'\xff\x00' + rgb[dqt:]
exif = b'Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08\x00\x09\x01\x12\x00\x03\xff\xff\xff\xff' + bytes(range(40))
files['corrupt-exif.jpg'] = rgb[:2] + b'\xff\xe1' + struct.pack('>H', len(exif) + 2) + exif + rgb[2:]
# Motion-JPEG frames leave out the Huffman tables when they are the standard ones (Pillow writes those).
files['no-huffman-tables.jpg'] = b''.join([rgb[:2]] + [rgb[s:e] for m, s, e in segments(rgb) if m != 0xC4] + [rgb[segments(rgb)[-1][2]:]])
# Damaged entropy data (no 0xFF written, so no markers appear): libjpeg warns and decodes on.
damaged = bytearray(rgb); sos = rgb.index(b'\xff\xda')
for i in range(sos + 200, sos + 260, 7): damaged[i] = (damaged[i] ^ 0x5A) % 0xFF
files['damaged-scan.jpg'] = bytes(damaged)
cmyk = Image.fromarray(np.concatenate([base, base[..., :1] // 3], -1), 'CMYK')
files['cmyk.jpg'] = jpeg(cmyk, quality=90)
# Adobe's transform flag 2 says YCCK: libjpeg converts it to CMYK, and Pillow inverts and converts that.
cmyk_bytes = bytearray(files['cmyk.jpg']); adobe = cmyk_bytes.index(b'\xff\xee\x00\x0eAdobe')
assert cmyk_bytes[adobe + 15] == 0; cmyk_bytes[adobe + 15] = 2
files['ycck.jpg'] = bytes(cmyk_bytes)
files['trailing-bytes.jpg'] = rgb + b'\x00' * 17
for name, data in [('plain', rgb), ('progressive', files['progressive.jpg'])]:
    files[name + '-cut-eoi.jpg'] = data[:-2]
    files[name + '-cut-half.jpg'] = data[:len(data) // 2]
files['cut-in-header.jpg'] = rgb[:dqt + 30]
def png(w, h, bits, ctype, rows):
    def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
    raw = b''.join(b'\x00' + r for r in rows)
    return b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, bits, ctype, 0, 0, 0)) + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b'')
b = io.BytesIO(); Image.fromarray(base).save(b, 'PNG'); p8 = b.getvalue()
files['plain.png'] = p8
files['cut-iend.png'] = p8[:-12]
files['cut-idat-crc.png'] = p8[:-14]
files['cut-zlib-checksum.png'] = p8[:-18]
files['cut-rows.png'] = p8[:len(p8) // 2]
w16 = (rng.random((9, 11, 4)) * 65535).astype('>u2')
w16[0, :5, 0] = [0, 100, 255, 256, 65535]
files['rgb16.png'] = png(11, 9, 16, 2, [w16[y, :, :3].tobytes() for y in range(9)])
files['rgba16.png'] = png(11, 9, 16, 6, [w16[y].tobytes() for y in range(9)])
files['grey16.png'] = png(11, 9, 16, 0, [w16[y, :, 0].tobytes() for y in range(9)])
files['grey-alpha16.png'] = png(11, 9, 16, 4, [w16[y, :, :2].tobytes() for y in range(9)])
files['rgb16-cut-rows.png'] = files['rgb16.png'][:70]
for name, data in files.items():
    open(os.path.join(out, name), 'wb').write(data)
    try:
        im = Image.open(io.BytesIO(data)).convert('RGB')
        open(os.path.join(out, name + '.pil'), 'wb').write(struct.pack('>II', *im.size) + im.tobytes())
    except Exception as e:
        open(os.path.join(out, name + '.refused'), 'w').write(type(e).__name__ + ': ' + str(e))
`;

function makeImages(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'bike-images-'));
  execFileSync(PYTHON, ['-c', GENERATOR, dir]);
  return dir;
}

test(
  "real-world and damaged JPEG / PNG decode to Pillow's bytes, and what Pillow refuses is a MediaError naming the file",
  { skip },
  async () => {
    const dir = makeImages();
    try {
      const names = readdirSync(dir)
        .filter((n) => !n.endsWith('.pil') && !n.endsWith('.refused'))
        .sort();
      assert.ok(names.length >= 25, `${names.length} images made`);
      const refusedByPillow: string[] = [];
      for (const name of names) {
        const file = path.join(dir, name);
        if (existsSync(file + '.refused')) {
          refusedByPillow.push(name);
          await assert.rejects(
            decodeImageFile(file),
            (e: unknown) => {
              assert.ok(e instanceof MediaError, `${name}: ${e}`);
              assert.equal(e.file, file);
              assert.ok(e.message.startsWith(`image ${file}: `), e.message);
              assert.match(e.reason, /truncated|cannot decode/);
              return true;
            },
            `${name}: Pillow refuses it (${readFileSync(file + '.refused', 'utf8')})`,
          );
          await assert.rejects(
            decodeImageWithLibvips(readFileSync(file), name),
            (e: unknown) => e instanceof MediaError && e.file === name,
            `${name} through libvips`,
          );
          continue;
        }
        const pil = readFileSync(file + '.pil');
        const width = pil.readUInt32BE(0),
          height = pil.readUInt32BE(4);
        const ours = await decodeImageFile(file);
        assert.deepEqual([ours.width, ours.height], [width, height], name);
        assert.ok(Buffer.from(ours.data).equals(pil.subarray(8)), `${name}: the bytes of Pillow's convert('RGB')`);
        // Without the addon's libjpeg, libvips decodes the same (its own libjpeg-turbo build).
        const viaLibvips = await decodeImageWithLibvips(readFileSync(file), name);
        assert.ok(
          Buffer.from(viaLibvips.data).equals(pil.subarray(8)),
          `${name} through libvips: the bytes of Pillow's convert('RGB')`,
        );
        if (name.endsWith('.jpg')) {
          // Decoding only a region gives the same pixels.
          const region = { x: 9, y: 5, width: 30, height: 20 };
          const part = await decodeImageFile(file, { region, frame: { width, height } });
          for (let y = 0; y < part.height; y++) {
            const py = (part.partOf?.y ?? 0) + y,
              px = part.partOf?.x ?? 0;
            const want = pil.subarray(8 + (py * width + px) * 3, 8 + (py * width + px + part.width) * 3);
            assert.ok(
              Buffer.from(part.data.subarray(y * part.width * 3, (y + 1) * part.width * 3)).equals(want),
              `${name} region row ${y}`,
            );
          }
        }
      }
      // The cases this test is about, as Pillow 9.4 with libjpeg-turbo 2.1 sees them.
      for (const name of [
        'junk-between-segments.jpg',
        'stray-ff00.jpg',
        'corrupt-exif.jpg',
        'no-huffman-tables.jpg',
        'cmyk.jpg',
        'ycck.jpg',
        'rgb16.png',
        'grey16.png',
        'cut-iend.png',
        'cut-idat-crc.png',
        'cut-zlib-checksum.png',
      ]) {
        assert.ok(!refusedByPillow.includes(name), `Pillow decodes ${name}`);
      }
      // libjpeg warned on these (and decoded on, as Pillow does).
      if (nativeJpeg) {
        for (const name of ['junk-between-segments.jpg', 'stray-ff00.jpg', 'damaged-scan.jpg']) {
          assert.ok(nativeJpeg(readFileSync(path.join(dir, name))).warnings > 0, `${name}: libjpeg warns`);
        }
      }
      for (const name of [
        'plain-cut-eoi.jpg',
        'plain-cut-half.jpg',
        'progressive-cut-half.jpg',
        'cut-rows.png',
        'rgb16-cut-rows.png',
      ]) {
        assert.ok(refusedByPillow.includes(name), `Pillow refuses ${name}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

/** A 16x16 JPEG whose frame header claims width x height. */
function jpegClaiming(dir: string, width: number, height: number): Buffer {
  execFileSync(PYTHON, [
    '-c',
    'import sys; from PIL import Image; Image.new("RGB", (16, 16), (200, 30, 60)).save(sys.argv[1], quality=90)',
    path.join(dir, 'small.jpg'),
  ]);
  const bytes = readFileSync(path.join(dir, 'small.jpg'));
  const sof = bytes.indexOf(Buffer.from([0xff, 0xc0]));
  bytes.writeUInt16BE(height, sof + 5);
  bytes.writeUInt16BE(width, sof + 7);
  return bytes;
}

test(
  'pixel limit: an image claiming more pixels than the limit is refused from its header, naming the file and the limit',
  { skip },
  async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bike-images-'));
    try {
      assert.equal(mediaLimits().maxPixels, DEFAULT_MEDIA_LIMITS.maxPixels);
      assert.ok(DEFAULT_MEDIA_LIMITS.maxPixels > 100e6 && DEFAULT_MEDIA_LIMITS.maxPixels > 7680 * 4320);
      const bomb = path.join(dir, 'bomb.jpg');
      writeFileSync(bomb, jpegClaiming(dir, 65500, 65500));
      await assert.rejects(
        decodeImageFile(bomb),
        (e: unknown) =>
          e instanceof MediaError &&
          e.file === bomb &&
          e.message ===
            `image ${bomb}: too large: 65500x65500 is 4290250000 pixels, above the limit of ${DEFAULT_MEDIA_LIMITS.maxPixels} (BIKE_MAX_PIXELS)`,
      );
      // The addon checks the header itself too (for callers that reach it directly).
      if (nativeJpeg)
        assert.throws(
          () => nativeJpeg(readFileSync(bomb), undefined, 1e6),
          /65500x65500 is 4290250000 pixels, above the limit of 1000000/,
        );
      // The limit is one setting for every decoder: the native JPEG decoder and sharp (PNG and the rest).
      writeFileSync(path.join(dir, 'ok.jpg'), jpegClaiming(dir, 16, 16));
      execFileSync(PYTHON, [
        '-c',
        'import sys; from PIL import Image; Image.new("RGB", (40, 30)).save(sys.argv[1]); Image.new("RGB", (40, 30)).save(sys.argv[2])',
        path.join(dir, 'a.png'),
        path.join(dir, 'a.webp'),
      ]);
      setMediaLimits({ maxPixels: 1000 });
      try {
        await assert.rejects(
          decodeImageFile(path.join(dir, 'a.png')),
          /a\.png: too large: 40x30 is 1200 pixels, above the limit of 1000 \(BIKE_MAX_PIXELS\)/,
        );
        await assert.rejects(
          decodeImageFile(path.join(dir, 'a.webp')),
          /a\.webp: too large: more than the limit of 1000 pixels/,
        );
        assert.equal((await decodeImageFile(path.join(dir, 'ok.jpg'))).width, 16);
      } finally {
        setMediaLimits({});
      }
      assert.throws(() => setMediaLimits({ maxPixels: 0 }), /maxPixels = 0: expected a whole number of pixels/);
      // Worker threads (the loader's) inherit the setting through the environment; lifting it restores that.
      const before = process.env.BIKE_MAX_PIXELS;
      setMediaLimits({ maxPixels: 1234 });
      const seen = await new Promise((resolve, reject) => {
        // The loader's own boot file: it registers the TypeScript loader, then imports workerData.entry.
        const entry = path.join(dir, 'entry.mts');
        writeFileSync(
          entry,
          `import { parentPort } from 'node:worker_threads';\nimport { mediaLimits } from ${JSON.stringify(path.resolve('src/data/media-limits.ts'))};\nparentPort.postMessage(mediaLimits().maxPixels);\n`,
        );
        const worker = new Worker(new URL('./loader-worker-boot.mjs', import.meta.url), {
          workerData: { entry: new URL(`file://${entry}`).href },
        });
        worker.once('message', resolve);
        worker.once('error', reject);
      });
      setMediaLimits({});
      assert.equal(seen, 1234);
      assert.equal(process.env.BIKE_MAX_PIXELS, before);
      process.env.BIKE_MAX_PIXELS = 'lots';
      try {
        assert.throws(() => mediaLimits(), /BIKE_MAX_PIXELS=lots: expected a whole number of pixels from 1 to/);
      } finally {
        if (before === undefined) delete process.env.BIKE_MAX_PIXELS;
        else process.env.BIKE_MAX_PIXELS = before;
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test(
  'decompression bombs in a child process: refused by name, no native abort, memory stays bounded',
  { skip },
  async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bike-images-'));
    try {
      writeFileSync(path.join(dir, 'bomb.jpg'), jpegClaiming(dir, 65500, 65500));
      // Real 16383x16383 PNGs (sharp's own default limit; 805 MB each as RGB), written in strips.
      execFileSync(PYTHON, [
        '-c',
        String.raw`
import struct, sys, zlib
w = h = 16383
def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
z = zlib.compressobj(1); row = b'\x00' + b'\x40' * (w * 3); parts = [z.compress(row * 64) for _ in range(h // 64)]
parts.append(z.compress(row * (h % 64))); parts.append(z.flush())
data = b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0)) + chunk(b'IDAT', b''.join(parts)) + chunk(b'IEND', b'')
for i in range(4): open(sys.argv[1] + '/huge%d.png' % i, 'wb').write(data)
`,
        dir,
      ]);
      const script = path.join(dir, 'decode.mts');
      writeFileSync(
        script,
        `import { decodeImageFile } from ${JSON.stringify(path.resolve('src/data/image-decoder.ts'))};
const files = ['bomb.jpg', 'huge0.png', 'huge1.png', 'huge2.png', 'huge3.png'].map((n) => ${JSON.stringify(dir)} + '/' + n);
const results = await Promise.allSettled(files.map((f) => decodeImageFile(f)));
for (const r of results) console.log(r.status === 'rejected' ? 'refused: ' + r.reason.message : 'decoded');
console.log('maxrss', process.resourceUsage().maxRSS);
`,
      );
      const child = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', timeout: 120_000 });
      assert.equal(child.signal, null, `no signal death: ${child.stderr}`);
      assert.equal(child.status, 0, child.stderr);
      const lines = child.stdout.trim().split('\n');
      assert.match(
        lines[0]!,
        /^refused: image .*bomb\.jpg: too large: 65500x65500 is 4290250000 pixels, above the limit/,
      );
      for (let i = 1; i <= 4; i++)
        assert.match(
          lines[i]!,
          new RegExp(`^refused: image .*huge${i - 1}\\.png: too large: 16383x16383 is 268402689 pixels`),
        );
      const rssKiB = Number(lines[5]!.split(' ')[1]);
      assert.ok(rssKiB < 1024 * 1024, `peak memory ${rssKiB} KiB, expected under 1 GiB`);
      // Raised, the limit lets the same PNG through (about 805 MB for one): the limit is what bounds it.
      const raised = spawnSync(
        process.execPath,
        [
          '--import',
          'tsx',
          '-e',
          `import(${JSON.stringify(path.resolve('src/data/image-decoder.ts'))}).then(async (m) => { const i = await m.decodeImageFile(${JSON.stringify(path.join(dir, 'huge0.png'))}); console.log(i.width, i.data[0]); })`,
        ],
        { encoding: 'utf8', timeout: 120_000, env: { ...process.env, BIKE_MAX_PIXELS: String(16383 * 16383) } },
      );
      assert.equal(raised.signal, null, raised.stderr);
      assert.equal(raised.stdout.trim(), '16383 64', raised.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test('reused pixel arrays: frames decode into arrays from a PixelBuffers pool, with the same pixels, each array taken back once', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'bike-images-'));
  try {
    const [w, h] = [61, 48];
    const raw = Buffer.alloc(w * h * 3);
    for (let i = 0; i < raw.length; i++) raw[i] = (i * 7919) % 251;
    const file = path.join(dir, 'frame.jpg');
    await sharp(raw, { raw: { width: w, height: h, channels: 3 } })
      .jpeg({ quality: 90 })
      .toFile(file);
    const alone = await decodeImageFile(file);
    const pool = new PixelBuffers();
    const first = await decodeImageFile(file, undefined, pool);
    assert.deepEqual(first.data, alone.data);
    // Handed back (twice, as two clips sharing a frame would), the array serves the next decode once.
    pool.give([first, first]);
    const region = { region: { x: 0, y: 10, width: w, height: 20 }, frame: { width: w, height: h } };
    const second = await decodeImageFile(file, region, pool);
    assert.equal(second.data.buffer, first.data.buffer);
    assert.deepEqual(second.data, alone.data.subarray(10 * w * 3, 30 * w * 3));
    const third = await decodeImageFile(file, undefined, pool);
    assert.notEqual(third.data.buffer, first.data.buffer);
    // Arrays the pool did not make are never taken.
    pool.give([alone]);
    assert.notEqual((await decodeImageFile(file, undefined, pool)).data.buffer, alone.data.buffer);
    if (nativeJpeg) {
      // The addon writes into `into` only when it is large enough; else into an array of its own.
      const bytes = readFileSync(file);
      const small = new Uint8Array(10).fill(9);
      const decoded = nativeJpeg(bytes, undefined, undefined, small);
      assert.notEqual(decoded.data.buffer, small.buffer);
      assert.deepEqual(small, new Uint8Array(10).fill(9));
      assert.deepEqual(decoded.data, alone.data);
      assert.throws(
        () => nativeJpeg(bytes, undefined, undefined, new Float32Array(w * h * 3) as never),
        /into must be a Uint8Array/,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
