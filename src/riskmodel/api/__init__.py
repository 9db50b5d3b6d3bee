"""The scoring API: FastAPI app factory, schemas from the catalogue, keys, model lifecycle."""


def __getattr__(name: str):
    """`create_app` on first use: commands that need only the keys (`riskmodel keys create`)
    do not import FastAPI, the model and the scoring path."""
    if name == "create_app":
        from riskmodel.api.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["create_app"]
