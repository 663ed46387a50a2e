#!/usr/bin/env node
// Assembles the CPU attention SIMD kernels (WAT below) with wabt and writes
// src/cpu/kernels-wasm.ts (base64). Run after editing: node scripts/build-wasm.mjs
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import wabtInit from 'wabt';

const hsum = (v) => `(f32.add (f32.add (f32x4.extract_lane 0 ${v}) (f32x4.extract_lane 1 ${v})) (f32.add (f32x4.extract_lane 2 ${v}) (f32x4.extract_lane 3 ${v})))`;
const splat = (x) => `(f32x4.splat (f32.const ${x}))`;
const madd = (acc, a, b) => `(local.set ${acc} (f32x4.add (local.get ${acc}) (f32x4.mul ${a} ${b})))`;

// Inline e^x on 4 lanes into local $dst from local $src (uses temps $ex $en $ef $ep).
const exp4 = (dst, src) => `
    (local.set $ex (f32x4.min (f32x4.max (local.get ${src}) ${splat(-87.3)}) ${splat(88.3)}))
    (local.set $en (f32x4.nearest (f32x4.mul (local.get $ex) ${splat(1.44269504088896341)})))
    (local.set $ef (f32x4.add (f32x4.sub (local.get $ex) (f32x4.mul (local.get $en) ${splat(0.693359375)})) (f32x4.mul (local.get $en) ${splat(2.12194440e-4)})))
    (local.set $ep (f32x4.add (f32x4.mul ${splat(1.9875691500e-4)} (local.get $ef)) ${splat(1.3981999507e-3)}))
    (local.set $ep (f32x4.add (f32x4.mul (local.get $ep) (local.get $ef)) ${splat(8.3334519073e-3)}))
    (local.set $ep (f32x4.add (f32x4.mul (local.get $ep) (local.get $ef)) ${splat(4.1665795894e-2)}))
    (local.set $ep (f32x4.add (f32x4.mul (local.get $ep) (local.get $ef)) ${splat(1.6666665459e-1)}))
    (local.set $ep (f32x4.add (f32x4.mul (local.get $ep) (local.get $ef)) ${splat(5.0000001201e-1)}))
    (local.set $ep (f32x4.add (f32x4.add (f32x4.mul (f32x4.mul (local.get $ep) (local.get $ef)) (local.get $ef)) (local.get $ef)) ${splat(1)}))
    (local.set ${dst} (v128.and
      (f32x4.mul (local.get $ep) (i32x4.shl (i32x4.add (i32x4.trunc_sat_f32x4_s (local.get $en)) (i32x4.splat (i32.const 127))) (i32.const 23)))
      (f32x4.gt (local.get ${src}) ${splat(-87)})))`;

// acc[i*D + d] += sum_j p(i, j) * v[j*D + d]  (D % 16 == 0), p(i, j) = p[i*keys + j] ("pv"), or
// p[j*pst + i] when transposed ("pvt": the transpose of a score tile with row stride pst, so a
// backward needs no transposed copy). Two rows at a time; a key whose weights are zero in both
// rows is skipped.
const pvWat = (name, t) => {
  const keyOff = t ? '(i32.mul (local.get $j) (local.get $psb))' : '(i32.shl (local.get $j) (i32.const 2))';
  return `(func (export "${name}") (param $p i32) (param $v i32) (param $acc i32) (param $rows i32) (param $keys i32) (param $D i32)${t ? ' (param $pst i32)' : ''}
    (local $i i32) (local $j i32) (local $d i32) (local $Db i32) (local $prow i32) (local $prow2 i32) (local $arow i32) (local $arow2 i32)
    (local $vp i32)${t ? ' (local $psb i32)' : ''} (local $pj f32) (local $pk f32) (local $two i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $b0 v128) (local $b1 v128) (local $b2 v128) (local $b3 v128) (local $ps v128) (local $pt v128) (local $vv v128)
    (local.set $Db (i32.shl (local.get $D) (i32.const 2)))${t ? '\n    (local.set $psb (i32.shl (local.get $pst) (i32.const 2)))' : ''}
    (block $done_i (loop $li
      (br_if $done_i (i32.ge_u (local.get $i) (local.get $rows)))
      (local.set $two (i32.lt_u (i32.add (local.get $i) (i32.const 1)) (local.get $rows)))
      (local.set $prow (i32.add (local.get $p) ${t ? '(i32.shl (local.get $i) (i32.const 2))' : '(i32.shl (i32.mul (local.get $i) (local.get $keys)) (i32.const 2))'}))
      (local.set $prow2 (i32.add (local.get $prow) ${t ? '(i32.const 4)' : '(i32.shl (local.get $keys) (i32.const 2))'}))
      (local.set $arow (i32.add (local.get $acc) (i32.mul (local.get $i) (local.get $Db))))
      (local.set $arow2 (i32.add (local.get $arow) (local.get $Db)))
      (local.set $d (i32.const 0))
      (block $done_d (loop $ld
        (br_if $done_d (i32.ge_u (local.get $d) (local.get $Db)))
        ${[0, 1, 2, 3].map((c) => `(local.set $a${c} (v128.load offset=${c * 16} (i32.add (local.get $arow) (local.get $d))))`).join('\n        ')}
        (if (local.get $two) (then
        ${[0, 1, 2, 3].map((c) => `(local.set $b${c} (v128.load offset=${c * 16} (i32.add (local.get $arow2) (local.get $d))))`).join('\n        ')}))
        (local.set $vp (i32.add (local.get $v) (local.get $d)))
        (local.set $j (i32.const 0))
        (block $done_j (loop $lj
          (br_if $done_j (i32.ge_u (local.get $j) (local.get $keys)))
          (local.set $pj (f32.load (i32.add (local.get $prow) ${keyOff})))
          (local.set $pk (select (f32.load (i32.add (local.get $prow2) ${keyOff})) (f32.const 0) (local.get $two)))
          (if (i32.or (f32.ne (local.get $pj) (f32.const 0)) (f32.ne (local.get $pk) (f32.const 0))) (then
            (local.set $ps (f32x4.splat (local.get $pj)))
            (local.set $pt (f32x4.splat (local.get $pk)))
            ${[0, 1, 2, 3].map((c) => `(local.set $vv (v128.load offset=${c * 16} (local.get $vp)))
            ${madd(`$a${c}`, '(local.get $ps)', '(local.get $vv)')} ${madd(`$b${c}`, '(local.get $pt)', '(local.get $vv)')}`).join('\n            ')}))
          (local.set $vp (i32.add (local.get $vp) (local.get $Db)))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br $lj)))
        ${[0, 1, 2, 3].map((c) => `(v128.store offset=${c * 16} (i32.add (local.get $arow) (local.get $d)) (local.get $a${c}))`).join('\n        ')}
        (if (local.get $two) (then
        ${[0, 1, 2, 3].map((c) => `(v128.store offset=${c * 16} (i32.add (local.get $arow2) (local.get $d)) (local.get $b${c}))`).join('\n        ')}))
        (local.set $d (i32.add (local.get $d) (i32.const 64)))
        (br $ld)))
      (local.set $i (i32.add (local.get $i) (i32.const 2)))
      (br $li))))`;
};

const wat = `(module
  (memory (export "memory") 16)

  ;; e^x on 4 lanes (Cephes expf polynomial); lanes with x <= -87 give exactly 0.
  (func $exp4 (param $x0 v128) (result v128)
    (local $x v128) (local $n v128) (local $f v128) (local $p v128)
    (local.set $x (f32x4.min (f32x4.max (local.get $x0) ${splat(-87.3)}) ${splat(88.3)}))
    (local.set $n (f32x4.nearest (f32x4.mul (local.get $x) ${splat(1.44269504088896341)})))
    (local.set $f (f32x4.add (f32x4.sub (local.get $x) (f32x4.mul (local.get $n) ${splat(0.693359375)})) (f32x4.mul (local.get $n) ${splat(2.12194440e-4)})))
    (local.set $p ${splat(1.9875691500e-4)})
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $f)) ${splat(1.3981999507e-3)}))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $f)) ${splat(8.3334519073e-3)}))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $f)) ${splat(4.1665795894e-2)}))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $f)) ${splat(1.6666665459e-1)}))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $f)) ${splat(5.0000001201e-1)}))
    (local.set $p (f32x4.add (f32x4.add (f32x4.mul (f32x4.mul (local.get $p) (local.get $f)) (local.get $f)) (local.get $f)) ${splat(1)}))
    (v128.and
      (f32x4.mul (local.get $p)
        (i32x4.shl (i32x4.add (i32x4.trunc_sat_f32x4_s (local.get $n)) (i32x4.splat (i32.const 127))) (i32.const 23)))
      (f32x4.gt (local.get $x0) ${splat(-87)})))

  ;; x[i] = x > 0 ? x + 1 : e^x in place over n floats (n % 4 == 0): the elu1 feature map of
  ;; linear attention (cpu/linear-stream.ts). NaN stays NaN (x + 1 is taken for NaN lanes); e^x inline.
  (func (export "elu1") (param $p i32) (param $n i32)
    (local $end i32) (local $x v128) (local $e v128)
    (local $ex v128) (local $en v128) (local $ef v128) (local $ep v128)
    (local.set $end (i32.add (local.get $p) (i32.shl (local.get $n) (i32.const 2))))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
      (local.set $x (v128.load (local.get $p)))
      ${exp4('$e', '$x')}
      (v128.store (local.get $p)
        (v128.bitselect (f32x4.add (local.get $x) ${splat(1)}) (local.get $e)
          (v128.or (f32x4.gt (local.get $x) ${splat(0)}) (f32x4.ne (local.get $x) (local.get $x)))))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (br $l))))

  ;; dst[c * rows + r] = src[r * stride + c] * sc[r] for r < rows, c < cols (floats; cols % 4 == 0):
  ;; the decayed keys of the linear-attention state update, transposed (cpu/linear-wasm.ts).
  (func (export "tscale") (param $src i32) (param $stride i32) (param $dst i32) (param $rows i32) (param $cols i32) (param $sc i32)
    (local $r i32) (local $c i32) (local $rb i32) (local $row i32) (local $out i32) (local $s v128) (local $x v128)
    (local.set $rb (i32.shl (local.get $rows) (i32.const 2)))
    (block $dr (loop $lr
      (br_if $dr (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $s (f32x4.splat (f32.load (i32.add (local.get $sc) (i32.shl (local.get $r) (i32.const 2))))))
      (local.set $row (i32.add (local.get $src) (i32.shl (i32.mul (local.get $r) (local.get $stride)) (i32.const 2))))
      (local.set $out (i32.add (local.get $dst) (i32.shl (local.get $r) (i32.const 2))))
      (local.set $c (i32.const 0))
      (block $dc (loop $lc
        (br_if $dc (i32.ge_u (local.get $c) (local.get $cols)))
        (local.set $x (f32x4.mul (v128.load (i32.add (local.get $row) (i32.shl (local.get $c) (i32.const 2)))) (local.get $s)))
        (f32.store (local.get $out) (f32x4.extract_lane 0 (local.get $x)))
        (f32.store (i32.add (local.get $out) (local.get $rb)) (f32x4.extract_lane 1 (local.get $x)))
        (f32.store (i32.add (local.get $out) (i32.shl (local.get $rb) (i32.const 1))) (f32x4.extract_lane 2 (local.get $x)))
        (f32.store (i32.add (local.get $out) (i32.mul (local.get $rb) (i32.const 3))) (f32x4.extract_lane 3 (local.get $x)))
        (local.set $out (i32.add (local.get $out) (i32.shl (local.get $rb) (i32.const 2))))
        (local.set $c (i32.add (local.get $c) (i32.const 4)))
        (br $lc)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $lr))))

  ;; dst[r][c] = src[r][c] * sc[r] for r < rows, c < cols (row strides in floats; cols % 4 == 0;
  ;; dst may be src): decayed query rows and the decayed state of linear attention.
  (func (export "rowscale") (param $src i32) (param $ss i32) (param $dst i32) (param $ds i32) (param $rows i32) (param $cols i32) (param $sc i32)
    (local $r i32) (local $c i32) (local $pa i32) (local $pd i32) (local $s v128)
    (block $dr (loop $lr
      (br_if $dr (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $s (f32x4.splat (f32.load (i32.add (local.get $sc) (i32.shl (local.get $r) (i32.const 2))))))
      (local.set $pa (i32.add (local.get $src) (i32.shl (i32.mul (local.get $r) (local.get $ss)) (i32.const 2))))
      (local.set $pd (i32.add (local.get $dst) (i32.shl (i32.mul (local.get $r) (local.get $ds)) (i32.const 2))))
      (local.set $c (i32.const 0))
      (block $dc (loop $lc
        (br_if $dc (i32.ge_u (local.get $c) (local.get $cols)))
        (v128.store (local.get $pd) (f32x4.mul (v128.load (local.get $pa)) (local.get $s)))
        (local.set $pa (i32.add (local.get $pa) (i32.const 16)))
        (local.set $pd (i32.add (local.get $pd) (i32.const 16)))
        (local.set $c (i32.add (local.get $c) (i32.const 4)))
        (br $lc)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $lr))))

  ;; The causal, decayed score tile of chunked linear attention, in place: A[i][j] (len x len) times
  ;; exp(L_i - L_j) for kept keys (j <= i; j >= i when $rev), 0 for the others. The factor is a
  ;; running product of step[j] (f64, the decay between key j and the next key away from i, each
  ;; <= 1); once it falls below 2^-100 the rest of the row is 0 (cpu/linear-wasm.ts says why).
  (func (export "decaymask") (param $a i32) (param $len i32) (param $step i32) (param $rev i32)
    (local $i i32) (local $j i32) (local $row i32) (local $f f64) (local $at i32)
    (block $di (loop $li
      (br_if $di (i32.ge_u (local.get $i) (local.get $len)))
      (local.set $row (i32.add (local.get $a) (i32.shl (i32.mul (local.get $i) (local.get $len)) (i32.const 2))))
      (local.set $f (f64.const 1))
      (local.set $j (local.get $i))
      (if (local.get $rev)
        (then
          (block $dz (loop $lz
            (br_if $dz (i32.ge_u (local.get $j) (local.get $len)))
            (local.set $at (i32.add (local.get $row) (i32.shl (local.get $j) (i32.const 2))))
            (if (f64.lt (local.get $f) (f64.const 0x1p-100))
              (then (f32.store (local.get $at) (f32.const 0)))
              (else (f32.store (local.get $at) (f32.mul (f32.load (local.get $at)) (f32.demote_f64 (local.get $f))))))
            (local.set $f (f64.mul (local.get $f) (f64.load (i32.add (local.get $step) (i32.shl (local.get $j) (i32.const 3))))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $lz)))
          (local.set $j (i32.const 0))
          (block $dm (loop $lm
            (br_if $dm (i32.ge_u (local.get $j) (local.get $i)))
            (f32.store (i32.add (local.get $row) (i32.shl (local.get $j) (i32.const 2))) (f32.const 0))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $lm))))
        (else
          (block $dz (loop $lz
            (br_if $dz (i32.lt_s (local.get $j) (i32.const 0)))
            (local.set $at (i32.add (local.get $row) (i32.shl (local.get $j) (i32.const 2))))
            (if (f64.lt (local.get $f) (f64.const 0x1p-100))
              (then (f32.store (local.get $at) (f32.const 0)))
              (else (f32.store (local.get $at) (f32.mul (f32.load (local.get $at)) (f32.demote_f64 (local.get $f))))))
            (local.set $f (f64.mul (local.get $f) (f64.load (i32.add (local.get $step) (i32.shl (local.get $j) (i32.const 3))))))
            (local.set $j (i32.sub (local.get $j) (i32.const 1)))
            (br $lz)))
          (local.set $j (i32.add (local.get $i) (i32.const 1)))
          (block $dm (loop $lm
            (br_if $dm (i32.ge_u (local.get $j) (local.get $len)))
            (f32.store (i32.add (local.get $row) (i32.shl (local.get $j) (i32.const 2))) (f32.const 0))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $lm)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $li))))

  ;; g[r][c] *= min(phi[r][c], 1) for r < rows, c < cols (row strides in floats; cols % 4 == 0):
  ;; elu1's derivative from its value (phi > 1 exactly where x > 0; NaN stays NaN), for the
  ;; linear-attention backward (cpu/linear-stream.ts).
  (func (export "elu1grad") (param $phi i32) (param $ps i32) (param $g i32) (param $gs i32) (param $rows i32) (param $cols i32)
    (local $r i32) (local $c i32) (local $pa i32) (local $ga i32)
    (block $dr (loop $lr
      (br_if $dr (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $pa (i32.add (local.get $phi) (i32.shl (i32.mul (local.get $r) (local.get $ps)) (i32.const 2))))
      (local.set $ga (i32.add (local.get $g) (i32.shl (i32.mul (local.get $r) (local.get $gs)) (i32.const 2))))
      (local.set $c (i32.const 0))
      (block $dc (loop $lc
        (br_if $dc (i32.ge_u (local.get $c) (local.get $cols)))
        (v128.store (local.get $ga) (f32x4.mul (v128.load (local.get $ga)) (f32x4.min (v128.load (local.get $pa)) ${splat(1)})))
        (local.set $pa (i32.add (local.get $pa) (i32.const 16)))
        (local.set $ga (i32.add (local.get $ga) (i32.const 16)))
        (local.set $c (i32.add (local.get $c) (i32.const 4)))
        (br $lc)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $lr))))

  ;; S[i*keys + j] = scale * (q_i . k_j); q, k rows of D floats (D % 4 == 0). Blocks of 2 rows x 4 keys.
  (func (export "qk") (param $q i32) (param $k i32) (param $s i32) (param $rows i32) (param $keys i32) (param $D i32) (param $scale f32)
    (local $i i32) (local $j i32) (local $d i32) (local $Db i32) (local $qi i32) (local $qi2 i32) (local $out i32) (local $out2 i32) (local $two i32)
    (local $k0 i32) (local $k1 i32) (local $k2 i32) (local $k3 i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $b0 v128) (local $b1 v128) (local $b2 v128) (local $b3 v128) (local $qv v128) (local $qw v128) (local $kv v128)
    (local.set $Db (i32.shl (local.get $D) (i32.const 2)))
    (block $done_i (loop $li
      (br_if $done_i (i32.ge_u (local.get $i) (local.get $rows)))
      (local.set $two (i32.lt_u (i32.add (local.get $i) (i32.const 1)) (local.get $rows)))
      (local.set $qi (i32.add (local.get $q) (i32.mul (local.get $i) (local.get $Db))))
      ;; second row aliases the first when rows is odd (its results are not stored)
      (local.set $qi2 (select (i32.add (local.get $qi) (local.get $Db)) (local.get $qi) (local.get $two)))
      (local.set $out (i32.add (local.get $s) (i32.shl (i32.mul (local.get $i) (local.get $keys)) (i32.const 2))))
      (local.set $out2 (i32.add (local.get $out) (i32.shl (local.get $keys) (i32.const 2))))
      (local.set $j (i32.const 0))
      (block $done_j4 (loop $lj4
        (br_if $done_j4 (i32.gt_u (i32.add (local.get $j) (i32.const 4)) (local.get $keys)))
        (local.set $k0 (i32.add (local.get $k) (i32.mul (local.get $j) (local.get $Db))))
        (local.set $k1 (i32.add (local.get $k0) (local.get $Db)))
        (local.set $k2 (i32.add (local.get $k1) (local.get $Db)))
        (local.set $k3 (i32.add (local.get $k2) (local.get $Db)))
        (local.set $a0 (v128.const i32x4 0 0 0 0)) (local.set $a1 (v128.const i32x4 0 0 0 0))
        (local.set $a2 (v128.const i32x4 0 0 0 0)) (local.set $a3 (v128.const i32x4 0 0 0 0))
        (local.set $b0 (v128.const i32x4 0 0 0 0)) (local.set $b1 (v128.const i32x4 0 0 0 0))
        (local.set $b2 (v128.const i32x4 0 0 0 0)) (local.set $b3 (v128.const i32x4 0 0 0 0))
        (local.set $d (i32.const 0))
        (block $done_d (loop $ld
          (br_if $done_d (i32.ge_u (local.get $d) (local.get $Db)))
          (local.set $qv (v128.load (i32.add (local.get $qi) (local.get $d))))
          (local.set $qw (v128.load (i32.add (local.get $qi2) (local.get $d))))
          (local.set $kv (v128.load (i32.add (local.get $k0) (local.get $d))))
          ${madd('$a0', '(local.get $qv)', '(local.get $kv)')} ${madd('$b0', '(local.get $qw)', '(local.get $kv)')}
          (local.set $kv (v128.load (i32.add (local.get $k1) (local.get $d))))
          ${madd('$a1', '(local.get $qv)', '(local.get $kv)')} ${madd('$b1', '(local.get $qw)', '(local.get $kv)')}
          (local.set $kv (v128.load (i32.add (local.get $k2) (local.get $d))))
          ${madd('$a2', '(local.get $qv)', '(local.get $kv)')} ${madd('$b2', '(local.get $qw)', '(local.get $kv)')}
          (local.set $kv (v128.load (i32.add (local.get $k3) (local.get $d))))
          ${madd('$a3', '(local.get $qv)', '(local.get $kv)')} ${madd('$b3', '(local.get $qw)', '(local.get $kv)')}
          (local.set $d (i32.add (local.get $d) (i32.const 16)))
          (br $ld)))
        ${[0, 1, 2, 3].map((c) => `(f32.store offset=${c * 4} (i32.add (local.get $out) (i32.shl (local.get $j) (i32.const 2))) (f32.mul (local.get $scale) ${hsum(`(local.get $a${c})`)}))`).join('\n        ')}
        (if (local.get $two) (then
        ${[0, 1, 2, 3].map((c) => `(f32.store offset=${c * 4} (i32.add (local.get $out2) (i32.shl (local.get $j) (i32.const 2))) (f32.mul (local.get $scale) ${hsum(`(local.get $b${c})`)}))`).join('\n        ')}))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $lj4)))
      (block $done_j1 (loop $lj1
        (br_if $done_j1 (i32.ge_u (local.get $j) (local.get $keys)))
        (local.set $k0 (i32.add (local.get $k) (i32.mul (local.get $j) (local.get $Db))))
        (local.set $a0 (v128.const i32x4 0 0 0 0))
        (local.set $b0 (v128.const i32x4 0 0 0 0))
        (local.set $d (i32.const 0))
        (block $done_d1 (loop $ld1
          (br_if $done_d1 (i32.ge_u (local.get $d) (local.get $Db)))
          (local.set $kv (v128.load (i32.add (local.get $k0) (local.get $d))))
          ${madd('$a0', '(v128.load (i32.add (local.get $qi) (local.get $d)))', '(local.get $kv)')}
          ${madd('$b0', '(v128.load (i32.add (local.get $qi2) (local.get $d)))', '(local.get $kv)')}
          (local.set $d (i32.add (local.get $d) (i32.const 16)))
          (br $ld1)))
        (f32.store (i32.add (local.get $out) (i32.shl (local.get $j) (i32.const 2))) (f32.mul (local.get $scale) ${hsum('(local.get $a0)')}))
        (if (local.get $two) (then
          (f32.store (i32.add (local.get $out2) (i32.shl (local.get $j) (i32.const 2))) (f32.mul (local.get $scale) ${hsum('(local.get $b0)')}))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $lj1)))
      (local.set $i (i32.add (local.get $i) (i32.const 2)))
      (br $li))))

  ;; acc[i*D + d] += sum_j p[i*keys + j] * v[j*D + d]  (D % 16 == 0). Two rows at a time; a key
  ;; whose weights are zero in both rows is skipped. pvt: the same over the transpose of p (row stride $pst).
  ${pvWat('pv', false)}
  ${pvWat('pvt', true)}

  ;; Online softmax over one score tile: S rows become weights exp(s - m_new); m, l and the
  ;; accumulator rows (D floats, D % 4 == 0) are rescaled when the running max grows.
  (func (export "softmax") (param $s i32) (param $rows i32) (param $keys i32) (param $m i32) (param $l i32) (param $acc i32) (param $D i32)
    (local $i i32) (local $j i32) (local $d i32) (local $Db i32) (local $srow i32) (local $arow i32)
    (local $tmax f32) (local $mold f32) (local $mnew f32) (local $corr f32) (local $tail f32)
    (local $sum v128) (local $e v128) (local $mv v128) (local $x v128) (local $vmax v128)
    (local $ex v128) (local $en v128) (local $ef v128) (local $ep v128)
    (local.set $Db (i32.shl (local.get $D) (i32.const 2)))
    (block $done_i (loop $li
      (br_if $done_i (i32.ge_u (local.get $i) (local.get $rows)))
      (local.set $srow (i32.add (local.get $s) (i32.shl (i32.mul (local.get $i) (local.get $keys)) (i32.const 2))))
      (local.set $arow (i32.add (local.get $acc) (i32.mul (local.get $i) (local.get $Db))))
      (local.set $vmax ${splat('-inf')})
      (local.set $j (i32.const 0))
      (block $dm4 (loop $lm4
        (br_if $dm4 (i32.gt_u (i32.add (local.get $j) (i32.const 4)) (local.get $keys)))
        (local.set $vmax (f32x4.max (local.get $vmax) (v128.load (i32.add (local.get $srow) (i32.shl (local.get $j) (i32.const 2))))))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $lm4)))
      (local.set $tmax (f32.max (f32.max (f32x4.extract_lane 0 (local.get $vmax)) (f32x4.extract_lane 1 (local.get $vmax))) (f32.max (f32x4.extract_lane 2 (local.get $vmax)) (f32x4.extract_lane 3 (local.get $vmax)))))
      (block $dm (loop $lm
        (br_if $dm (i32.ge_u (local.get $j) (local.get $keys)))
        (local.set $tmax (f32.max (local.get $tmax) (f32.load (i32.add (local.get $srow) (i32.shl (local.get $j) (i32.const 2))))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $lm)))
      (if (f32.eq (local.get $tmax) (f32.const -inf))
        (then
          (local.set $j (i32.const 0))
          (block $dz (loop $lz
            (br_if $dz (i32.ge_u (local.get $j) (local.get $keys)))
            (f32.store (i32.add (local.get $srow) (i32.shl (local.get $j) (i32.const 2))) (f32.const 0))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $lz))))
        (else
          (local.set $mold (f32.load (i32.add (local.get $m) (i32.shl (local.get $i) (i32.const 2)))))
          (local.set $mnew (f32.max (local.get $mold) (local.get $tmax)))
          (if (f32.gt (local.get $mnew) (local.get $mold)) (then
            (local.set $corr (f32.const 0))
            (if (f32.ne (local.get $mold) (f32.const -inf)) (then
              (local.set $corr (f32x4.extract_lane 0 (call $exp4 (f32x4.splat (f32.sub (local.get $mold) (local.get $mnew))))))))
            (f32.store (i32.add (local.get $l) (i32.shl (local.get $i) (i32.const 2)))
              (f32.mul (local.get $corr) (f32.load (i32.add (local.get $l) (i32.shl (local.get $i) (i32.const 2))))))
            (local.set $e (f32x4.splat (local.get $corr)))
            (local.set $d (i32.const 0))
            (block $dc (loop $lc
              (br_if $dc (i32.ge_u (local.get $d) (local.get $Db)))
              (v128.store (i32.add (local.get $arow) (local.get $d)) (f32x4.mul (local.get $e) (v128.load (i32.add (local.get $arow) (local.get $d)))))
              (local.set $d (i32.add (local.get $d) (i32.const 16)))
              (br $lc)))
            (f32.store (i32.add (local.get $m) (i32.shl (local.get $i) (i32.const 2))) (local.get $mnew))))
          (local.set $mv (f32x4.splat (local.get $mnew)))
          (local.set $sum (v128.const i32x4 0 0 0 0))
          (local.set $j (i32.const 0))
          (block $de (loop $le
            (br_if $de (i32.gt_u (i32.add (local.get $j) (i32.const 4)) (local.get $keys)))
            (local.set $x (f32x4.sub (v128.load (i32.add (local.get $srow) (i32.shl (local.get $j) (i32.const 2)))) (local.get $mv)))
            ${exp4('$e', '$x')}
            (v128.store (i32.add (local.get $srow) (i32.shl (local.get $j) (i32.const 2))) (local.get $e))
            (local.set $sum (f32x4.add (local.get $sum) (local.get $e)))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (br $le)))
          (local.set $tail (f32.const 0))
          (block $dt (loop $lt
            (br_if $dt (i32.ge_u (local.get $j) (local.get $keys)))
            (local.set $corr (f32x4.extract_lane 0 (call $exp4 (f32x4.splat (f32.sub (f32.load (i32.add (local.get $srow) (i32.shl (local.get $j) (i32.const 2)))) (local.get $mnew))))))
            (f32.store (i32.add (local.get $srow) (i32.shl (local.get $j) (i32.const 2))) (local.get $corr))
            (local.set $tail (f32.add (local.get $tail) (local.get $corr)))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $lt)))
          (f32.store (i32.add (local.get $l) (i32.shl (local.get $i) (i32.const 2)))
            (f32.add (f32.load (i32.add (local.get $l) (i32.shl (local.get $i) (i32.const 2))))
              (f32.add (local.get $tail) ${hsum('(local.get $sum)')})))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $li))))
)`;

const wabt = await wabtInit();
const mod = wabt.parseWat('kernels.wat', wat, { simd: true });
mod.validate();
const bin = mod.toBinary({}).buffer;
const out = fileURLToPath(new URL('../src/cpu/kernels-wasm.ts', import.meta.url));
writeFileSync(out, `// Generated by scripts/build-wasm.mjs from the WAT in that script. Do not edit.\nexport const KERNELS_WASM_BASE64 =\n  '${Buffer.from(bin).toString('base64')}';\n`);
console.log(`wrote ${out} (${bin.length} bytes)`);
