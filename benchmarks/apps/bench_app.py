"""The application every implementation loads in the benchmarks (consumer and clients alike).

It runs inside the environment of the implementation being measured (this project's workspace
environment, or the virtualenv of the published huey), never in the harness, so it imports only
the standard library and ``huey``, and uses nothing that differs between the implementations.

``$HUEY_BENCH_DB`` is the SQLite file; the Huey instance is built with default settings.
"""

from __future__ import annotations

import os

from huey import SqliteHuey

huey = SqliteHuey("bench", filename=os.environ["HUEY_BENCH_DB"])


@huey.task()
def echo(value: int) -> int:
    """Returns its argument, so the result proves the round trip."""
    return value
