"""The unit of alert evidence for one model: how far (in log score) its typical normal clip sits
below its threshold. The scorer computes it when it opens a bundle; the alert policy divides each
clip's log ratio by it. Kept apart from the policy so that scoring (Lambda's cold path) does not
import the policy's state machinery.
"""

from __future__ import annotations

import math

# Log distance from a typical normal score to the threshold when a model does not say (a bundle
# without score samples): about what spectral-gauss models show at a 2% target (ratio ~0.15).
DEFAULT_NORMAL_GAP = 2.0
MIN_GAP = 0.05  # a model whose normal clips sit at its threshold must not divide by ~0


def normal_gap(threshold: float, typical_normal_score: float | None) -> float:
    """log(threshold / typical normal score): the unit of evidence for one model."""
    if typical_normal_score is None or typical_normal_score <= 0 or threshold <= 0:
        return DEFAULT_NORMAL_GAP
    return max(math.log(threshold / typical_normal_score), MIN_GAP)
