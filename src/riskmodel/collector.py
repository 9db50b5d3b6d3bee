"""Python's cyclic garbage collector paused around work that builds many small containers.

A separate module with no imports of its own, so that a command can pause the collector before
its heavy imports (which create hundreds of thousands of objects that each collection walks
again)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic collector (a batch of reasons, a short command): full collections over a
    large live heap otherwise dominate the run time, while what is built is freed by reference
    counting all the same. Restored after, as it was (tests run commands in-process)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
