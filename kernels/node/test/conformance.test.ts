import { test } from 'node:test';
import { runPythonSuite } from './python-suite.js';

/** Debian's python3-jupyter-kernel-test against the installed kernelspec (temp prefix). */
test('jupyter_kernel_test conformance', () => {
  runPythonSuite('test_conformance');
});
