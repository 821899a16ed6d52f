"""The exploration notebook's code runs against a freshly prepared dataset."""

import json

from tests.conftest import ROOT
from train.config import load_config
from train.prepare import run_prepare


def test_notebook_code_cells_run(workdir):
    run_prepare(load_config("configs/default.yaml"), "configs/default.yaml")
    nb = json.loads((ROOT / "notebooks/01_explore_dataset.ipynb").read_text(encoding="utf-8"))
    scope: dict = {}
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            exec("".join(cell["source"]), scope)
    assert set(scope["corpus"]["label"]) == {"drugs", "counter_isis", "sanctions", "diplomacy", "other"}
