"""Applications the consumer tests run ``huey_consumer`` against (cwd: tests/consumer)."""
