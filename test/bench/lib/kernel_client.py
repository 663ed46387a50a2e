"""Drives Jupyter kernels with Debian's jupyter_client, the same way for each kernel, and prints
JSON: cold start to kernel_info_reply, execute round trips (execute_interactive) for `1+1` and for
a cell declaring a typed function. Usage: kernel_client.py KERNEL_NAME [KERNEL_NAME ...]
(kernelspecs are found through JUPYTER_PATH)."""
import json
import statistics
import sys
import time

from jupyter_client import KernelManager

RUNS = 200
TYPED_RUNS = 40
TYPED = "function add{i}(a: number, b: number): number {{ return a + b; }}\nadd{i}(1, 2)"


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def run_cell(kc, code):
    t0 = time.perf_counter()
    reply = kc.execute_interactive(code, output_hook=lambda m: None, timeout=60)
    dt = (time.perf_counter() - t0) * 1000
    if reply["content"]["status"] != "ok":
        raise RuntimeError(f"{code!r} failed: {reply['content']}")
    return dt


def bench(name):
    starts = []
    for attempt in range(3):
        km = KernelManager(kernel_name=name)
        t0 = time.perf_counter()
        km.start_kernel()
        kc = km.client()
        kc.start_channels()
        kc.wait_for_ready(timeout=120)
        starts.append(time.perf_counter() - t0)
        if attempt < 2:
            kc.stop_channels()
            km.shutdown_kernel(now=True)
    for _ in range(10):
        run_cell(kc, "1+1")
    one = [run_cell(kc, "1+1") for _ in range(RUNS)]
    typed = [run_cell(kc, TYPED.format(i=i)) for i in range(TYPED_RUNS)]
    kc.stop_channels()
    km.shutdown_kernel(now=True)
    return {
        "kernel": name,
        "coldStartS": round(statistics.median(starts), 3),
        "onePlusOneMedianMs": round(statistics.median(one), 2),
        "onePlusOneP95Ms": round(pct(one, 0.95), 2),
        "typedFunctionMedianMs": round(statistics.median(typed), 2),
        "typedFunctionP95Ms": round(pct(typed, 0.95), 2),
        "runs": RUNS,
        "typedRuns": TYPED_RUNS,
    }


print(json.dumps([bench(n) for n in sys.argv[1:]]))
