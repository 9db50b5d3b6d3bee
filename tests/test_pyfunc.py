"""The MLflow pyfunc takes the library's records as they come and checks them as the API does."""

import mlflow
import numpy as np
import pandas as pd
import pytest

from riskmodel import registry
from riskmodel.features import build_features
from riskmodel.records import RecordError
from riskmodel.train import load_panel

from .conftest import service_tracking

pytestmark = pytest.mark.usefixtures("service_env")


@pytest.fixture(scope="module")
def pyfunc(service):
    with service_tracking(service):
        return mlflow.pyfunc.load_model(f"models:/relapse-risk/{service['logged'].version}")


@pytest.fixture(scope="module")
def latest(training_county):
    panel, _ = load_panel(training_county)
    window = panel[panel["year"] >= 2023]
    records = build_features(window)
    return window, records[records["year"] == 2025].reset_index(drop=True)


def _main_model_rows(service, hh_ids) -> tuple[np.ndarray, np.ndarray]:
    """Where the batch's probability is the main model's (households not monitored)."""
    batch = service["rows"].set_index("hh_id").loc[hh_ids]
    return (batch["label"] == "meets_criteria").to_numpy(), batch["probability"].to_numpy()


def test_build_features_output_is_scored_as_the_batch_scored_it(pyfunc, service, latest):
    _, records = latest
    assert isinstance(records["main_industry"].dtype, pd.CategoricalDtype)

    out = pyfunc.predict(records)

    main, batch = _main_model_rows(service, records["hh_id"])
    assert main.sum() > 100
    np.testing.assert_allclose(out["probability"][main], batch[main], atol=1e-12)


def test_integral_floats_for_integers_are_accepted(pyfunc, latest):
    _, records = latest
    wire = registry.to_wire(records.head(50))
    floats = wire.astype({c: "float64" for c in ("head_age", "hh_size", "year", "work_months")})

    np.testing.assert_array_equal(
        pyfunc.predict(floats)["probability"], pyfunc.predict(wire)["probability"]
    )


def test_pyfunc_input_from_panel_rows(pyfunc, service, latest):
    window, _ = latest

    wire = registry.pyfunc_input(window, 2025)
    out = pyfunc.predict(wire)

    main, batch = _main_model_rows(service, wire["hh_id"])
    assert len(wire) == len(service["rows"]) and main.sum() > 100
    np.testing.assert_allclose(out["probability"][main], batch[main], atol=1e-12)


@pytest.mark.parametrize(
    ("column", "value", "rule"),
    [
        ("main_industry", "durian", "one of"),
        ("net_income_pc", np.nan, "required"),
        ("head_age", 58.5, "whole number"),
        ("labour_total", 9, "must equal n_labour_full + n_labour_weak"),
    ],
)
def test_bad_values_are_refused_naming_row_and_column(pyfunc, latest, column, value, rule):
    _, records = latest
    wire = registry.to_wire(records.head(5)).astype({column: object})
    wire.loc[3, column] = value

    with pytest.raises(Exception) as err:  # MLflow may wrap the model's own error
        pyfunc.predict(wire)

    cause = err.value if isinstance(err.value, RecordError) else err.value.__cause__ or err.value
    assert f"row 3: {column}: " in str(cause) and rule in str(cause)


def test_input_is_documented_beside_the_model(service):
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/relapse-risk/{service['logged'].version}"
    )
    from pathlib import Path

    docs = list(Path(local).rglob("model_input.md"))

    assert docs and "| main_industry | category | yes | sugarcane" in docs[0].read_text()


def test_partial_records_are_checked_on_the_columns_their_model_reads(latest):
    """A model trained on partial data reads fewer features: only those are required, and the
    checks that can be made on them still are."""
    from riskmodel.catalogue import FEATURE_NAMES
    from riskmodel.records import check_records

    _, records = latest
    features = [f for f in FEATURE_NAMES if f not in ("n_labour_weak", "labour_total")]
    part = registry.to_wire(records.head(20), features)

    typed = check_records(part, features)

    assert list(typed.columns) == [c.name for c in registry.record_columns(features)]
    assert "labour_total" not in part
    with pytest.raises(RecordError, match="row 2: costly_students: must equal"):
        check_records(part.assign(costly_students=[0] * 2 + [9] + [0] * 17), features)
