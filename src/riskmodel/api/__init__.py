"""The scoring API: FastAPI app factory, schemas from the catalogue, keys, model lifecycle."""

from riskmodel.api.app import create_app

__all__ = ["create_app"]
