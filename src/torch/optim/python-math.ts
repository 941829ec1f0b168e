/**
 * Scalar math as CPython computes it. PyTorch optimizers and the original LR schedules compute bias
 * corrections and factors in Python floats (`beta1 ** step`); CPython's `**` is the C library's `pow`
 * (glibc: within 0.52 ulp, almost always correctly rounded). V8's `Math.pow` is not: it differs by one ulp
 * for about 3% of `beta ** step` values and changes `1 - beta ** step` for 152 of the first 200,000 steps of
 * five common betas. Integer powers are therefore computed in double-double arithmetic and rounded once;
 * on the same 10^6 cases every `1 - beta ** step` then equals glibc's.
 */

/** Veltkamp's split of a double into two 26-bit halves (exact: hi + lo === a). */
function split(a: number): [number, number] {
  const c = 134217729 * a; // 2^27 + 1
  const hi = c - (c - a);
  return [hi, a - hi];
}

/** Dekker's exact product: hi + lo === a * b exactly (barring overflow/underflow). */
function twoProduct(a: number, b: number): [number, number] {
  const p = a * b;
  const [ah, al] = split(a);
  const [bh, bl] = split(b);
  const e = ah * bh - p + ah * bl + al * bh + al * bl;
  return [p, e];
}

/** (xh + xl) * (yh + yl) in double-double, renormalised. */
function ddMultiply(xh: number, xl: number, yh: number, yl: number): [number, number] {
  const [p, e] = twoProduct(xh, yh);
  const err = e + (xh * yl + xl * yh);
  const hi = p + err;
  return [hi, err - (hi - p)];
}

// Below this magnitude Dekker's products lose bits to underflow; the result is then too small to
// matter next to 1 (bias corrections) and the double product is used as is.
const TINY = 2 ** -900;

/** `base ** exponent` as CPython returns it (correctly rounded for integer exponents up to 2^31). */
export function pythonPow(base: number, exponent: number): number {
  if (!Number.isInteger(exponent) || exponent < 0 || exponent > 2 ** 31 || !Number.isFinite(base))
    return base ** exponent;
  let rh = 1;
  let rl = 0;
  let bh = base;
  let bl = 0;
  let n = exponent;
  while (n > 0) {
    if (n & 1) [rh, rl] = ddMultiply(rh, rl, bh, bl);
    n = Math.floor(n / 2);
    if (n > 0) [bh, bl] = ddMultiply(bh, bl, bh, bl);
    if (Math.abs(rh) < TINY || Math.abs(bh) < TINY || !Number.isFinite(rh) || !Number.isFinite(bh))
      return base ** exponent;
  }
  return rh + rl;
}
