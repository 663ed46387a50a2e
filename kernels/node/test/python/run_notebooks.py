"""Execute the notebooks named after the root (default: every examples/**/*.ipynb) with nbclient on the
attnlab kernel; fail on any error output,
and on any plot output without a static image beside its plotly JSON (GitHub and nbviewer
show only the static one)."""
import glob
import os
import sys

import nbformat
from nbclient import NotebookClient

root = sys.argv[1]
failed = 0
plots_total = 0
paths = sys.argv[2:] or sorted(glob.glob(os.path.join(root, "examples", "**", "*.ipynb"), recursive=True))
if not paths:
    print("no notebooks found under examples/")
    sys.exit(1)
for path in paths:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, kernel_name="attnlab", timeout=300, allow_errors=True, resources={"metadata": {"path": os.path.dirname(path)}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
    for e in errors:
        print(f"{path}: {e.get('ename')}: {e.get('evalue')}")
    plots = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if "application/vnd.plotly.v1+json" in o.get("data", {})]
    bare = [o for o in plots if not str(o["data"].get("image/svg+xml", "")).startswith("<svg")]
    plots_total += len(plots)
    print(f"{path}: {len(nb.cells)} cells, {len(errors)} error outputs, {len(plots)} plots, {len(bare)} without a static SVG")
    # A paper notebook ends in its Claims cell: show what it printed (pass / not met / not yet) in the test log.
    code = [c for c in nb.cells if c.cell_type == "code"]
    if "papers" in path and code:
        text = "".join(o.get("text", "") for o in code[-1].get("outputs", []) if o.get("output_type") == "stream")
        print(text[-6000:])
    failed += bool(errors) or bool(bare)
print(f"plot outputs: {plots_total}")
sys.exit(1 if failed else 0)
