/**
 * The words of the demo world as captions of still frames: what stage 0 pre-trains CLIP on
 * (src/demo/pretrain.ts) and the lexicon the attributes are drawn from. A still frame shows a colour
 * and a shape, never a motion (which way a fade goes needs the frames around it), so captions and
 * lexicon name only colours and shapes; the motion words are learnt by BIKE from the videos.
 */
import type { ShapeKind } from './render.ts';

export const PLURAL: Record<ShapeKind, string> = { disc: 'discs', bar: 'bars', ring: 'rings', cross: 'crosses', square: 'squares', triangle: 'triangles' };

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

/** A caption of `template` for a colour and a shape. */
export function caption(template: string, colour: string, shape: ShapeKind): string {
  return template.replaceAll('{colour}', colour).replaceAll('{shapes}', PLURAL[shape]).replaceAll('{shape}', shape);
}

/** The lexicon entry of a colour and a shape ("red discs"), as the attributes name them. */
export function conceptPhrase(colour: string, shape: ShapeKind): string {
  return `${colour} ${PLURAL[shape]}`;
}

/** Every caption text of these colours and shapes (for the vocabulary). */
export function allCaptions(colours: readonly string[], shapes: readonly ShapeKind[]): string[] {
  return colours.flatMap((c) => shapes.flatMap((s) => CAPTION_TEMPLATES.map((t) => caption(t, c, s))));
}
