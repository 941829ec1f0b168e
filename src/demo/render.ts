/**
 * Drawing the demo's videos: a grid of one coloured shape on a textured background, growing,
 * shrinking or fading over the frames. Everything random (grid, size, pace, colour shade, background,
 * rotation) is drawn from the given generator, so a seed fixes every pixel. Shapes are anti-aliased by
 * 3x3 supersampling inside their bounding boxes.
 */
import type { Rng } from '../data/rng.ts';

export type ShapeKind = 'disc' | 'bar' | 'ring' | 'cross' | 'square' | 'triangle';
export type MotionKind = 'growing' | 'shrinking' | 'fading in' | 'fading out';
export type Rgb = [number, number, number];

export interface VideoSpec {
  color: Rgb;
  shape: ShapeKind;
  motion: MotionKind;
}

export interface RenderOptions {
  width: number;
  height: number;
  frames: number;
}

interface ShapeState {
  cx: number;
  cy: number;
  /** Circumradius in pixels. */
  r: number;
  /** Opacity in [0, 1]. */
  alpha: number;
}

function uniform(rng: Rng, low: number, high: number): number {
  return low + (high - low) * rng.nextFloat();
}

function clampByte(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
}

/**
 * Start and end state of a shape in a grid cell of side `cell`: the motion decides what changes (size
 * or opacity, in one direction), the rest is jitter (the range of the change).
 */
function change(
  motion: MotionKind,
  cell: number,
  rng: Rng,
): { from: Omit<ShapeState, 'cx' | 'cy'>; to: Omit<ShapeState, 'cx' | 'cy'> } {
  if (motion === 'growing' || motion === 'shrinking') {
    const small = { r: uniform(rng, 0.14, 0.2) * cell, alpha: 1 };
    const large = { r: uniform(rng, 0.42, 0.48) * cell, alpha: 1 };
    return motion === 'growing' ? { from: small, to: large } : { from: large, to: small };
  }
  const r = uniform(rng, 0.36, 0.46) * cell;
  // Faint, not invisible: a still frame of a faded shape still shows its colour and shape, so the
  // attributes the pre-trained CLIP picks from frame-averaged features name the right colour and shape
  // whichever way the fade goes (only the order of the frames says which).
  const faint = { r, alpha: uniform(rng, 0.25, 0.35) };
  const solid = { r, alpha: uniform(rng, 0.95, 1) };
  return motion === 'fading in' ? { from: faint, to: solid } : { from: solid, to: faint };
}

/** Whether point (x, y) is inside the shape centred at (cx, cy) with circumradius r, rotated by `angle`. */
function inside(shape: ShapeKind, x: number, y: number, st: ShapeState, cos: number, sin: number): boolean {
  const dx = x - st.cx;
  const dy = y - st.cy;
  const d2 = dx * dx + dy * dy;
  if (shape === 'disc') return d2 <= st.r * st.r * 0.8;
  // A ring's band is a fixed share of its radius, so it stays a ring at every size.
  if (shape === 'ring') return d2 <= st.r * st.r * 0.8 && d2 >= st.r * st.r * 0.25;
  // Rotate the point into the shape's frame.
  const u = cos * dx + sin * dy;
  const v = -sin * dx + cos * dy;
  if (shape === 'bar') return Math.abs(u) <= st.r * 0.95 && Math.abs(v) <= st.r * 0.28;
  if (shape === 'cross') {
    const arm = st.r * 0.85;
    const half = st.r * 0.22;
    return (Math.abs(u) <= arm && Math.abs(v) <= half) || (Math.abs(v) <= arm && Math.abs(u) <= half);
  }
  if (shape === 'square') {
    const half = st.r * 0.75;
    return Math.abs(u) <= half && Math.abs(v) <= half;
  }
  // Upright triangle with its centroid at the centre: apex at -r, base at r/2.
  const top = -st.r;
  const base = st.r * 0.5;
  if (v < top || v > base) return false;
  const halfWidth = ((v - top) / (base - top)) * st.r * 0.866;
  return Math.abs(u) <= halfWidth;
}

/**
 * The frames of one video, each `width * height * 3` bytes of RGB, concatenated. The video shows a
 * grid of the same shape (3 or 4 per side, each slightly displaced), all changing together, on a
 * per-video tinted background with fresh per-pixel noise every frame; so any part of a frame shows the
 * class, as the training crops need. The shade, the grid, the range and the pace (delay, duration,
 * easing) of the change are random, so no two videos of a class look alike.
 */
export function renderVideo(spec: VideoSpec, o: RenderOptions, rng: Rng): Uint8Array {
  const { width, height, frames } = o;
  const pixels = new Uint8Array(width * height * 3 * frames);
  const base = uniform(rng, 25, 95);
  const tint: Rgb = [base + uniform(rng, -15, 15), base + uniform(rng, -15, 15), base + uniform(rng, -15, 15)];
  const noise = uniform(rng, 3, 10);
  const color = spec.color.map((c) => clampByte(c + uniform(rng, -22, 22))) as Rgb;
  const round = spec.shape === 'disc' || spec.shape === 'ring';
  const angle = round ? 0 : uniform(rng, -0.3, 0.3);
  const perSide = 3 + rng.nextInt(2);
  const cell = Math.min(width, height) / perSide;
  const { from, to } = change(spec.motion, cell, rng);
  const centres: [number, number][] = [];
  for (let gy = 0; gy < perSide; gy++) {
    for (let gx = 0; gx < perSide; gx++)
      centres.push([(gx + 0.5 + uniform(rng, -0.08, 0.08)) * cell, (gy + 0.5 + uniform(rng, -0.08, 0.08)) * cell]);
  }
  // Progress: the change starts after a short random delay, slows down as it ends (ease-out) and is
  // over before the last frames, which hold the end state, as real motions come to rest.
  const delay = uniform(rng, 0, 0.1);
  const finish = uniform(rng, 0.55, 0.75);
  const ease = uniform(rng, 1.8, 2.6);
  const samples = 3;
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  for (let f = 0; f < frames; f++) {
    const frame = pixels.subarray(f * width * height * 3, (f + 1) * width * height * 3);
    for (let i = 0; i < width * height; i++) {
      for (let c = 0; c < 3; c++) frame[i * 3 + c] = clampByte(tint[c]! + (rng.nextFloat() - 0.5) * 2 * noise);
    }
    const linear = frames > 1 ? f / (frames - 1) : 0;
    const t = 1 - (1 - Math.min(1, Math.max(0, (linear - delay) / (finish - delay)))) ** ease;
    const r = from.r + (to.r - from.r) * t;
    const opacity = from.alpha + (to.alpha - from.alpha) * t;
    for (const [cx, cy] of centres) {
      const st: ShapeState = { cx, cy, r, alpha: opacity };
      const x0 = Math.max(0, Math.floor(cx - r - 1));
      const x1 = Math.min(width - 1, Math.ceil(cx + r + 1));
      const y0 = Math.max(0, Math.floor(cy - r - 1));
      const y1 = Math.min(height - 1, Math.ceil(cy + r + 1));
      for (let y = y0; y <= y1; y++) {
        for (let x = x0; x <= x1; x++) {
          let hits = 0;
          for (let sy = 0; sy < samples; sy++) {
            for (let sx = 0; sx < samples; sx++) {
              if (inside(spec.shape, x + (sx + 0.5) / samples, y + (sy + 0.5) / samples, st, cos, sin)) hits++;
            }
          }
          if (hits === 0) continue;
          const alpha = (opacity * hits) / (samples * samples);
          const p = (y * width + x) * 3;
          for (let c = 0; c < 3; c++) frame[p + c] = clampByte(frame[p + c]! * (1 - alpha) + color[c]! * alpha);
        }
      }
    }
  }
  return pixels;
}
