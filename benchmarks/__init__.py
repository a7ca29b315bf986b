"""The project's benchmark command: ``python benchmarks/run.py WORKLOAD`` (see ``run.py``)."""
