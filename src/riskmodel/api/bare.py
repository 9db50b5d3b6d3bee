"""The framework's ceiling: our request schema validated, a trivial answer, nothing else.

`riskmodel bench api` serves it beside the real app (same uvicorn settings, same load) so that
our throughput and latency read as a share of what FastAPI itself can do on the machine:
`riskmodel serve --bare` (or `uvicorn --factory riskmodel.api.bare:create_bare_app`)."""

from fastapi import FastAPI

from riskmodel.api.schemas import ScoreRequest


def create_bare_app() -> FastAPI:
    """POST /v1/scores parses and validates the body as the real endpoint does (the same
    `ScoreRequest`) and answers each household's id; no key, model, middleware or store."""
    app = FastAPI(title="riskmodel (bare ceiling)", docs_url=None, redoc_url=None)

    @app.post("/v1/scores")
    async def score(body: ScoreRequest) -> dict:
        rows = body.records if body.records is not None else [h.facts for h in body.households]
        return {"results": [{"hh_id": r.hh_id} for r in rows]}

    return app
