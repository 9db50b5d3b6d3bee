"""Monitoring a model in service (see `stats` for the methods): the reference stored with each
version, a batch's drift and estimated performance, realised performance once labels arrive,
and the alarm; `report` writes what a data scientist reads."""

from riskmodel.monitor.batch import BatchMonitor, batch_rows, monitor_batch
from riskmodel.monitor.stats import (
    REFERENCE_FILE,
    MonitorConfig,
    build_reference,
    estimate,
    feature_drift,
    psi,
    realised,
)

__all__ = [
    "REFERENCE_FILE",
    "BatchMonitor",
    "MonitorConfig",
    "batch_rows",
    "build_reference",
    "estimate",
    "feature_drift",
    "monitor_batch",
    "psi",
    "realised",
]
