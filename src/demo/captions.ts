/**
 * The words of the demo world as captions of still frames: what stage 0 pre-trains CLIP on
 * (src/demo/pretrain.ts) and the lexicon the attributes are drawn from. A still frame shows a colour
 * and a shape; some captions also name the video's motion, as web captions of video thumbnails name
 * what happens in the video: a single frame cannot tell which way a fade goes (the frames around it
 * can), but a faint frame is a little more often from a fade-out, so the text encoder learns distinct
 * words for the motions. The lexicon names only colours and shapes, what a frame shows.
 */
import type { ShapeKind } from './render.ts';

export const PLURAL: Record<ShapeKind, string> = {
  disc: 'discs',
  bar: 'bars',
  ring: 'rings',
  cross: 'crosses',
  square: 'squares',
  triangle: 'triangles',
};

/** Caption templates; `{colour}`, `{shape}` (singular) and `{shapes}` (plural) are filled in. */
export const CAPTION_TEMPLATES: readonly string[] = [
  '{colour} {shapes}',
  'a photo of {colour} {shapes}',
  'This is a video about {colour} {shapes}',
  'many {colour} {shapes} on grey',
  'some {colour} {shapes} on a dark background',
  'a {colour} {shape} and more {colour} {shapes}',
  'a grid of {colour} {shapes}',
];

/** Templates that also name the video's motion (`{motion}`). */
export const MOTION_CAPTION_TEMPLATES: readonly string[] = [
  '{colour} {shapes} {motion}',
  'a photo of {colour} {shapes} {motion}',
  'This is a video about {colour} {shapes} {motion}',
  'a grid of {colour} {shapes} {motion}',
];

/** A caption of `template` for a colour, a shape and (for motion templates) a motion. */
export function caption(template: string, colour: string, shape: ShapeKind, motion = ''): string {
  if (template.includes('{motion}') && !motion) throw new Error(`caption template "${template}" needs a motion`);
  return template
    .replaceAll('{colour}', colour)
    .replaceAll('{shapes}', PLURAL[shape])
    .replaceAll('{shape}', shape)
    .replaceAll('{motion}', motion);
}

/** The lexicon entry of a colour and a shape ("red discs"), as the attributes name them. */
export function conceptPhrase(colour: string, shape: ShapeKind): string {
  return `${colour} ${PLURAL[shape]}`;
}

/** Every caption text of these colours and shapes (for the vocabulary). */
export function allCaptions(
  colours: readonly string[],
  shapes: readonly ShapeKind[],
  motions: readonly string[],
): string[] {
  return colours.flatMap((c) =>
    shapes.flatMap((s) => [
      ...CAPTION_TEMPLATES.map((t) => caption(t, c, s)),
      ...motions.flatMap((m) => MOTION_CAPTION_TEMPLATES.map((t) => caption(t, c, s, m))),
    ]),
  );
}
