"""Gaussian models of clip statistics, fitted with shrinkage so that a few dozen clips suffice.

Two kinds, both cheap to fit (so k-fold out-of-fold scores cost nothing) and to export:

- `DiagonalGaussian` on a clip-level vector (spectrum, modulation spectrum, level): mean and a
  per-dimension variance shrunk towards the group's median variance. With 60 clips and hundreds
  of dimensions a full covariance would be mostly noise. The clip's score is the mean of its
  `top_k` largest squared z-scores: a fault often moves a handful of lines (a harmonic, an
  impact rate) out of hundreds, and a mean over all dimensions would dilute it.
- `FrameGaussian` on the log-mel frames: one full-covariance Gaussian (64 x 64, ~15,000 frames
  from 50 clips: well determined) with a little shrinkage; the clip score is the mean
  Mahalanobis distance of its frames per dimension. It plays the autoencoder's role (what do the
  bands look like together, moment to moment) as a closed-form fit. It is fitted from per-clip
  sufficient statistics (frame mean, frame second moment), so k-fold refits are matrix sums.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DiagonalGaussian:
    mean: np.ndarray  # [D]
    inv_std: np.ndarray  # [D]
    top_k: int  # the score averages the top_k squared z-scores (D: all)

    def score(self, x: np.ndarray) -> np.ndarray:
        """Score per row of x [N, D] -> [N]."""
        z = (np.atleast_2d(x) - self.mean) * self.inv_std
        z2 = z * z
        if self.top_k < z2.shape[1]:
            z2 = np.partition(z2, z2.shape[1] - self.top_k, axis=1)[:, -self.top_k :]
        return np.asarray(np.mean(z2, axis=1))


def fit_diagonal(
    x: np.ndarray, *, top_fraction: float = 1.0, prior_clips: float = 4.0, floor_db: float = 0.25
) -> DiagonalGaussian:
    """Diagonal Gaussian from rows of x [N, D] (N >= 2).

    Variance of a dimension: (n * var + prior_clips * median_var) / (n + prior_clips) + floor_db^2,
    i.e. shrunk towards the typical variance of the group, never below a small absolute floor (a
    perfectly steady dimension must not turn a 0.1 dB wobble into a huge z-score).
    """
    x = np.asarray(x, dtype=np.float64)
    n, dims = x.shape
    if n < 2:
        raise ValueError("a Gaussian needs at least 2 clips")
    var = x.var(axis=0, ddof=1)
    pooled = float(np.median(var))
    shrunk = (n * var + prior_clips * pooled) / (n + prior_clips) + floor_db**2
    top_k = max(1, min(dims, round(top_fraction * dims)))
    return DiagonalGaussian(mean=x.mean(axis=0), inv_std=1.0 / np.sqrt(shrunk), top_k=top_k)


@dataclass(frozen=True)
class FrameGaussian:
    mean: np.ndarray  # [M]
    precision: np.ndarray  # [M, M]

    @property
    def whitener(self) -> np.ndarray:
        """W with W @ W.T = precision: ||(x - mean) @ W||^2 is the Mahalanobis distance."""
        return np.linalg.cholesky(self.precision)

    def score(self, frame_mean: np.ndarray, frame_m2: np.ndarray) -> np.ndarray:
        """Mean per-dimension Mahalanobis distance of each clip's frames, from its moments.

        frame_mean [N, M] and frame_m2 [N, M*M] (E[x x^T] over the clip's frames):
        E[(x-mu)^T P (x-mu)] = tr(P E[xx^T]) - 2 mu^T P E[x] + mu^T P mu.
        """
        m = np.atleast_2d(frame_mean)
        dims = m.shape[1]
        m2 = np.atleast_2d(frame_m2).reshape(-1, dims, dims)
        p = self.precision
        pm = p @ self.mean
        quad = np.einsum("ij,nji->n", p, m2) - 2.0 * m @ pm + float(self.mean @ pm)
        return np.asarray(quad / dims)


def fit_frames(frame_mean: np.ndarray, frame_m2: np.ndarray, *, shrinkage: float = 0.05) -> FrameGaussian:
    """Full-covariance Gaussian of all frames of the clips (equal weight per clip)."""
    m = np.asarray(frame_mean, dtype=np.float64)
    dims = m.shape[1]
    second = np.asarray(frame_m2, dtype=np.float64).reshape(-1, dims, dims).mean(axis=0)
    mu = m.mean(axis=0)
    cov = second - np.outer(mu, mu)
    cov = (cov + cov.T) / 2.0
    # Shrink towards the diagonal, plus a 0.03 dB ridge so a silent band cannot make it singular.
    cov = (1.0 - shrinkage) * cov + shrinkage * np.diag(np.diag(cov)) + 1e-3 * np.eye(dims)
    precision = np.linalg.inv(cov)
    return FrameGaussian(mean=mu, precision=(precision + precision.T) / 2.0)


def prominence(x: np.ndarray, *, width: int, gap: int = 1, rows: int = 1) -> np.ndarray:
    """Each value minus the mean of its neighbours `gap+1..width` bins away (edges replicated).

    Turns a log spectrum into "how far does each line stand above its local floor", which is
    what bearing impact rates and harmonics look like, and cancels broadband level changes
    (a louder background lifts a whole region, not one line). Applied per row of `rows`
    equal-length rows (e.g. one modulation spectrum per band).
    """
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    n, dims = x.shape
    r = x.reshape(n, rows, dims // rows)
    padded = np.pad(r, ((0, 0), (0, 0), (width, width)), mode="edge")
    kernel = prominence_kernel(width, gap)
    local = np.zeros_like(r)
    for i, w in enumerate(kernel):
        if w:
            local += w * padded[:, :, i : i + r.shape[2]]
    return (r - local).reshape(n, dims)


def prominence_kernel(width: int, gap: int) -> np.ndarray:
    kernel = np.ones(2 * width + 1)
    kernel[width - gap : width + gap + 1] = 0.0
    return kernel / kernel.sum()


def kfold_indices(n: int, folds: int, seed: int) -> list[np.ndarray]:
    """Held-out index sets of a shuffled k-fold split (folds capped at n: leave-one-out)."""
    order = np.random.default_rng(seed).permutation(n)
    return [part for part in np.array_split(order, min(folds, n)) if len(part)]
