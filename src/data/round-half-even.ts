/** numpy's round (round half to even), used for the training segment bounds and crop offsets (no imports: the browser bundle of an ONNX export reaches it through the crop geometry). */
export function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const frac = x - floor;
  if (frac < 0.5) return floor;
  if (frac > 0.5) return floor + 1;
  return floor % 2 === 0 ? floor : floor + 1;
}
