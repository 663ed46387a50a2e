import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ModelError, readSafetensors, writeSafetensors, type SafetensorsFile } from '../src/index.js';
import { mulberry32 } from '@attnlab/tensor';

/**
 * Seeded fuzz of the safetensors reader. Every mutation of a valid file (truncations, appended
 * bytes, header-length changes, bit flips and byte writes in the length prefix and header, and
 * structural header edits) must either throw a ModelError or load exactly the original tensors:
 * the same dtypes, shapes and bits in offset order (a renamed tensor or changed metadata is a
 * different valid file, not wrong data). Any other exception, or any other data, fails the test.
 */
const SEED = Number(process.env['ATTNLAB_TEST_SEED'] ?? 20261122);

/** mulberry32 (@attnlab/tensor's): small, seeded, independent of the code under test. */
const rng = mulberry32;

interface Base {
  bytes: Uint8Array;
  headerLen: number;
  header: Record<string, unknown>;
}

function build(header: Record<string, unknown>, data: Uint8Array): Base {
  let json = JSON.stringify(header);
  while ((8 + json.length) % 8) json += ' ';
  const hb = new TextEncoder().encode(json);
  const bytes = new Uint8Array(8 + hb.length + data.length);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(hb.length), true);
  bytes.set(hb, 8);
  bytes.set(data, 8 + hb.length);
  return { bytes, headerLen: hb.length, header };
}

function bases(r: () => number): Base[] {
  const f = Float32Array.from({ length: 12 }, () => r() * 4 - 2);
  const i = Int32Array.from({ length: 5 }, () => Math.floor(r() * 2000) - 1000);
  const written = writeSafetensors({ 'h.0.attn.c_attn.weight': { shape: [3, 4], data: f }, ids: { shape: [5], data: i }, empty: { shape: [0, 2], data: new Float32Array(0) } }, { format: 'pt' });
  const wl = Number(new DataView(written.buffer).getBigUint64(0, true));
  const wHeader = JSON.parse(new TextDecoder().decode(written.subarray(8, 8 + wl))) as Record<string, unknown>;
  // Mixed dtypes, declared out of offset order.
  const data = new Uint8Array(2 * 3 + 2 * 2 + 8 * 2 + 8 + 3 + 2);
  for (let k = 0; k < data.length; k++) data[k] = Math.floor(r() * 256);
  // Keep the I64 value inside int32 so the valid file decodes.
  new DataView(data.buffer).setBigInt64(26, -7n, true);
  const mixed = build({
    __metadata__: { format: 'pt', note: 'fuzz' },
    d: { dtype: 'F64', shape: [2], data_offsets: [10, 26] },
    h: { dtype: 'F16', shape: [3], data_offsets: [0, 6] },
    b: { dtype: 'BF16', shape: [1, 2], data_offsets: [6, 10] },
    q: { dtype: 'I64', shape: [1], data_offsets: [26, 34] },
    u: { dtype: 'U8', shape: [3], data_offsets: [34, 37] },
    s: { dtype: 'I8', shape: [2, 1], data_offsets: [37, 39] },
  }, data);
  return [{ bytes: written, headerLen: wl, header: wHeader }, mixed];
}

/** Tensors in offset order: what must survive a mutation unchanged if the file still loads. */
function layout(f: SafetensorsFile, header: Record<string, unknown>): { dtype: string; shape: number[]; bits: Uint8Array }[] {
  const order = [...f.tensors.keys()].sort((a, b) => {
    const oa = (header[a] as { data_offsets: number[] } | undefined)?.data_offsets ?? [0, 0];
    const ob = (header[b] as { data_offsets: number[] } | undefined)?.data_offsets ?? [0, 0];
    return oa[0]! - ob[0]! || oa[1]! - ob[1]!;
  });
  return order.map((n) => {
    const t = f.tensors.get(n)!;
    return { dtype: t.dtype, shape: t.shape, bits: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) };
  });
}

function headerOf(bytes: Uint8Array): Record<string, unknown> {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, unknown>;
}

type Mutation = { kind: string; bytes: Uint8Array; mustThrow: boolean };

function mutate(base: Base, r: () => number): Mutation {
  const b = base.bytes;
  const pick = (n: number): number => Math.floor(r() * n);
  const names = Object.keys(base.header).filter((k) => k !== '__metadata__');
  const withHeader = (h: unknown, extra = 0): Uint8Array => {
    const data = b.subarray(8 + base.headerLen);
    let json = typeof h === 'string' ? h : JSON.stringify(h);
    while ((8 + json.length) % 8) json += ' ';
    const hb = new TextEncoder().encode(json);
    const out = new Uint8Array(8 + hb.length + data.length + extra);
    new DataView(out.buffer).setBigUint64(0, BigInt(hb.length), true);
    out.set(hb, 8);
    out.set(data, 8 + hb.length);
    return out;
  };
  const clone = (): Record<string, { dtype: string; shape: unknown; data_offsets: unknown }> => JSON.parse(JSON.stringify(base.header)) as never;
  switch (pick(12)) {
    case 0: return { kind: 'truncate', bytes: b.slice(0, pick(b.length)), mustThrow: true };
    case 1: {
      const extra = 1 + pick(16);
      const out = new Uint8Array(b.length + extra);
      out.set(b);
      for (let k = b.length; k < out.length; k++) out[k] = pick(256);
      return { kind: 'append', bytes: out, mustThrow: true };
    }
    case 2: {
      const out = b.slice();
      const delta = (1 + pick(9)) * (r() < 0.5 ? -1 : 1);
      new DataView(out.buffer).setBigUint64(0, BigInt(base.headerLen + delta), true);
      return { kind: `header length ${delta > 0 ? '+' : ''}${delta}`, bytes: out, mustThrow: true };
    }
    case 3:
    case 4:
    case 5: {
      const out = b.slice();
      const at = pick(8 + base.headerLen);
      out[at]! ^= 1 << pick(8);
      return { kind: `bit flip at ${at}`, bytes: out, mustThrow: false };
    }
    case 6: {
      const out = b.slice();
      const at = 8 + pick(base.headerLen);
      out[at] = pick(256);
      return { kind: `byte write at ${at}`, bytes: out, mustThrow: false };
    }
    case 7: {
      const h = clone();
      const n = names[pick(names.length)]!;
      const offs = h[n]!.data_offsets as number[];
      const which = pick(2);
      offs[which] = offs[which]! + (r() < 0.5 ? -1 : 1) * (1 + pick(4));
      return { kind: `offset edit of ${n}`, bytes: withHeader(h), mustThrow: true };
    }
    case 8: {
      const h = clone();
      const n = names[pick(names.length)]!;
      const bad = [-1, 1.5, '8', null, 2 ** 53, 1e300, [1], {}][pick(8)];
      (h[n]!.data_offsets as unknown[])[pick(2)] = bad;
      return { kind: `offset ${JSON.stringify(bad)} in ${n}`, bytes: withHeader(h), mustThrow: true };
    }
    case 9: {
      const h = clone();
      const n = names[pick(names.length)]!;
      const shape = h[n]!.shape as number[];
      const choice = pick(4);
      if (choice === 0 || shape.length === 0) h[n]!.shape = [...shape, 2];
      else if (choice === 1) {
        const d = pick(shape.length);
        shape[d] = shape[d]! + 1 + pick(3);
      } else if (choice === 2) h[n]!.shape = 'x';
      else shape[pick(shape.length)] = -1;
      // Growing a dimension of a zero-size tensor keeps it zero-size: a valid, different file.
      const empty = (base.header[n] as { shape: number[] }).shape.includes(0);
      return { kind: `shape edit of ${n}`, bytes: withHeader(h), mustThrow: !empty || choice >= 2 };
    }
    case 10: {
      const h = clone();
      const full = names.filter((k) => !(base.header[k] as { shape: number[] }).shape.includes(0));
      const n = full[pick(full.length)]!;
      const size: Record<string, number> = { F64: 8, I64: 8, F32: 4, I32: 4, F16: 2, BF16: 2, I16: 2, I8: 1, U8: 1, BOOL: 1 };
      const was = h[n]!.dtype;
      const others = Object.keys(size).filter((d) => size[d] !== size[was]);
      h[n]!.dtype = [...others, 'C64', 'float32', '', 'constructor'][pick(others.length + 4)]!;
      return { kind: `dtype ${was} -> ${h[n]!.dtype} of ${n}`, bytes: withHeader(h), mustThrow: true };
    }
    default: {
      // Text-level edits JSON.stringify cannot express: a repeated name, a non-object header, deep nesting, junk after the object.
      const text = JSON.stringify(base.header);
      const n = names[pick(names.length)]!;
      const variants = [
        `{${JSON.stringify(n)}:${JSON.stringify(base.header[n])},${text.slice(1)}`,
        `[${text}]`,
        'null',
        `${text}}`,
        `${text.slice(0, -1)},"x":${'['.repeat(200)}${']'.repeat(200)}}`,
        `${text.slice(0, -1)},"__metadata__":{"a":1}}`,
        text.replace(/"data_offsets"/, '"data_offsets":[0,0],"data_offsets"'),
      ];
      const v = pick(variants.length);
      return { kind: `header text edit ${v}`, bytes: withHeader(variants[v]!), mustThrow: true };
    }
  }
}

test('safetensors fuzz: every mutation loads the original tensors bit for bit or throws a ModelError', () => {
  const r = rng(SEED);
  const seen = new Map<string, { loaded: number; rejected: number }>();
  let total = 0;
  const problems: string[] = [];
  for (const base of bases(r)) {
    const original = layout(readSafetensors(base.bytes), base.header);
    for (let k = 0; k < 300; k++) {
      const m = mutate(base, r);
      const key = m.kind.replace(/ (at|of) .*$/, '').replace(/[+-]?\d+$/, '');
      const stat = seen.get(key) ?? { loaded: 0, rejected: 0 };
      seen.set(key, stat);
      total++;
      const where = `${m.kind} (seed ${SEED}, case ${k})`;
      let f: SafetensorsFile;
      try {
        f = readSafetensors(m.bytes);
      } catch (e) {
        if (e instanceof ModelError) stat.rejected++;
        else problems.push(`${where}: threw ${(e as Error)?.name}: ${(e as Error)?.message}`);
        continue;
      }
      stat.loaded++;
      if (m.mustThrow) {
        problems.push(`${where}: must be rejected but loaded`);
        continue;
      }
      const got = layout(f, headerOf(m.bytes));
      const numel = (s: number[]): number => s.reduce((a, b) => a * b, 1);
      const same = got.length === original.length && got.every((t, i) => {
        const o = original[i]!;
        const shapeOk = (numel(o.shape) === 0 && numel(t.shape) === 0) || JSON.stringify(t.shape) === JSON.stringify(o.shape);
        return t.dtype === o.dtype && shapeOk && t.bits.length === o.bits.length && t.bits.every((x, j) => x === o.bits[j]);
      });
      if (!same) problems.push(`${where}: loaded different tensors`);
    }
  }
  assert.deepEqual(problems, [], `${problems.length} of ${total} mutations mishandled`);
  assert.equal(total, 600);
  // Every kind of mutation was drawn, and the reader rejected most of them.
  assert.ok(seen.size >= 10, `kinds drawn: ${[...seen.keys()].join(', ')}`);
  const rejected = [...seen.values()].reduce((n, s) => n + s.rejected, 0);
  assert.ok(rejected > total / 2, `${rejected} of ${total} rejected`);
});
