"""The analyst's first notebook runs top to bottom from the project's environment on the shipped
corpus and reports, and is committed without outputs."""

import json
import os

import pytest

from tests.conftest import ROOT

NOTEBOOK = ROOT / "notebooks/00_start_here.ipynb"


def test_committed_without_outputs():
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code and all(not c["outputs"] and c["execution_count"] is None for c in code)


@pytest.mark.slow
def test_executes_in_the_project_kernel(tmp_path):
    nbformat = pytest.importorskip("nbformat", reason="notebook tools are in requirements-dev.lock (make setup-dev)")
    from nbclient import NotebookClient

    nb = nbformat.read(str(NOTEBOOK), as_version=4)
    os.environ.setdefault("MPLBACKEND", "Agg")
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    text = json.dumps(nb["cells"], ensure_ascii=False)
    assert "most distinctive" in text.lower() and "image/png" in text  # plots were drawn
    errors = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c["outputs"] if o.get("output_type") == "error"]
    assert not errors
    nbformat.write(nb, str(tmp_path / "executed.ipynb"))
