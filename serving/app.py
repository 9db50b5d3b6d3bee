"""ASGI entry: `uvicorn serving.app:app` (or `riskmodel serve`). Settings: RISKMODEL_* env."""

from riskmodel.api import create_app

app = create_app()
