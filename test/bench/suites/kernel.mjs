// Bench suite for the kernel: execute round trips and cold start of the attnlab Node kernel and of
// tslab (the `tslab` npm package), driven by the same Jupyter client (Debian's jupyter_client,
// execute_interactive) in the same run, with a null kernel (test/bench/lib/null-kernel.mjs) giving the
// client's own floor. Ratios are tslab / attnlab (higher is better for attnlab), raw and above the floor.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { installKernelspec } from '@attnlab/kernel-node';

const root = fileURLToPath(new URL('../../../', import.meta.url));

/** tslab lives apart from the workspace (its TypeScript 5.0 `tsc` would shadow ours); installed on first use. */
async function ensureTslab() {
  const dir = join(root, 'test', 'bench', 'tslab');
  const bin = join(dir, 'node_modules', '.bin', 'tslab');
  if (!existsSync(bin)) {
    console.log('bench kernel: installing tslab 1.0.22 into test/bench/tslab (first run)');
    const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: dir, stdio: 'inherit' });
    if (r.status !== 0 || !existsSync(bin)) throw new Error('could not install tslab into test/bench/tslab (npm ci failed: is the npm registry reachable?)');
  }
  return bin;
}

export async function run() {
  const prefix = mkdtempSync(join(tmpdir(), 'attnlab-kbench-'));
  try {
    installKernelspec({ prefix });
    // tslab's own installer needs IPython; its kernelspec is this one file.
    const tslabDir = join(prefix, 'share', 'jupyter', 'kernels', 'tslab');
    mkdirSync(tslabDir, { recursive: true });
    const tslab = await ensureTslab();
    writeFileSync(join(tslabDir, 'kernel.json'), JSON.stringify({ argv: [tslab, 'kernel', '--config-path', '{connection_file}'], display_name: 'TypeScript (tslab)', language: 'typescript' }));
    const nullDir = join(prefix, 'share', 'jupyter', 'kernels', 'null');
    mkdirSync(nullDir, { recursive: true });
    writeFileSync(join(nullDir, 'kernel.json'), JSON.stringify({ argv: [process.execPath, join(root, 'test', 'bench', 'lib', 'null-kernel.mjs'), '{connection_file}'], display_name: 'null (client floor)', language: 'none' }));
    const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
    const r = spawnSync(python, [join(root, 'test', 'bench', 'lib', 'kernel_client.py'), 'attnlab', 'tslab', 'null'], {
      env: { ...process.env, JUPYTER_PATH: join(prefix, 'share', 'jupyter'), ATTNLAB_DEVICE: 'cpu' },
      encoding: 'utf8',
      maxBuffer: 1 << 24,
    });
    if (r.status !== 0) throw new Error(`kernel_client.py failed (${r.status}): ${r.stderr}`);
    const [ours, theirs, floor] = JSON.parse(r.stdout.trim().split('\n').at(-1));
    const above = (x, key) => x[key] - floor[key];
    const adapter = 'cpu (kernel round trips; no GPU work)';
    return [
      { adapter, ...ours },
      { adapter, ...theirs },
      { adapter, ...floor, kernel: 'null (client floor: the same messages, no work)' },
      {
        adapter,
        kernel: 'ratio tslab/attnlab',
        onePlusOneMedian: +(theirs.onePlusOneMedianMs / ours.onePlusOneMedianMs).toFixed(2),
        onePlusOneP95: +(theirs.onePlusOneP95Ms / ours.onePlusOneP95Ms).toFixed(2),
        typedFunctionMedian: +(theirs.typedFunctionMedianMs / ours.typedFunctionMedianMs).toFixed(2),
        coldStart: +(theirs.coldStartS / ours.coldStartS).toFixed(2),
        targets: '1+1 >= 3x, typed function >= 10x, cold start > 1x',
      },
      {
        adapter,
        kernel: 'ratio tslab/attnlab, time above the client floor',
        onePlusOneMedian: +(above(theirs, 'onePlusOneMedianMs') / above(ours, 'onePlusOneMedianMs')).toFixed(2),
        typedFunctionMedian: +(above(theirs, 'typedFunctionMedianMs') / above(ours, 'typedFunctionMedianMs')).toFixed(2),
      },
    ];
  } finally {
    rmSync(prefix, { recursive: true, force: true });
  }
}
