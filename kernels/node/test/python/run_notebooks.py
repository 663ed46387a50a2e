"""Execute every examples/*.ipynb with nbclient on the attnlab kernel; fail on any error output."""
import glob
import os
import sys

import nbformat
from nbclient import NotebookClient

root = sys.argv[1]
failed = 0
paths = sorted(glob.glob(os.path.join(root, "examples", "**", "*.ipynb"), recursive=True))
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
    print(f"{path}: {len(nb.cells)} cells, {len(errors)} error outputs")
    failed += bool(errors)
sys.exit(1 if failed else 0)
