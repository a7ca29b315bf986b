"""Test support for code built on huey and for authors of storage backends.

``huey.testing.conformance`` holds the storage conformance suite (it needs pytest). Importing
``huey`` or ``huey.testing`` never imports pytest.
"""
