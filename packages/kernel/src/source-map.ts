/**
 * Just enough of source maps to point runtime errors at a cell's own TypeScript: decode the
 * `mappings` of the map TypeScript's transpiler writes (base64 VLQ) and look up a generated
 * position. Lines and columns are 0-based here.
 */
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

type Segment = [genCol: number, srcLine: number, srcCol: number];

export class LineMap {
  private readonly lines: Segment[][];

  constructor(mappings: string) {
    this.lines = [];
    // Fields per segment: generated column, source index (one source here), source line, source column.
    let srcLine = 0, srcCol = 0;
    for (const line of mappings.split(';')) {
      const segs: Segment[] = [];
      let genCol = 0;
      for (const seg of line.split(',')) {
        if (!seg) continue;
        const v = decodeVlq(seg);
        genCol += v[0] ?? 0;
        if (v.length >= 4) {
          srcLine += v[2]!;
          srcCol += v[3]!;
          segs.push([genCol, srcLine, srcCol]);
        }
      }
      this.lines.push(segs);
    }
  }

  /** The source position of a generated one: the last mapping at or before it on that line. */
  lookup(line: number, column: number): { line: number; column: number } | null {
    const segs = this.lines[line];
    if (!segs || segs.length === 0) return null;
    let best = segs[0]!;
    for (const s of segs) if (s[0] <= column) best = s;
    return { line: best[1], column: best[2] + Math.max(0, column - best[0]) };
  }
}

function decodeVlq(s: string): number[] {
  const out: number[] = [];
  let value = 0, shift = 0;
  for (const ch of s) {
    const d = B64.indexOf(ch);
    value += (d & 31) << shift;
    if (d & 32) shift += 5;
    else {
      out.push(value & 1 ? -(value >>> 1) : value >>> 1);
      value = 0;
      shift = 0;
    }
  }
  return out;
}
