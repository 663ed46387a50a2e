import { test } from 'node:test';
import { runPythonSuite } from './python-suite.js';

/** Issue 15 item 5, with Debian's jupyter_client: queued cells are aborted after an interrupt or error. */
test('execute requests queued behind an interrupted or failed cell are aborted (jupyter_client)', () => {
  runPythonSuite('test_abort');
});
