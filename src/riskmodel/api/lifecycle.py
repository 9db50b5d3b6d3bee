"""The model in service: loaded and warmed before it is used, swapped whole when the alias moves."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from riskmodel.model import RelapseModel

log = logging.getLogger(__name__)


def pinned_uri(uri: str, version: str) -> str:
    """`models:/name@alias` or `models:/name/N` as `models:/name/<version>`; other URIs as given."""
    if not version or not uri.startswith("models:/"):
        return uri
    name = uri.removeprefix("models:/").partition("@")[0]
    if "@" not in uri and "/" in name:
        name = name.rsplit("/", 1)[0]
    return f"models:/{name}/{version}"


@dataclass(frozen=True)
class Loaded:
    model: RelapseModel
    version: str
    run_id: str
    loaded_at: float


class ModelHolder:
    """Holds the serving model. A request takes `current` once and uses it to the end, so a swap
    never mixes two versions inside one response and never fails a request in flight."""

    def __init__(
        self,
        uri: str,
        loader: Callable[[str], tuple[RelapseModel, dict]],
        resolver: Callable[[str], str],
        warm: Callable[[RelapseModel], None],
        required: bool = True,
    ):
        self.uri, self._loader, self._resolver, self._warm = uri, loader, resolver, warm
        self.required = required
        """An optional model (persistent) may be absent: the service is ready without it."""
        self.current: Loaded | None = None
        self.last_error: str | None = None
        self.reload_failures = 0
        self.reloads = 0
        self._lock = threading.Lock()

    def _load(self, uri: str) -> Loaded:
        model, meta = self._loader(uri)
        self._warm(model)
        return Loaded(model, meta["version"], meta["run_id"], time.time())

    def _pinned(self) -> str:
        """Resolve the URI once to the exact version to load (the alias may move meanwhile)."""
        return pinned_uri(self.uri, self._resolver(self.uri))

    def load(self) -> None:
        """Initial load; a failure leaves the service up but not ready."""
        try:
            self.current = self._load(self._pinned())
            self.last_error = None
            log.info("serving model version %s", self.current.version)
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            if self.required:
                log.error("model failed to load: %s", self.last_error)
            else:
                log.warning("optional model %s not loaded: %s", self.uri, self.last_error)

    def reload(self) -> tuple[str, str | None]:
        """Load the version the URI points at now, warm it beside the old one, then swap."""
        with self._lock:
            previous = self.current.version if self.current else None
            try:
                version = self._resolver(self.uri)
                if version and version == previous:
                    return "unchanged", previous
                fresh = self._load(pinned_uri(self.uri, version))
            except Exception as exc:
                self.reload_failures += 1
                self.last_error = f"reload failed: {type(exc).__name__}: {exc}"
                log.error("%s; still serving version %s", self.last_error, previous)
                raise
            self.current = fresh
            self.last_error = None
            self.reloads += 1
            log.info("swapped model version %s -> %s", previous, fresh.version)
            return "swapped", previous
