"""Samples -> FLAC 16-bit bytes, with the MD5 (base64, as Content-MD5 carries it) and size."""

from __future__ import annotations

import base64
import hashlib
import io
from dataclasses import dataclass

import numpy as np
import soundfile as sf


@dataclass(frozen=True)
class EncodedClip:
    data: bytes
    md5: str  # base64 of the 16-byte digest
    size: int


def content_md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode("ascii")


def encode_flac(samples: np.ndarray, sample_rate: int) -> EncodedClip:
    """Encode mono samples (int16, or float in [-1, 1]) as 16-bit FLAC."""
    if samples.ndim != 1 or samples.size == 0:
        raise ValueError("expected a non-empty mono signal")
    if samples.dtype != np.int16:
        floats = np.nan_to_num(samples.astype(np.float32), nan=0.0, posinf=1.0, neginf=-1.0)
        samples = np.clip(floats, -1.0, 1.0)
    buffer = io.BytesIO()
    sf.write(buffer, samples, sample_rate, format="FLAC", subtype="PCM_16")
    data = buffer.getvalue()
    return EncodedClip(data=data, md5=content_md5(data), size=len(data))
