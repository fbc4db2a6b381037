"""Benchmarks: run from the repository root (`make benchmark-pacs`, `python -m benchmarks.pacs`), never shipped
in the image. They start servers with the test suite's helpers (`tests/support/servers.py`)."""
