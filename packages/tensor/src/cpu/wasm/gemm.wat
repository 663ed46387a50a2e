;; Strided SIMD GEMM micro-kernel for @attnlab/tensor's CPU device (and GELU forward/backward on 4 lanes, below).
(module
  (memory (export "mem") 1)
  ;; C[4 x 8 tile] = sum over p of A[4 rows][p] (splatted) * B[p][8 columns] for every tile, A and B
  ;; read in place through strides (bytes), so neither needs packing:
  ;;   A row block ib (4 rows) starts at ap + ib*abs, its row r at + r*ars and step p adds acs (row-major A:
  ;;   abs = 16k, ars = 4k, acs = 4; packed 4-row blocks: abs = 16k, ars = 4, acs = 16);
  ;;   B panel jb (8 columns) starts at bp + jb*bps and step p adds bld (row-major B: bps = 32, bld = 4n;
  ;;   packed panels: bps = 32k, bld = 32);
  ;;   C is row-major with ldc floats per row; whole tiles are written (acc = 0) or added to (acc = 1), so C has mb*4 rows of nb*8 columns
  ;;   (or of ldc >= nb*8). Rows past m and columns past n hold junk the caller does not read.
  (func (export "gemm")
    (param $ap i32) (param $abs i32) (param $ars i32) (param $acs i32) (param $bp i32) (param $bps i32) (param $bld i32)
    (param $cp i32) (param $mb i32) (param $nb i32) (param $k i32) (param $ldc i32) (param $acc i32)
    (local $ib i32) (local $jb i32) (local $end i32)
    (local $a0 i32) (local $a1 i32) (local $a2 i32) (local $a3 i32) (local $b i32) (local $c i32) (local $rowBytes i32)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128)
    (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
    (local $b0 v128) (local $b1 v128) (local $av v128)
    (local.set $rowBytes (i32.shl (local.get $ldc) (i32.const 2)))
    (local.set $jb (i32.const 0))
    (block $done_j
      (loop $loop_j
        (br_if $done_j (i32.ge_u (local.get $jb) (local.get $nb)))
        (local.set $ib (i32.const 0))
        (block $done_i
          (loop $loop_i
            (br_if $done_i (i32.ge_u (local.get $ib) (local.get $mb)))
            ;; c = cp + (ib*4) * rowBytes + jb*32
            (local.set $c (i32.add (local.get $cp)
              (i32.add (i32.mul (i32.shl (local.get $ib) (i32.const 2)) (local.get $rowBytes))
                       (i32.shl (local.get $jb) (i32.const 5)))))
            (if (local.get $acc)
              (then
                ;; Continue the sums already in C (a later chunk of k): the same order as one pass.
                (local.set $c00 (v128.load offset=0 (local.get $c)))
                (local.set $c01 (v128.load offset=16 (local.get $c)))
                (local.set $c10 (v128.load offset=0 (i32.add (local.get $c) (local.get $rowBytes))))
                (local.set $c11 (v128.load offset=16 (i32.add (local.get $c) (local.get $rowBytes))))
                (local.set $c20 (v128.load offset=0 (i32.add (local.get $c) (i32.shl (local.get $rowBytes) (i32.const 1)))))
                (local.set $c21 (v128.load offset=16 (i32.add (local.get $c) (i32.shl (local.get $rowBytes) (i32.const 1)))))
                (local.set $c30 (v128.load offset=0 (i32.add (local.get $c) (i32.mul (local.get $rowBytes) (i32.const 3)))))
                (local.set $c31 (v128.load offset=16 (i32.add (local.get $c) (i32.mul (local.get $rowBytes) (i32.const 3))))))
              (else
                (local.set $c00 (v128.const i32x4 0 0 0 0)) (local.set $c01 (v128.const i32x4 0 0 0 0))
                (local.set $c10 (v128.const i32x4 0 0 0 0)) (local.set $c11 (v128.const i32x4 0 0 0 0))
                (local.set $c20 (v128.const i32x4 0 0 0 0)) (local.set $c21 (v128.const i32x4 0 0 0 0))
                (local.set $c30 (v128.const i32x4 0 0 0 0)) (local.set $c31 (v128.const i32x4 0 0 0 0))))
            (local.set $a0 (i32.add (local.get $ap) (i32.mul (local.get $ib) (local.get $abs))))
            (local.set $a1 (i32.add (local.get $a0) (local.get $ars)))
            (local.set $a2 (i32.add (local.get $a1) (local.get $ars)))
            (local.set $a3 (i32.add (local.get $a2) (local.get $ars)))
            (local.set $end (i32.add (local.get $a0) (i32.mul (local.get $k) (local.get $acs))))
            (local.set $b (i32.add (local.get $bp) (i32.mul (local.get $jb) (local.get $bps))))
            (block $done_p
              (loop $loop_p
                (br_if $done_p (i32.eq (local.get $a0) (local.get $end)))
                (local.set $b0 (v128.load offset=0 (local.get $b)))
                (local.set $b1 (v128.load offset=16 (local.get $b)))
                (local.set $av (v128.load32_splat (local.get $a0)))
                (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $av) (local.get $b0))))
                (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $av) (local.get $b1))))
                (local.set $av (v128.load32_splat (local.get $a1)))
                (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $av) (local.get $b0))))
                (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $av) (local.get $b1))))
                (local.set $av (v128.load32_splat (local.get $a2)))
                (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $av) (local.get $b0))))
                (local.set $c21 (f32x4.add (local.get $c21) (f32x4.mul (local.get $av) (local.get $b1))))
                (local.set $av (v128.load32_splat (local.get $a3)))
                (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $av) (local.get $b0))))
                (local.set $c31 (f32x4.add (local.get $c31) (f32x4.mul (local.get $av) (local.get $b1))))
                (local.set $a0 (i32.add (local.get $a0) (local.get $acs)))
                (local.set $a1 (i32.add (local.get $a1) (local.get $acs)))
                (local.set $a2 (i32.add (local.get $a2) (local.get $acs)))
                (local.set $a3 (i32.add (local.get $a3) (local.get $acs)))
                (local.set $b (i32.add (local.get $b) (local.get $bld)))
                (br $loop_p)))
            (v128.store offset=0 (local.get $c) (local.get $c00))
            (v128.store offset=16 (local.get $c) (local.get $c01))
            (local.set $c (i32.add (local.get $c) (local.get $rowBytes)))
            (v128.store offset=0 (local.get $c) (local.get $c10))
            (v128.store offset=16 (local.get $c) (local.get $c11))
            (local.set $c (i32.add (local.get $c) (local.get $rowBytes)))
            (v128.store offset=0 (local.get $c) (local.get $c20))
            (v128.store offset=16 (local.get $c) (local.get $c21))
            (local.set $c (i32.add (local.get $c) (local.get $rowBytes)))
            (v128.store offset=0 (local.get $c) (local.get $c30))
            (v128.store offset=16 (local.get $c) (local.get $c31))
            (local.set $ib (i32.add (local.get $ib) (i32.const 1)))
            (br $loop_i)))
        (local.set $jb (i32.add (local.get $jb) (i32.const 1)))
        (br $loop_j))))
;; C[r][j] += bias[j] for rows r < $rows of C (ldc floats each, a multiple of 8) and j < $ldc: the bias
  ;; of matmulBias, added after the full accumulation so each element is fl32(sum + bias[j]) as in
  ;; matmul then add. $bias holds ldc floats (zeros past n).
  (func (export "addBias") (param $c i32) (param $bias i32) (param $rows i32) (param $ldc i32)
    (local $rowBytes i32) (local $end i32) (local $j i32)
    (local.set $rowBytes (i32.shl (local.get $ldc) (i32.const 2)))
    (local.set $end (i32.add (local.get $c) (i32.mul (local.get $rows) (local.get $rowBytes))))
    (block $done_r
      (loop $loop_r
        (br_if $done_r (i32.ge_u (local.get $c) (local.get $end)))
        (local.set $j (i32.const 0))
        (block $done_j
          (loop $loop_j
            (br_if $done_j (i32.ge_u (local.get $j) (local.get $rowBytes)))
            (v128.store offset=0 (i32.add (local.get $c) (local.get $j))
              (f32x4.add (v128.load offset=0 (i32.add (local.get $c) (local.get $j))) (v128.load offset=0 (i32.add (local.get $bias) (local.get $j)))))
            (v128.store offset=16 (i32.add (local.get $c) (local.get $j))
              (f32x4.add (v128.load offset=16 (i32.add (local.get $c) (local.get $j))) (v128.load offset=16 (i32.add (local.get $bias) (local.get $j)))))
            (local.set $j (i32.add (local.get $j) (i32.const 32)))
            (br $loop_j)))
        (local.set $c (i32.add (local.get $c) (local.get $rowBytes)))
        (br $loop_r))))

  ;; dst[o][j] = fl32(sum over i of src[o][i][j]) for [outer, len, inner] float32 at $src (inner % 4 == 0),
  ;; float64 sums over i in order (the CPU reduce's order and precision, so the same float32 result);
  ;; $acc holds inner float64 accumulators.
  (func (export "colSum") (param $src i32) (param $dst i32) (param $acc i32) (param $outer i32) (param $len i32) (param $inner i32)
    (local $o i32) (local $i i32) (local $j i32) (local $v v128) (local $a i32) (local $innerBytes i32)
    (local.set $innerBytes (i32.shl (local.get $inner) (i32.const 2)))
    (local.set $o (i32.const 0))
    (block $done_o
      (loop $loop_o
        (br_if $done_o (i32.ge_u (local.get $o) (local.get $outer)))
        (local.set $a (local.get $acc))
        (local.set $j (i32.const 0))
        (block $done_z
          (loop $loop_z
            (br_if $done_z (i32.ge_u (local.get $j) (local.get $innerBytes)))
            (v128.store offset=0 (local.get $a) (v128.const i32x4 0 0 0 0))
            (v128.store offset=16 (local.get $a) (v128.const i32x4 0 0 0 0))
            (local.set $a (i32.add (local.get $a) (i32.const 32)))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $loop_z)))
        (local.set $i (i32.const 0))
        (block $done_i
          (loop $loop_i
            (br_if $done_i (i32.ge_u (local.get $i) (local.get $len)))
            (local.set $j (i32.const 0))
            (local.set $a (local.get $acc))
            (block $done_j
              (loop $loop_j
                (br_if $done_j (i32.ge_u (local.get $j) (local.get $innerBytes)))
                (local.set $v (v128.load (i32.add (local.get $src) (local.get $j))))
                (v128.store offset=0 (local.get $a) (f64x2.add (v128.load offset=0 (local.get $a)) (f64x2.promote_low_f32x4 (local.get $v))))
                (v128.store offset=16 (local.get $a) (f64x2.add (v128.load offset=16 (local.get $a))
                  (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v)))))
                (local.set $a (i32.add (local.get $a) (i32.const 32)))
                (local.set $j (i32.add (local.get $j) (i32.const 16)))
                (br $loop_j)))
            (local.set $src (i32.add (local.get $src) (local.get $innerBytes)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $loop_i)))
        ;; Round the float64 sums to float32, four at a time.
        (local.set $j (i32.const 0))
        (local.set $a (local.get $acc))
        (block $done_w
          (loop $loop_w
            (br_if $done_w (i32.ge_u (local.get $j) (local.get $innerBytes)))
            (v128.store (local.get $dst)
              (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
                (f32x4.demote_f64x2_zero (v128.load offset=0 (local.get $a)))
                (f32x4.demote_f64x2_zero (v128.load offset=16 (local.get $a)))))
            (local.set $a (i32.add (local.get $a) (i32.const 32)))
            (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $loop_w)))
        (local.set $o (i32.add (local.get $o) (i32.const 1)))
        (br $loop_o))))

  ;; Aᵀ ([k, m] row-major at $src) into 4-row blocks at $dst: block ib, step p holds A[ib*4 .. ib*4+4][p] =
  ;; src[p*m + ib*4 ..], one 16-byte load and store each; m is a multiple of 4 (the caller pads the rest).
  (func (export "packAt") (param $src i32) (param $dst i32) (param $m i32) (param $k i32)
    (local $ib i32) (local $mb i32) (local $p i32) (local $s i32) (local $rowBytes i32)
    (local.set $mb (i32.shr_u (local.get $m) (i32.const 2)))
    (local.set $rowBytes (i32.shl (local.get $m) (i32.const 2)))
    (local.set $ib (i32.const 0))
    (block $done_i
      (loop $loop_i
        (br_if $done_i (i32.ge_u (local.get $ib) (local.get $mb)))
        (local.set $s (i32.add (local.get $src) (i32.shl (local.get $ib) (i32.const 4))))
        (local.set $p (local.get $k))
        (block $done_p
          (loop $loop_p
            (br_if $done_p (i32.eqz (local.get $p)))
            (v128.store (local.get $dst) (v128.load (local.get $s)))
            (local.set $s (i32.add (local.get $s) (local.get $rowBytes)))
            (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
            (local.set $p (i32.sub (local.get $p) (i32.const 1)))
            (br $loop_p)))
        (local.set $ib (i32.add (local.get $ib) (i32.const 1)))
        (br $loop_i))))

  ;; B ([k, n] row-major at $src, n a multiple of 8: the caller pads) into 8-column panels at $dst:
  ;; panel jb, step p holds src[p*n + jb*8 ..], two 16-byte loads and stores each.
  (func (export "packB") (param $src i32) (param $dst i32) (param $n i32) (param $k i32)
    (local $jb i32) (local $nb i32) (local $p i32) (local $s i32) (local $rowBytes i32)
    (local.set $nb (i32.shr_u (local.get $n) (i32.const 3)))
    (local.set $rowBytes (i32.shl (local.get $n) (i32.const 2)))
    (local.set $jb (i32.const 0))
    (block $done_j
      (loop $loop_j
        (br_if $done_j (i32.ge_u (local.get $jb) (local.get $nb)))
        (local.set $s (i32.add (local.get $src) (i32.shl (local.get $jb) (i32.const 5))))
        (local.set $p (local.get $k))
        (block $done_p
          (loop $loop_p
            (br_if $done_p (i32.eqz (local.get $p)))
            (v128.store offset=0 (local.get $dst) (v128.load offset=0 (local.get $s)))
            (v128.store offset=16 (local.get $dst) (v128.load offset=16 (local.get $s)))
            (local.set $s (i32.add (local.get $s) (local.get $rowBytes)))
            (local.set $dst (i32.add (local.get $dst) (i32.const 32)))
            (local.set $p (i32.sub (local.get $p) (i32.const 1)))
            (br $loop_p)))
        (local.set $jb (i32.add (local.get $jb) (i32.const 1)))
        (br $loop_j))))

  ;; e^x on 4 lanes, x clamped to [-87, 88]: 2^k * p(r) with r = x - k ln2 (|r| <= ln2/2) and p the
  ;; degree-6 Taylor polynomial (relative error ~2e-7). NaN stays NaN.
  (func $exp4 (param $x v128) (result v128)
    (local $k v128) (local $r v128) (local $p v128)
    (local.set $x (f32x4.min (f32x4.max (local.get $x) (f32x4.splat (f32.const -87))) (f32x4.splat (f32.const 88))))
    (local.set $k (f32x4.nearest (f32x4.mul (local.get $x) (f32x4.splat (f32.const 1.44269504)))))
    (local.set $r (f32x4.sub (f32x4.sub (local.get $x) (f32x4.mul (local.get $k) (f32x4.splat (f32.const 0.693359375))))
                             (f32x4.mul (local.get $k) (f32x4.splat (f32.const -0.00021219444)))))
    (local.set $p (f32x4.splat (f32.const 0.00138888889)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (f32x4.splat (f32.const 0.00833333333))))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (f32x4.splat (f32.const 0.0416666667))))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (f32x4.splat (f32.const 0.166666667))))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (f32x4.splat (f32.const 0.5))))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (f32x4.splat (f32.const 1))))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (f32x4.splat (f32.const 1))))
    (f32x4.mul (local.get $p)
      (i32x4.shl (i32x4.add (i32x4.trunc_sat_f32x4_s (local.get $k)) (i32x4.splat (i32.const 127))) (i32.const 23))))

  ;; 2u = 2 sqrt(2/pi) (x + 0.044715 x^3) on 4 lanes.
  (func $twoU (param $v v128) (result v128)
    (f32x4.mul (f32x4.splat (f32.const 1.5957691216))
      (f32x4.add (local.get $v) (f32x4.mul (f32x4.splat (f32.const 0.044715)) (f32x4.mul (local.get $v) (f32x4.mul (local.get $v) (local.get $v)))))))

  ;; y[i] = gelu(x[i]) for n floats (n % 4 == 0; byte offsets), tanh form written as x * sigmoid(2u)
  ;; so that 1 + tanh does not cancel in float32; gelu(-Infinity) is NaN as in the formula.
  (func (export "gelu") (param $x i32) (param $y i32) (param $n i32)
    (local $end i32) (local $v v128) (local $s v128)
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
        (local.set $v (v128.load (local.get $x)))
        (local.set $s (f32x4.div (f32x4.splat (f32.const 1)) (f32x4.add (f32x4.splat (f32.const 1)) (call $exp4 (f32x4.neg (call $twoU (local.get $v)))))))
        (v128.store (local.get $y)
          (v128.bitselect (f32x4.splat (f32.const nan)) (f32x4.mul (local.get $v) (local.get $s)) (f32x4.eq (local.get $v) (f32x4.splat (f32.const -inf)))))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (local.set $y (i32.add (local.get $y) (i32.const 16)))
        (br $l))))

  ;; out[i] = g[i] * gelu'(x[i]) for n floats (n % 4 == 0): s + 2 s^2 e x C (1 + 3*0.044715 x^2) with
  ;; s = sigmoid(2u), e = exp(-2u); where |2u| > 80 the derivative is s (0 or 1); NaN at +-Infinity.
  (func (export "geluGrad") (param $x i32) (param $g i32) (param $out i32) (param $n i32)
    (local $end i32) (local $v v128) (local $u2 v128) (local $e v128) (local $s v128) (local $d v128)
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
        (local.set $v (v128.load (local.get $x)))
        (local.set $u2 (call $twoU (local.get $v)))
        (local.set $e (call $exp4 (f32x4.neg (local.get $u2))))
        (local.set $s (f32x4.div (f32x4.splat (f32.const 1)) (f32x4.add (f32x4.splat (f32.const 1)) (local.get $e))))
        (local.set $d (f32x4.add (local.get $s)
          (f32x4.mul (f32x4.mul (f32x4.mul (local.get $s) (local.get $s)) (local.get $e))
            (f32x4.mul (f32x4.mul (local.get $v) (f32x4.splat (f32.const 1.5957691216)))
              (f32x4.add (f32x4.splat (f32.const 1)) (f32x4.mul (f32x4.splat (f32.const 0.134145)) (f32x4.mul (local.get $v) (local.get $v))))))))
        (local.set $d (v128.bitselect (local.get $s) (local.get $d) (f32x4.gt (f32x4.abs (local.get $u2)) (f32x4.splat (f32.const 80)))))
        (local.set $d (v128.bitselect (f32x4.splat (f32.const nan)) (local.get $d) (f32x4.eq (f32x4.abs (local.get $v)) (f32x4.splat (f32.const inf)))))
        (v128.store (local.get $out) (f32x4.mul (v128.load (local.get $g)) (local.get $d)))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (local.set $g (i32.add (local.get $g) (i32.const 16)))
        (local.set $out (i32.add (local.get $out) (i32.const 16)))
        (br $l)))))
