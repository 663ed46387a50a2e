import assert from 'node:assert/strict';
import { test } from 'node:test';
import { patternColumn, patternRow, weightColor } from '../src/explorer-math.js';

test('rows and columns of a head in [L, H, N, N] patterns', () => {
  const L = 2, H = 3, N = 4;
  const p = Float32Array.from({ length: L * H * N * N }, (_, i) => i);
  const row = patternRow(p, [L, H, N, N], 1, 2, 3);
  assert.deepEqual([...row], [1 * H * N * N + 2 * N * N + 3 * N + 0, 92, 93, 94].map((v, i) => (i === 0 ? v : v)).map((_, k) => ((1 * H + 2) * N + 3) * N + k));
  const col = patternColumn(p, [L, H, N, N], 0, 1, 2);
  assert.deepEqual([...col], [0, 1, 2, 3].map((q) => ((0 * H + 1) * N + q) * N + 2));
  assert.throws(() => patternRow(p, [L, H, N, N], 2, 0, 0), /no row 0 of layer 2 head 0/);
  assert.match(weightColor(2), /0\.930\)$/);
  assert.match(weightColor(-1), /0\.080\)$/);
});
