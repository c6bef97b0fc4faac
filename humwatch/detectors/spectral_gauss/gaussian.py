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
- `BandMaxGaussian` on band modulation spectra: a one-sided line Gaussian whose largest z^2 per
  band is standardised by that band's out-of-fold maxima (inner k-fold), then maxed over bands.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DiagonalGaussian:
    mean: np.ndarray  # [D]
    inv_std: np.ndarray  # [D]
    top_k: int  # the score averages the top_k squared z-scores (D: all)
    # Count only rises (z > 0): a fault adds modulation lines, it does not remove them, and a
    # line below its normal level is no evidence of anything. Halves the noise of a max.
    one_sided: bool = False

    def score(self, x: np.ndarray) -> np.ndarray:
        """Score per row of x [N, D] -> [N]."""
        z = (np.atleast_2d(x) - self.mean) * self.inv_std
        if self.one_sided:
            z = np.maximum(z, 0.0)
        z2 = z * z
        if self.top_k < z2.shape[1]:
            z2 = np.partition(z2, z2.shape[1] - self.top_k, axis=1)[:, -self.top_k :]
        return np.asarray(np.mean(z2, axis=1))


def fit_diagonal(
    x: np.ndarray,
    *,
    top_fraction: float = 1.0,
    prior_clips: float = 4.0,
    floor_db: float = 0.25,
    top_k: int | None = None,
    one_sided: bool = False,
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
    k = top_k if top_k is not None else round(top_fraction * dims)
    return DiagonalGaussian(
        mean=x.mean(axis=0), inv_std=1.0 / np.sqrt(shrunk), top_k=max(1, min(dims, k)), one_sided=one_sided
    )


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


@dataclass(frozen=True)
class BandMaxGaussian:
    """One-sided line Gaussian whose maximum is taken per band, each band in its own units.

    A band's largest z^2 over hundreds of lines has its own null distribution (a band where other
    machines' modulation lives throws larger maxima than a quiet one). Each band's log maximum is
    standardised by the mean and spread of that band's out-of-fold maxima on the training clips,
    and the score is exp(max over bands): "how unusual is the most unusual band".
    """

    lines: DiagonalGaussian  # one-sided, per line
    rows: int
    centre: np.ndarray  # [rows] mean of the OOF log band maxima
    inv_spread: np.ndarray  # [rows]

    def band_maxima(self, x: np.ndarray) -> np.ndarray:
        """[N, rows]: each band's largest one-sided z^2."""
        z = np.maximum((np.atleast_2d(x) - self.lines.mean) * self.lines.inv_std, 0.0)
        return np.asarray((z * z).reshape(z.shape[0], self.rows, -1).max(axis=2))

    def score(self, x: np.ndarray) -> np.ndarray:
        logs = np.log(np.maximum(self.band_maxima(x), BAND_MAX_FLOOR))
        return np.asarray(np.exp(np.max((logs - self.centre) * self.inv_spread, axis=1)))


BAND_MAX_FLOOR = 1e-3  # a band whose lines all fell scores this (log stays finite)


def fit_band_max(
    x: np.ndarray,
    *,
    rows: int,
    folds: int = 5,
    seed: int = 0,
    prior_clips: float = 4.0,
    floor_db: float = 0.25,
    spread_floor: float = 0.5,
) -> BandMaxGaussian:
    """Fit the line Gaussian on all rows of x [N, rows*L] and each band's null by inner k-fold.

    With fewer than 4 clips an inner split would fit on a single clip: the bands are then left
    unstandardised (centre 0, spread 1).
    """
    x = np.asarray(x, dtype=np.float64)
    lines = fit_diagonal(x, prior_clips=prior_clips, floor_db=floor_db, one_sided=True)
    n = x.shape[0]
    if n < 4:
        return BandMaxGaussian(lines, rows, np.zeros(rows), np.ones(rows))
    oof = np.zeros((n, rows))
    for held in kfold_indices(n, folds, seed):
        keep = np.setdiff1d(np.arange(n), held)
        inner = fit_diagonal(x[keep], prior_clips=prior_clips, floor_db=floor_db, one_sided=True)
        oof[held] = BandMaxGaussian(inner, rows, np.zeros(rows), np.ones(rows)).band_maxima(x[held])
    logs = np.log(np.maximum(oof, BAND_MAX_FLOOR))
    spread = np.maximum(logs.std(axis=0), spread_floor)
    return BandMaxGaussian(lines, rows, logs.mean(axis=0), 1.0 / spread)
