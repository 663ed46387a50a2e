/**
 * Aaren's constant-memory inference: the same (m, u, w) state updated one token at a time
 * (the many-to-one RNN). The state is D-independent: 2 + Dv numbers per (batch, head), whatever
 * the number of tokens seen. Host float64, for streaming and for measuring memory.
 */
import { TensorError } from '@attnlab/tensor';

export class AarenStream {
  readonly Dv: number;
  private m = -Infinity;
  private u = 0;
  private readonly w: Float64Array;
  private n = 0;

  constructor(Dv: number) {
    if (!Number.isInteger(Dv) || Dv < 1) throw new TensorError('AarenStream', `Dv must be a positive integer, got ${Dv}`);
    this.Dv = Dv;
    this.w = new Float64Array(Dv);
  }

  /** Tokens seen. */
  get length(): number {
    return this.n;
  }

  /** Bytes of state held (m, u, w as float64): constant in the number of tokens. */
  get stateBytes(): number {
    return 8 * (2 + this.Dv);
  }

  /** Add token (score s = scale q . k, value v); returns o_t = w / u. */
  push(s: number, v: ArrayLike<number>): Float64Array {
    if (!Number.isFinite(s)) throw new TensorError('AarenStream.push', `score must be finite, got ${s}`);
    if (v.length !== this.Dv) throw new TensorError('AarenStream.push', `v has ${v.length} entries, expected Dv = ${this.Dv}`);
    const mN = Math.max(this.m, s);
    const a = this.n === 0 ? 0 : Math.exp(this.m - mN);
    const b = Math.exp(s - mN);
    this.u = this.u * a + b;
    const out = new Float64Array(this.Dv);
    for (let c = 0; c < this.Dv; c++) {
      this.w[c] = this.w[c]! * a + b * v[c]!;
      out[c] = this.w[c]! / this.u;
    }
    this.m = mN;
    this.n++;
    return out;
  }
}
