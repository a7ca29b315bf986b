"""The workloads of ``benchmarks/run.py``: importing this package registers every one.

Adding a workload: a module here with a ``Workload`` subclass passed to ``register``, its
subprocess clients in ``benchmarks/apps/``, and its import below.
"""

from benchmarks.workloads import (  # noqa: F401 - registers the workloads
    commands,
    enqueue,
    io_bound,
    roundtrip,
    roundtrip_redis,
    throughput,
    throughput_redis,
)
