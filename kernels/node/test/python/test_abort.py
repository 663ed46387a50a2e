"""Queued execute requests are aborted after an interrupt or an error, as ipykernel does (issue 15
item 5), checked with Debian's jupyter_client against the installed kernelspec (run by
abort.test.ts)."""
import time
import unittest

from jupyter_client.manager import start_new_kernel


class QueuedRequestsAreAborted(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.km, cls.kc = start_new_kernel(kernel_name="attnlab", startup_timeout=120)

    @classmethod
    def tearDownClass(cls):
        cls.kc.stop_channels()
        cls.km.shutdown_kernel(now=True)

    def replies(self, ids, timeout=120):
        """execute_reply contents by request id."""
        got = {}
        deadline = time.time() + timeout
        while len(got) < len(ids):
            msg = self.kc.get_shell_msg(timeout=max(0.1, deadline - time.time()))
            if msg["parent_header"].get("msg_id") in ids:
                got[msg["parent_header"]["msg_id"]] = msg["content"]
        return got

    def outputs(self, ids, timeout=60):
        """iopub messages per request id, up to each request's idle status."""
        out = {i: [] for i in ids}
        idle = set()
        deadline = time.time() + timeout
        while idle != set(ids):
            msg = self.kc.get_iopub_msg(timeout=max(0.1, deadline - time.time()))
            pid = msg["parent_header"].get("msg_id")
            if pid not in out:
                continue
            if msg["msg_type"] == "status":
                if msg["content"]["execution_state"] == "idle":
                    idle.add(pid)
            else:
                out[pid].append(msg)
        return out

    def result(self, code):
        i = self.kc.execute(code)
        self.assertEqual(self.replies({i})[i]["status"], "ok")
        results = [m for m in self.outputs([i])[i] if m["msg_type"] == "execute_result"]
        return results[0]["content"]["data"]["text/plain"]

    def test_interrupt_aborts_the_cells_queued_behind(self):
        a = self.kc.execute("let spins = 0;\nwhile (true) { spins++; }")
        b = self.kc.execute('(globalThis as any).ranB = true;\nconsole.log("B ran")')
        c = self.kc.execute('console.log("C ran")')
        time.sleep(1.5)  # a spins; b and c wait in the shell queue
        self.km.interrupt_kernel()
        r = self.replies({a, b, c})
        self.assertEqual(r[a]["status"], "error")
        self.assertEqual(r[a]["ename"], "Interrupted")
        self.assertEqual(r[b]["status"], "aborted")
        self.assertEqual(r[c]["status"], "aborted")
        out = self.outputs([a, b, c])
        self.assertEqual([m["msg_type"] for m in out[a] if m["msg_type"] == "error"], ["error"])
        # Aborted requests show nothing of their own: no execute_input, no stream, no error.
        self.assertEqual(out[b], [])
        self.assertEqual(out[c], [])
        # A request sent after the abort runs; the aborted cells never did.
        self.assertEqual(self.result("typeof (globalThis as any).ranB"), '"undefined"')

    def test_an_error_aborts_the_queue_unless_stop_on_error_is_false(self):
        a = self.kc.execute('await new Promise((r) => setTimeout(r, 500));\nthrow new Error("stop here")')
        b = self.kc.execute("(globalThis as any).afterError = 1;")
        r = self.replies({a, b})
        self.assertEqual(r[a]["status"], "error")
        self.assertEqual(r[b]["status"], "aborted")
        self.outputs([a, b])
        a = self.kc.execute('await new Promise((r) => setTimeout(r, 500));\nthrow new Error("go on")', stop_on_error=False)
        b = self.kc.execute("(globalThis as any).afterError = 2;")
        r = self.replies({a, b})
        self.assertEqual(r[a]["status"], "error")
        self.assertEqual(r[b]["status"], "ok")
        self.outputs([a, b])
        self.assertEqual(self.result("(globalThis as any).afterError"), "2")


if __name__ == "__main__":
    unittest.main()
