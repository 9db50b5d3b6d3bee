"""422 answers naming each field path and rule; submitted values are never echoed back."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from riskmodel.records import cross_column_failures, derived_failures

_JSON_TYPE = {str: "a string", bool: "a boolean", int: "a number", float: "a number"}
_TYPE_ERRORS = {
    "int_type",
    "float_type",
    "bool_type",
    "string_type",
    "int_parsing",
    "float_parsing",
}


async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 naming each field path and rule, with the position of malformed JSON and the type that
    was sent; submitted values are not echoed back."""
    detail = []
    for e in exc.errors():
        msg = e["msg"]
        if e["type"] == "json_invalid":
            pos = e["loc"][-1] if isinstance(e["loc"][-1], int) else 0
            body = await request.body()
            reason = (e.get("ctx") or {}).get("error", "")
            msg = f"malformed JSON at {_position(body, pos)}: {reason}".rstrip(": ")
        elif e["type"] in _TYPE_ERRORS or e["type"].endswith("_type"):
            msg = f"{msg} ({_sent_type(e.get('input'))} was sent)"
        detail.append({"type": e["type"], "loc": list(e["loc"]), "msg": msg})
    return JSONResponse({"detail": detail}, status_code=422)


def refuse(failures: list[tuple[int, str, str]], loc: Callable[[int], list]) -> None:
    """422 naming each field and rule (values are not echoed)."""
    if failures:
        raise RequestValidationError(
            [
                {"type": "value_error", "loc": [*loc(row), field], "msg": rule}
                for row, field, rule in failures
            ]
        )


def _sent_type(value: object) -> str:
    """The JSON type of a value, to say what was sent without echoing it."""
    if value is None:
        return "null"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return _JSON_TYPE.get(type(value), type(value).__name__)


def _position(text: bytes, pos: int) -> str:
    """'line L, column C (character P)' of a position in a JSON body."""
    before = text[:pos].decode("utf-8", "replace")
    line = before.count("\n") + 1
    column = len(before) - (before.rfind("\n") + 1) + 1
    return f"line {line}, column {column} (character {pos + 1})"


def refusal(failures: list[tuple[int, str, str]]) -> RequestValidationError:
    """422 for a request's records that fail their checks (rows within the request)."""
    return RequestValidationError(
        [
            {"type": "value_error", "loc": ["body", "records", row, field], "msg": rule}
            for row, field, rule in sorted(set(failures))
        ]
    )


def record_failures(columns: dict[str, list]) -> list[tuple[int, str, str]]:
    """The panel's cross-column rules and the derived fields' agreement with the facts (on the
    columns themselves: a DataFrame per request cost ten times the scoring)."""
    return sorted(set(cross_column_failures(columns) + derived_failures(columns)))
