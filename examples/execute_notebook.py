"""Run examples/imdb_notebook.ipynb top to bottom on the full IMDB data and store it with its outputs.

    python examples/execute_notebook.py

The notebook is committed with the outputs of this command: the numbers and plots of one full run (60 epochs
on the 25,000 training reviews; about 30 s on a 2-core machine, kernel start-up included). It stamps the
notebook with a digest of its code cells (`metadata.npnet.code_sha256`), so that
tests/examples/test_notebook.py can
tell stored outputs from stale ones: a code cell edited without re-running this command no longer matches.

The data comes from the per-user cache, built first when missing exactly as `npnet train` gets it (offline
from the Stanford reviews when they are at hand). The kernel imports npnet from this checkout and runs in a
temporary folder, so nothing but the notebook is written here.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "examples" / "imdb_notebook.ipynb"
COMMAND = "python examples/execute_notebook.py"
# The kernel draws its plots as PNG outputs: the inline backend, whatever the caller's MPLBACKEND says.
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


def code_digest(cells: list[dict]) -> str:
    """sha256 of the code cells' sources in order (markdown cells do not change outputs)."""
    digest = hashlib.sha256()
    for cell in cells:
        if cell["cell_type"] == "code":
            source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            digest.update(source.encode() + b"\0")
    return digest.hexdigest()


def run(notebook: Any, workdir: str | os.PathLike[str], *, timeout: int = 1800) -> None:
    """Execute `notebook` (an nbformat NotebookNode) in place, in kernel python3 started in `workdir` with
    this checkout's npnet and inline plots; consecutive prints of a cell are joined into one output, as
    Jupyter shows them."""
    import nbclient

    saved = {name: os.environ.get(name) for name in ("PYTHONPATH", "MPLBACKEND")}
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), saved["PYTHONPATH"]]))
    os.environ["MPLBACKEND"] = INLINE_BACKEND
    try:
        nbclient.NotebookClient(
            notebook,
            timeout=timeout,
            kernel_name="python3",
            record_timing=False,  # run times in cell metadata would change the file on every run
            resources={"metadata": {"path": str(workdir)}},
        ).execute()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = _joined_streams(cell.outputs)


def _joined_streams(outputs: list[Any]) -> list[Any]:
    """`outputs` with each run of stream outputs to the same stream (stdout, stderr) made one."""
    joined: list[Any] = []
    for output in outputs:
        previous = joined[-1] if joined else None
        if (
            previous is not None
            and output.output_type == previous.output_type == "stream"
            and output.name == previous.name
        ):
            previous.text += output.text
        else:
            joined.append(output)
    return joined


def execute(notebook_path: Path) -> None:
    """Execute the notebook file in place in a temporary folder and stamp its code digest."""
    import nbformat

    notebook = nbformat.read(notebook_path, as_version=4)
    with tempfile.TemporaryDirectory() as workdir:
        run(notebook, workdir)
    notebook.metadata["npnet"] = {"code_sha256": code_digest(notebook.cells), "regenerate": COMMAND}
    nbformat.write(notebook, notebook_path)


def main() -> int:
    sys.path.insert(0, str(REPO))
    from npnet.datasets.bootstrap import ensure_imdb
    from npnet.errors import DataError

    try:
        ensure_imdb()
    except DataError as error:
        print(f"execute_notebook: {error}", file=sys.stderr)
        return 1
    execute(NOTEBOOK)
    print(f"stored {NOTEBOOK.relative_to(REPO)} with the outputs of a full run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
