"""Fixtures for the edge uploader's tests: a real broker + moto S3 + presign responder per test."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The generator hook module and the harness live beside the tests (also for the subprocess runs).
TESTS_DIR = Path(__file__).resolve().parent
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

from edge_harness import Cloud, running_cloud  # noqa: E402


@pytest.fixture()
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    with running_cloud(tmp_path / "cloud") as started:
        yield started
