// Plugins in the Node host, for real: the Node kernel (kernels/node, started as Jupyter starts it,
// spoken to over ZeroMQ) activates a package's attnlabPlugin when a cell imports it. The real
// @attnlab/attention plugin, a plugin package written to a temp folder and imported by path (it
// adds an attention variant and replaces a KV policy in @attnlab/attention's registries), and one
// whose activate throws.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const require = createRequire(join(repo, 'kernels/node/package.json'));
const zmq = require('zeromq');
const { Signer } = await import(join(repo, 'kernels/node/dist/src/index.js'));

const tmp = mkdtempSync(join(tmpdir(), 'attnlab-plugins-node-'));
const key = 'k-' + Math.random().toString(36).slice(2);
const signer = new Signer(key);
let proc;
let shell;
let iopub;
let stderr = '';
const iopubMsgs = [];

const freePort = () => new Promise((ok) => { const s = createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => ok(p)); }); });

/** Runs a cell; resolves with its reply and the text of its outputs (streams, results, errors). */
async function run(code) {
  const frames = signer.serialize('execute_request', { code, silent: false, store_history: true, allow_stdin: false }, null, 'plugins-test');
  const id = JSON.parse(frames[frames.findIndex((f) => f.toString() === '<IDS|MSG>') + 2].toString()).msg_id;
  await shell.send(frames);
  const [reply] = await Promise.race([shell.receive().then((f) => [f]), new Promise((_, rej) => setTimeout(() => rej(new Error(`no reply to: ${code}`)), 120_000).unref())]);
  // Outputs are published before the reply; wait for the idle status that closes the request.
  for (let i = 0; i < 200 && !iopubMsgs.some((m) => m.parent_header.msg_id === id && m.header.msg_type === 'status' && m.content.execution_state === 'idle'); i++) await new Promise((r) => setTimeout(r, 25));
  const out = iopubMsgs.filter((m) => m.parent_header.msg_id === id);
  const text = (type, f) => out.filter((m) => m.header.msg_type === type).map(f).join('');
  return {
    reply: signer.parse(reply).content,
    stdout: text('stream', (m) => (m.content.name === 'stdout' ? m.content.text : '')),
    stderr: text('stream', (m) => (m.content.name === 'stderr' ? m.content.text : '')),
    result: text('execute_result', (m) => m.content.data['text/plain']),
  };
}

function writePackage(name, body) {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, type: 'module', main: 'index.js' }));
  writeFileSync(join(dir, 'index.js'), body);
  return join(dir, 'index.js');
}

let goodPath;
let brokenPath;

before(async () => {
  // Imported by path, the packages resolve @attnlab/attention from the repository.
  goodPath = writePackage('good-plugin', `import { createRequire } from 'node:module';
const require = createRequire(${JSON.stringify(join(repo, 'package.json'))});
const { getAttention } = await import(require.resolve('@attnlab/attention'));
// Loading @attnlab/models publishes its 'score' registry (what ctx.registerScore fills).
const { zeros } = await import(require.resolve('@attnlab/tensor'));
await import(require.resolve('@attnlab/models'));
export const answer = 42;
export const attnlabPlugin = {
  id: 'good',
  activate(ctx) {
    const softmax = getAttention('softmax');
    ctx.registerAttention({ name: 'good-softmax', forward: (q, k, v, c) => softmax.forward(q, k, v, c) });
    ctx.registerMagic('good', { line: (a) => 'good ' + a });
    // Replaces a built-in policy: disposing the plugin must bring the built-in back.
    ctx.registerKVPolicy('full', () => ({ name: 'good-full', select: () => null }));
    ctx.registerScore({ name: 'good-zeros', description: 'zero for every head', compute: (model) => zeros([model.config.nLayers, model.config.nHeads]) });
  },
};
`);
  brokenPath = writePackage('broken-plugin', `export const fine = 'still importable';
export const attnlabPlugin = { id: 'broken', activate(ctx) { ctx.registerMagic('half-done', { line: () => 1 }); throw new Error('cannot start: no widget model'); } };
`);
  const ports = await Promise.all([1, 2, 3, 4, 5].map(freePort));
  const info = { ip: '127.0.0.1', transport: 'tcp', shell_port: ports[0], iopub_port: ports[1], stdin_port: ports[2], control_port: ports[3], hb_port: ports[4], key, signature_scheme: 'hmac-sha256' };
  const file = join(tmp, 'conn.json');
  writeFileSync(file, JSON.stringify(info));
  proc = spawn(process.execPath, [join(repo, 'kernels/node/bin/attnlab-kernel.mjs'), 'run', file], { stdio: ['ignore', 'inherit', 'pipe'] });
  proc.stderr.on('data', (d) => (stderr += d.toString()));
  shell = new zmq.Dealer({ routingId: 'plugins-client' });
  shell.connect(`tcp://127.0.0.1:${ports[0]}`);
  iopub = new zmq.Subscriber();
  iopub.connect(`tcp://127.0.0.1:${ports[1]}`);
  iopub.subscribe();
  void (async () => {
    for await (const frames of iopub) iopubMsgs.push(signer.parse(frames));
  })();
  await new Promise((r) => setTimeout(r, 500));
});

after(() => {
  proc?.kill();
  shell?.close();
  iopub?.close();
  rmSync(tmp, { recursive: true, force: true });
});

test('importing @attnlab/attention activates its plugin; %plugin lists it and %attention works', async () => {
  const r = await run("import { listAttention } from '@attnlab/attention';\nlistAttention().includes('softmax')");
  assert.equal(r.reply.status, 'ok', JSON.stringify(r));
  assert.equal(r.result, 'true');
  assert.equal(r.stderr, '', 'activation is silent');
  assert.match((await run('%plugin')).stdout, /^@attnlab\/attention: magic %attention$/m);
  assert.match((await run('%attention')).stdout, /attention variants:\n {2}softmax {2}exact softmax/);
});

test("a package's plugin activates on import and registers into @attnlab/attention; dispose undoes it", async () => {
  const r = await run(`import { answer } from ${JSON.stringify(goodPath)};\nanswer`);
  assert.equal(r.result, '42', JSON.stringify(r));
  assert.equal((await run("listAttention().includes('good-softmax')")).result, 'true');
  assert.equal((await run("import { getKVPolicy } from '@attnlab/attention';\ngetKVPolicy('full').name")).result, '"good-full"');
  assert.equal((await run('%good day')).result, '"good day"');
  const listed = (await run('%plugin')).stdout;
  assert.match(listed, /^good \(from .*good-plugin\/index\.js\): attention variant 'good-softmax', magic %good, KV policy 'full', head score 'good-zeros'$/m);
  const score = await run("import { Transformer, computeScore } from '@attnlab/models';\nconst m = new Transformer({ vocabSize: 8, dModel: 8, nLayers: 2, nHeads: 2, nCtx: 8 }, { seed: 1 });\n(await computeScore('good-zeros', m)).shape");
  assert.equal(score.result, '[ 2, 2 ]', JSON.stringify(score));
  assert.match((await run('%plugin')).stdout, /^@attnlab\/models: magic %scores$/m, "importing @attnlab/models activated its plugin");
  assert.match((await run('%scores')).stdout, /head scores:\n {2}good-zeros {2}zero for every head/);
  await run(`await import(${JSON.stringify(goodPath)}); 0`);
  assert.match((await run('%plugin dispose good')).stdout, /plugin 'good' disposed: 4 registrations undone/);
  assert.equal((await run("import { listScores } from '@attnlab/models';\nlistScores().includes('good-zeros')")).result, 'false');
  assert.equal((await run("listAttention().includes('good-softmax')")).result, 'false');
  assert.equal((await run("getKVPolicy('full').name")).result, '"full"', 'the built-in policy is back');
});

test('a plugin that throws is reported by name, leaves nothing registered, and the kernel goes on', async () => {
  const r = await run(`import { fine } from ${JSON.stringify(brokenPath)};\nfine`);
  assert.equal(r.reply.status, 'ok');
  assert.equal(r.result, '"still importable"');
  assert.match(r.stderr, /attnlab: plugin 'broken' \(from .*broken-plugin\/index\.js\) failed to activate: cannot start: no widget model/);
  const again = await run(`%plugin ${brokenPath}`);
  assert.equal(again.reply.status, 'error');
  assert.match(again.reply.evalue, /plugin 'broken' .*failed to activate: cannot start/);
  assert.equal((await run('%half-done')).reply.status, 'error', 'its partial registration was undone');
  assert.equal((await run('1 + 1')).result, '2');
  assert.doesNotMatch(stderr, /Unhandled|FATAL/);
});
