/**
 * Weight-loading benchmark: a ViT-B/32 CLIP (random weights, about 600 MB of float32) written to a
 * temporary folder with the project's own writers, as safetensors and as a torch.save-layout zip,
 * then loaded with `loadClip` (what `bike predict --clip FILE` uses), end to end and step by step,
 * beside the previous path's steps (file in one JS buffer, tensors copied out of it, the model built
 * with its random initialisation, weights copied in). The file read is timed in the same run
 * (`readFileSync` of the same bytes, page cache warm for both), so the last line,
 * `ratio_vs_file_read <loadClip time / file read time>`, compares loading with reading the file.
 *
 * Settings (environment): BENCH_ARCH (ViT-B/32), BENCH_REPEATS (3: the median is printed),
 * BENCH_FORMAT (safetensors | pt | both, default both: the ratio line is the safetensors one).
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLIP_ARCHITECTURES, type ClipConfig } from '../src/clip/config.ts';
import { loadClip, loadClipStateDict } from '../src/clip/load.ts';
import { CLIP } from '../src/clip/model.ts';
import { manualSeed, noGrad, native, nn } from '../src/torch/index.ts';
import { fromRaw, type Tensor } from '../src/torch/tensor.ts';
import { parseSafetensors } from '../src/torch/serialization/safetensors-format.ts';
import { readPtBuffer, isLoadedTensor } from '../src/torch/serialization/pt-reader.ts';
import { loadPtFile, loadSafetensors, saveSafetensors } from '../src/torch/serialization/serialization.ts';
import { buildPtArchive, PickleWriter, writeTensor } from '../src/torch/serialization/pt-test-archive.ts';
import { DTYPE_BYTES, type DType } from '../src/torch/serialization/raw-tensor.ts';

const arch = (process.env.BENCH_ARCH ?? 'ViT-B/32') as keyof typeof CLIP_ARCHITECTURES;
const repeats = Math.max(1, Number(process.env.BENCH_REPEATS ?? 3));
const formats = (process.env.BENCH_FORMAT ?? 'both') === 'both' ? ['safetensors', 'pt'] : [process.env.BENCH_FORMAT!];
const config = CLIP_ARCHITECTURES[arch] as ClipConfig;
if (!config) throw new Error(`BENCH_ARCH ${arch}: not one of ${Object.keys(CLIP_ARCHITECTURES).join(', ')}`);

function ms(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function timed<T>(fn: () => T): [T, number] {
  const start = process.hrtime.bigint();
  const value = fn();
  return [value, ms(start)];
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

const STORAGE_CLASS: Partial<Record<DType, string>> = {
  float32: 'FloatStorage',
  float16: 'HalfStorage',
  int64: 'LongStorage',
};

/** A torch.save-layout zip of the state dict (STORED entries, as torch.save writes them). */
function writePtFile(path: string, stateDict: Map<string, Tensor>): void {
  const p = new PickleWriter().proto().global('collections', 'OrderedDict').emptyTuple().raw(0x52).mark();
  const storages: Record<string, Uint8Array> = {};
  let key = 0;
  for (const [name, t] of stateDict) {
    const raw = t.toRaw();
    const storageClass = STORAGE_CLASS[raw.dtype];
    if (!storageClass) throw new Error(`bench: no storage class for ${raw.dtype}`);
    const strides = raw.shape.map((_, d) => raw.shape.slice(d + 1).reduce((a, b) => a * b, 1));
    writeTensor(p.binunicode(name), {
      storageClass,
      key: String(key),
      storageNumel: raw.data.length / DTYPE_BYTES[raw.dtype],
      offset: 0,
      shape: raw.shape,
      stride: strides,
    });
    storages[String(key++)] = raw.data;
  }
  writeFileSync(path, buildPtArchive(p.setitems().stop().bytes(), storages));
}

const dir = mkdtempSync(join(tmpdir(), 'bike-bench-load-'));
try {
  manualSeed(0);
  const files: Record<string, string> = { safetensors: join(dir, 'clip.safetensors'), pt: join(dir, 'clip.pt') };
  {
    const model = noGrad(() => new CLIP(config));
    const stateDict = model.stateDict();
    if (formats.includes('safetensors')) saveSafetensors(files.safetensors, stateDict);
    if (formats.includes('pt')) writePtFile(files.pt, stateDict);
    for (const t of model.parameters()) t.dispose();
  }
  console.log(
    `arch ${arch}, threads ${native.getNumThreads()}, repeats ${repeats} (medians, ms; measured under whatever load the machine has)`,
  );
  let ratio = NaN;
  for (const format of formats) {
    const file = files[format];
    const size = statSync(file).size;
    const rows: Record<string, number[]> = {
      file_read: [],
      'old: parse': [],
      'old: tensors': [],
      'old: construct': [],
      'old: copy_in': [],
      'old: total': [],
      'new: read_tensors': [],
      'new: construct': [],
      'new: assign': [],
      loadClip: [],
    };
    for (let r = 0; r < repeats; r++) {
      const [bytes, read] = timed(() => readFileSync(file));
      rows.file_read.push(read);
      {
        // The previous path: the file in one JS buffer, tensors copied out of it, the model built with
        // its random initialisation, the weights copied into it.
        const [raws, parse] = timed(() => {
          if (format === 'safetensors') return [...parseSafetensors(bytes, file).tensors];
          return Object.entries(readPtBuffer(bytes, file) as Record<string, unknown>).filter(([, v]) =>
            isLoadedTensor(v),
          ) as [string, never][];
        });
        const [tensors, create] = timed(() => new Map(raws.map(([k, raw]) => [k, fromRaw(raw)])));
        const [model, construct] = timed(() => noGrad(() => new CLIP(config)));
        const [, copy] = timed(() => loadClipStateDict(model, tensors, file));
        rows['old: parse'].push(parse);
        rows['old: tensors'].push(create);
        rows['old: construct'].push(construct);
        rows['old: copy_in'].push(copy);
        rows['old: total'].push(read + parse + create + construct + copy);
        for (const t of tensors.values()) t.dispose();
        for (const t of model.stateDict().values()) t.dispose();
      }
      {
        // What loadClip does now, step by step.
        const [tensors, readTensors] = timed(() =>
          format === 'safetensors'
            ? loadSafetensors(file)
            : new Map(Object.entries(loadPtFile(file) as Record<string, Tensor>)),
        );
        const [model, construct] = timed(() => nn.init.withoutInitialization(() => new CLIP(config)));
        const [, assign] = timed(() => loadClipStateDict(model, tensors, file, { assign: true }));
        rows['new: read_tensors'].push(readTensors);
        rows['new: construct'].push(construct);
        rows['new: assign'].push(assign);
        for (const t of model.stateDict().values()) t.dispose();
      }
      const [loaded, whole] = timed(() => loadClip(file));
      rows.loadClip.push(whole);
      for (const t of loaded.model.stateDict().values()) t.dispose();
    }
    console.log(`\n${format}: ${(size / 1e6).toFixed(1)} MB`);
    for (const [name, values] of Object.entries(rows))
      console.log(`  ${name.padEnd(18)} ${median(values).toFixed(1).padStart(9)}`);
    const formatRatio = median(rows.loadClip) / median(rows.file_read);
    console.log(`  ${format}_ratio_vs_file_read ${formatRatio.toFixed(2)}`);
    if (format === formats[0]) ratio = formatRatio;
  }
  console.log(`\nratio_vs_file_read ${ratio.toFixed(2)}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
