"""The workloads of ``benchmarks/run.py``: importing this package registers every one.

Adding a workload: a module here with a ``Workload`` subclass registered once per backend
(``_backends.BACKENDS``), its subprocess clients in ``benchmarks/apps/``, its import below,
and its family in ``run.FAMILIES`` for ``run.py all``.
"""

from benchmarks.workloads import (  # noqa: F401 - registers the workloads
    commands,
    depth,
    enqueue,
    io_bound,
    memory,
    roundtrip,
    throughput,
)
