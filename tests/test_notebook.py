"""The retraining notebook runs top to bottom in a fresh kernel and stays in sync with its twin."""

from pathlib import Path

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks/01-retrain.ipynb"


def _sources(nb) -> list[str]:
    return [c.source.strip() for c in nb.cells]


def test_notebook_and_py_percent_twin_have_the_same_cells():
    paired = jupytext.read(NOTEBOOK.with_suffix(".py"))

    assert _sources(nbformat.read(NOTEBOOK, as_version=4)) == _sources(paired)


@pytest.mark.slow
def test_notebook_retrains_and_registers_a_challenger(training_county, tmp_path, monkeypatch):
    monkeypatch.setenv("RISKMODEL_ROOT", str(ROOT))
    monkeypatch.setenv("RISKMODEL_DATA", str(training_county))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    nb = nbformat.read(NOTEBOOK, as_version=4)

    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()

    outputs = "".join(
        str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
    )
    assert "version 1" in outputs and "official rule" in outputs
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert str(client.get_model_version_by_alias("relapse-risk", "challenger").version) == "1"
