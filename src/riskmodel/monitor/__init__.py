"""Monitoring a model in service (see `stats` for the methods): the reference stored with each
version, a batch's drift and estimated performance, realised performance once labels arrive,
and the alarm; `report` writes what a data scientist reads, `tracking` logs the MLflow run.

The names below are read from their modules on first use, so that a process importing only
`riskmodel.monitor.tracking` (the MLflow logger) does not import pandas or the model."""

from importlib import import_module

_HOMES = {
    "BatchMonitor": "batch",
    "batch_rows": "batch",
    "monitor_batch": "batch",
    "REFERENCE_FILE": "stats",
    "MonitorConfig": "stats",
    "build_reference": "stats",
    "estimate": "stats",
    "feature_drift": "stats",
    "psi": "stats",
    "realised": "stats",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_HOMES[name]}"), name)
