// Float64 reference for conv2d (NCHW, weights [Cout, Cin, KH, KW]): direct loops, written
// independently of the GPU code (own output-size and padding rules, TensorFlow 'same').
export type RefPadding = 'same' | 'valid' | number | readonly [number, number];

export interface RefGeom {
  n: number;
  cin: number;
  h: number;
  w: number;
  cout: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  /** Zeros before row 0 / column 0. */
  pt: number;
  pl: number;
  oh: number;
  ow: number;
}

export function refGeometry(
  x: readonly number[],
  w: readonly number[],
  stride: number | readonly [number, number] = 1,
  padding: RefPadding = 'valid',
): RefGeom {
  const [n, cin, h, wd] = x as [number, number, number, number];
  const [cout, , kh, kw] = w as [number, number, number, number];
  const [sh, sw] = typeof stride === 'number' ? [stride, stride] : stride;
  if (padding === 'same') {
    // TensorFlow: out = ceil(in / s); total padding max((out - 1) * s + k - in, 0), the larger half after.
    const oh = Math.ceil(h / sh);
    const ow = Math.ceil(wd / sw);
    const th = Math.max((oh - 1) * sh + kh - h, 0);
    const tw = Math.max((ow - 1) * sw + kw - wd, 0);
    return { n, cin, h, w: wd, cout, kh, kw, sh, sw, pt: th >> 1, pl: tw >> 1, oh, ow };
  }
  const [ph, pw] = padding === 'valid' ? [0, 0] : typeof padding === 'number' ? [padding, padding] : padding;
  return { n, cin, h, w: wd, cout, kh, kw, sh, sw, pt: ph, pl: pw, oh: Math.floor((h + 2 * ph - kh) / sh) + 1, ow: Math.floor((wd + 2 * pw - kw) / sw) + 1 };
}

/** Calls f(n, co, oh, ow, ci, kh, kw, xIndex, wIndex) for every term of the convolution sum. */
function forEachTerm(
  g: RefGeom,
  f: (outIndex: number, xIndex: number, wIndex: number, co: number) => void,
): void {
  for (let n = 0; n < g.n; n++)
    for (let co = 0; co < g.cout; co++)
      for (let oh = 0; oh < g.oh; oh++)
        for (let ow = 0; ow < g.ow; ow++) {
          const o = ((n * g.cout + co) * g.oh + oh) * g.ow + ow;
          for (let ci = 0; ci < g.cin; ci++)
            for (let kh = 0; kh < g.kh; kh++) {
              const ih = oh * g.sh - g.pt + kh;
              if (ih < 0 || ih >= g.h) continue;
              for (let kw = 0; kw < g.kw; kw++) {
                const iw = ow * g.sw - g.pl + kw;
                if (iw < 0 || iw >= g.w) continue;
                f(o, ((n * g.cin + ci) * g.h + ih) * g.w + iw, ((co * g.cin + ci) * g.kh + kh) * g.kw + kw, co);
              }
            }
        }
}

/** out [N, Cout, OH, OW] = x (*) w + bias. */
export function conv2dRef(x: Float64Array, w: Float64Array, bias: Float64Array | null, g: RefGeom): Float64Array {
  const out = new Float64Array(g.n * g.cout * g.oh * g.ow);
  if (bias) for (let i = 0; i < out.length; i++) out[i] = bias[Math.floor(i / (g.oh * g.ow)) % g.cout]!;
  forEachTerm(g, (o, xi, wi) => {
    out[o]! += x[xi]! * w[wi]!;
  });
  return out;
}

/** Gradients of sum(out * gy) with respect to x, w and bias. */
export function conv2dGradRef(
  x: Float64Array,
  w: Float64Array,
  gy: Float64Array,
  g: RefGeom,
): { dx: Float64Array; dw: Float64Array; db: Float64Array } {
  const dx = new Float64Array(x.length);
  const dw = new Float64Array(w.length);
  const db = new Float64Array(g.cout);
  for (let i = 0; i < gy.length; i++) db[Math.floor(i / (g.oh * g.ow)) % g.cout]! += gy[i]!;
  forEachTerm(g, (o, xi, wi) => {
    dx[xi]! += gy[o]! * w[wi]!;
    dw[wi]! += gy[o]! * x[xi]!;
  });
  return { dx, dw, db };
}
