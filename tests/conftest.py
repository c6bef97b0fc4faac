"""Fixtures shared by every test suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_REAL_DATA = REPO_ROOT.parent / "shared" / "data" / "real"


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The real labelled recordings beside the clone (../shared/data/real).

    A user's fresh clone has no ../shared: those tests skip. CI sets
    HUMWATCH_REQUIRE_SHARED_DATA=1, and there a missing folder fails the test instead of hiding it.
    """
    if (SHARED_REAL_DATA / "manifest.csv").is_file():
        return SHARED_REAL_DATA
    if os.environ.get("HUMWATCH_REQUIRE_SHARED_DATA") == "1":
        pytest.fail(f"HUMWATCH_REQUIRE_SHARED_DATA=1 but {SHARED_REAL_DATA} is missing")
    pytest.skip(f"real recordings not found at {SHARED_REAL_DATA}")
