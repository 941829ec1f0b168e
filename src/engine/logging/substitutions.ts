/**
 * The per-run record of substituted inputs: frames that could not be read and were replaced by
 * frame 1 of their video (the original's `_load_image` fallback, also used when a list claims more
 * frames than a folder holds), frames of video files that did not decode (a damaged packet) and got
 * the pixels of the nearest frame that does, and training videos that could not be read and were
 * replaced by the next one. Each file is warned about once, when first replaced; every replacement
 * is counted, and `finish` writes the counts to the log and to metrics.jsonl and returns them (a
 * test's summary).
 */
import path from 'node:path';
import type { FrameFallback } from '../../data/frame-loader.ts';
import type { VideoFrameSubstitution } from '../../data/video-dataset.ts';
import type { RunLogger } from './logging.ts';

export interface SubstitutedFile {
  /** 'frame': a frame image; 'video frame': frames inside a video file; 'video': a whole video. */
  kind: 'frame' | 'video frame' | 'video';
  /** The file (frame image or video file) or video (file or frame folder) that could not be used. */
  file: string;
  /** What was used instead: frame 1's file, the nearest decodable frame, or 'the next video in the list'. */
  replacement: string;
  /** 'video frame' only: each distinct frame that did not decode and the frame used instead. */
  frames?: { frame: number; from: number }[];
  /** The first read or decode error. */
  reason: string;
  /** Times it was replaced in this run (a frame sampled twice counts twice). */
  count: number;
}

export interface SubstitutionSummary {
  /** Replacements of frame images, of frames inside video files and of videos, counted each time. */
  frames: number;
  videoFrames: number;
  videos: number;
  files: SubstitutedFile[];
}

/** What a batch reports of its substitutions (the loader's Batch). */
export interface BatchSubstitutions {
  fallbacks: readonly FrameFallback[];
  substitutedFrames: readonly VideoFrameSubstitution[];
  skipped: readonly { index: number; path: string; reason: string }[];
}

/** Files listed one per line in the log's summary (all are in the metrics record and the result). */
const LISTED_FILES = 20;

export class SubstitutionRecord {
  private readonly files = new Map<string, SubstitutedFile>();

  constructor(private readonly logger: RunLogger) {}

  /** Records a batch's substitutions (`root`: the folder the list's video paths are relative to). */
  note(stage: string, batch: BatchSubstitutions, root: string): void {
    for (const f of batch.fallbacks) this.add(stage, 'frame', f.path, f.replacement, f.reason);
    for (const f of batch.substitutedFrames)
      this.add(stage, 'video frame', f.path, 'the nearest frame that decodes', f.reason, f);
    for (const s of batch.skipped)
      this.add(stage, 'video', path.join(root, s.path), 'the next video in the list', s.reason);
  }

  private add(
    stage: string,
    kind: SubstitutedFile['kind'],
    file: string,
    replacement: string,
    reason: string,
    frame?: { frame: number; from: number },
  ): void {
    const key = `${kind}:${file}`;
    let known = this.files.get(key);
    const first = !known;
    if (known) known.count++;
    else {
      known = { kind, file, replacement, reason, count: 1, ...(frame ? { frames: [] } : {}) };
      this.files.set(key, known);
    }
    if (frame && !known.frames!.some((f) => f.frame === frame.frame))
      known.frames!.push({ frame: frame.frame, from: frame.from });
    if (!first) return;
    const what =
      kind === 'video frame'
        ? `video ${file}: sampled frames do not decode (${reason}); each gets the pixels of the nearest frame that decodes (first: frame ${frame!.frame} <- ${frame!.from})`
        : `${kind} ${file} cannot be read (${reason}); ${replacement} is used in its place`;
    this.logger.warn(`${stage}: ${what} (warned once per file; the run's summary counts every replacement)`);
  }

  summary(): SubstitutionSummary {
    const files = [...this.files.values()].map((f) => ({ ...f }));
    const total = (kind: SubstitutedFile['kind']) =>
      files.filter((f) => f.kind === kind).reduce((a, f) => a + f.count, 0);
    return { frames: total('frame'), videoFrames: total('video frame'), videos: total('video'), files };
  }

  /**
   * The summary in the log (a line per file) and in metrics.jsonl; returned for the command's result.
   * A non-empty one is printed even when the run is quiet: a test or zero-shot run has no run folder.
   */
  finish(stage: string): SubstitutionSummary {
    const summary = this.summary();
    if (summary.files.length === 0) {
      this.logger.info(`${stage}: no input was replaced`);
    } else {
      const filesOf = (kind: SubstitutedFile['kind']) => summary.files.filter((f) => f.kind === kind).length;
      const [frameFiles, damagedVideos, videoFiles] = [filesOf('frame'), filesOf('video frame'), filesOf('video')];
      const parts = [];
      if (frameFiles > 0)
        parts.push(`${summary.frames} frame(s) of ${frameFiles} unreadable file(s) by frame 1 of their video`);
      if (damagedVideos > 0)
        parts.push(
          `${summary.videoFrames} frame(s) of ${damagedVideos} damaged video file(s) by the nearest frame that decodes`,
        );
      if (videoFiles > 0)
        parts.push(`${summary.videos} time(s) one of ${videoFiles} unreadable video(s) by the next one`);
      this.logger.notice(`${stage}: inputs replaced: ${parts.join('; ')}`);
      for (const f of summary.files.slice(0, LISTED_FILES)) {
        const which = f.frames ? ` (frame ${f.frames.map((s) => `${s.frame} <- ${s.from}`).join(', ')})` : '';
        this.logger.notice(
          `  ${f.kind} ${f.file}: replaced ${f.count} time(s) by ${f.replacement}${which} (${f.reason})`,
        );
      }
      if (summary.files.length > LISTED_FILES)
        this.logger.notice(
          `  ... and ${summary.files.length - LISTED_FILES} more files (the run's metrics record lists them all)`,
        );
    }
    this.logger.metrics({
      kind: 'substitutions',
      stage,
      frames: summary.frames,
      videoFrames: summary.videoFrames,
      videos: summary.videos,
      files: summary.files,
    });
    return summary;
  }
}
