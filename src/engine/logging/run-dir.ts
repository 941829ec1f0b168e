/**
 * The run's working directory, as the original names it: `output_path/dataset/arch/<log_time>`
 * (`arch` as written in the config, so `ViT-B/32` nests two folders exactly as in the original), with
 * the config file copied into it. `<log_time>` defaults to the launch time `YYYYMMDD_HHMMSS`, the
 * format of the original's scripts (`date +"%Y%m%d_%H%M%S"`).
 */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ArchSpec, BikeConfig } from '../config/config.ts';

export function logTimeNow(date = new Date()): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}${pad(date.getMonth() + 1)}${pad(date.getDate())}_${pad(date.getHours())}${pad(date.getMinutes())}${pad(date.getSeconds())}`;
}

/**
 * The `arch` part of the path: the model name as written; for a weights file its base name without
 * extension; for a hyper-parameter mapping a short name of its sizes (`custom-vit2x64p8-txt1x64-e32`).
 */
export function archPathPart(arch: ArchSpec): string {
  if (arch.kind === 'name') return arch.name;
  if (arch.kind === 'file') return path.basename(arch.path).replace(/\.[^.]*$/, '') || 'weights';
  const h = arch.hyperparameters;
  const vision = Array.isArray(h.vision_layers)
    ? `rn${h.vision_layers.join('-')}x${h.vision_width}`
    : `vit${h.vision_layers}x${h.vision_width}p${h.vision_patch_size}`;
  return `custom-${vision}-r${h.image_resolution}-txt${h.transformer_layers}x${h.transformer_width}-e${h.embed_dim}`;
}

export interface RunDirectoryOptions {
  /** `--log-time`; default: now. */
  logTime?: string;
  /** Suffix for a second branch in the same tree (e.g. `attributes`). */
  suffix?: string;
}

/** The working directory path (not created). */
export function runDirectoryPath(config: BikeConfig, options: RunDirectoryOptions = {}): string {
  const outputPath = config.data.output_path;
  const dataset = config.data.dataset;
  if (!outputPath)
    throw new Error('config data.output_path: required to name the run directory (output_path/dataset/arch/<time>)');
  if (!dataset)
    throw new Error('config data.dataset: required to name the run directory (output_path/dataset/arch/<time>)');
  if (!config.network.arch)
    throw new Error('config network.arch: required to name the run directory (output_path/dataset/arch/<time>)');
  const time = options.logTime ?? logTimeNow();
  if (!time || time.includes('..') || path.isAbsolute(time))
    throw new Error(`--log-time ${JSON.stringify(time)}: expected a plain folder name`);
  const leaf = options.suffix ? `${time}-${options.suffix}` : time;
  return path.join(outputPath, dataset, archPathPart(config.network.arch), leaf);
}

/**
 * Creates the working directory and copies the config into it (the file as given, plus
 * `config.resolved.json` with every default and `--set` override applied).
 */
export function createRunDirectory(config: BikeConfig, configFile: string, options: RunDirectoryOptions = {}): string {
  const dir = runDirectoryPath(config, options);
  mkdirSync(dir, { recursive: true });
  copyFileSync(configFile, path.join(dir, path.basename(configFile)));
  writeFileSync(path.join(dir, 'config.resolved.json'), `${JSON.stringify(config, null, 2)}\n`);
  return dir;
}
