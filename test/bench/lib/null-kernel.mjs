// A Jupyter kernel that does nothing: for each execute_request the same five messages a real kernel
// sends (busy, execute_input, execute_result, execute_reply, idle), no work. The kernel bench runs
// it beside attnlab and tslab to measure the floor the Jupyter client itself puts under any kernel.
// Usage: node null-kernel.mjs CONNECTION_FILE
import { readFileSync } from 'node:fs';
import * as zmq from 'zeromq';
import { Signer } from '@attnlab/kernel-node';
const info = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const s = new Signer(info.key);
const a = (p) => `${info.transport}://${info.ip}:${p}`;
const shell = new zmq.Router(), iopub = new zmq.Publisher(), control = new zmq.Router(), hb = new zmq.Reply(), stdin = new zmq.Router();
await Promise.all([shell.bind(a(info.shell_port)), iopub.bind(a(info.iopub_port)), control.bind(a(info.control_port)), hb.bind(a(info.hb_port)), stdin.bind(a(info.stdin_port))]);
(async () => { for await (const f of hb) await hb.send(f); })();
(async () => { for await (const f of control) { const m = s.parse(f); await control.send(s.serialize(m.header.msg_type.replace('request', 'reply'), { status: 'ok', restart: false }, m, 'n', m.identities)); if (m.header.msg_type === 'shutdown_request') process.exit(0); } })();
let n = 0;
for await (const f of shell) {
  const m = s.parse(f);
  await iopub.send(s.serialize('status', { execution_state: 'busy' }, m, 'n', [Buffer.from('status')]));
  if (m.header.msg_type === 'execute_request') {
    n++;
    await iopub.send(s.serialize('execute_input', { code: m.content.code, execution_count: n }, m, 'n', [Buffer.from('x')]));
    await iopub.send(s.serialize('execute_result', { data: { 'text/plain': '2' }, metadata: {}, execution_count: n }, m, 'n', [Buffer.from('x')]));
    await shell.send(s.serialize('execute_reply', { status: 'ok', execution_count: n, user_expressions: {} }, m, 'n', m.identities));
  } else {
    await shell.send(s.serialize('kernel_info_reply', { status: 'ok', protocol_version: '5.3', implementation: 'null', implementation_version: '0', language_info: { name: 'x' }, banner: '' }, m, 'n', m.identities));
  }
  await iopub.send(s.serialize('status', { execution_state: 'idle' }, m, 'n', [Buffer.from('status')]));
}
