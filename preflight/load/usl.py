"""The Universal Scalability Law fitted to a capacity search's steps.

    X(N) = lambda * N / (1 + sigma * (N - 1) + kappa * N * (N - 1))

N is the concurrency the target held during a step (Little's law: N = X * R, throughput times
mean response time), X its throughput. sigma is contention (the serial share: queueing for a
lock, a pool, a single core), kappa coherency (the cost of keeping N workers in agreement, which
makes throughput fall beyond a peak), lambda the throughput of one worker. With kappa > 0 the
peak is at N* = sqrt((1 - sigma) / kappa).

A fit is only reported as meaningful when it can be: at least MIN_POINTS steps at different
concurrencies, a converged least-squares fit and R squared of at least MIN_R_SQUARED. A fit with
kappa ~ 0 predicts no peak (throughput levels off at lambda / sigma instead) and is reported as
not meaningful for a peak, rather than with an astronomically large N*.
"""

import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

MIN_POINTS = 4
"""Three parameters need more than three points to say anything about the fit's quality."""
MIN_R_SQUARED = 0.8
KAPPA_EPSILON = 1e-7
"""Below this kappa the data show no coherency penalty: no retrograde peak to predict."""
SIGMA_EPSILON = 1e-4


@dataclass(frozen=True)
class UslFit:
    meaningful: bool
    reason: str
    """Why the fit is (not) meaningful, in words for the report."""
    points: int
    sigma: float | None = None
    kappa: float | None = None
    lambda_: float | None = None
    r_squared: float | None = None
    peak_concurrency: float | None = None
    """N*: None when kappa ~ 0 (no peak in sight) or the fit is not meaningful."""
    peak_throughput: float | None = None
    """X(N*), None with N*."""

    def to_json(self) -> dict[str, Any]:
        document = asdict(self)
        document["lambda"] = document.pop("lambda_")
        return document


def throughput(n: Any, lambda_: float, sigma: float, kappa: float) -> Any:
    """X(N) of the law (numpy arrays or floats)."""
    return lambda_ * n / (1 + sigma * (n - 1) + kappa * n * (n - 1))


def fit(points: Sequence[tuple[float, float]]) -> UslFit:
    """Fit (concurrency, throughput) points; never raises on bad data, says why instead."""
    import numpy as np  # here: scipy takes seconds to import, and most commands never fit
    from scipy.optimize import OptimizeWarning, curve_fit

    usable = [(n, x) for n, x in points if n > 0 and x > 0 and math.isfinite(n * x)]
    distinct = len({round(n, 3) for n, _ in usable})
    if distinct < MIN_POINTS:
        return UslFit(
            meaningful=False,
            reason=f"fit not meaningful: {distinct} distinct concurrencies, needs {MIN_POINTS}",
            points=len(usable),
        )
    n = np.array([p[0] for p in usable], dtype=float)
    x = np.array([p[1] for p in usable], dtype=float)
    guess_lambda = float(max(x / n))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", OptimizeWarning)
            params, _ = curve_fit(
                throughput,
                n,
                x,
                p0=(guess_lambda, 0.05, 0.001),
                bounds=((0.0, 0.0, 0.0), (np.inf, 1.0, np.inf)),
                maxfev=20_000,
            )
    except (RuntimeError, ValueError, OptimizeWarning) as error:
        return UslFit(meaningful=False, reason=f"fit not meaningful: {error}", points=len(usable))
    lambda_, sigma, kappa = (float(p) for p in params)
    residual = float(np.sum((x - throughput(n, lambda_, sigma, kappa)) ** 2))
    total = float(np.sum((x - x.mean()) ** 2))
    r_squared = 1.0 - residual / total if total > 0 else 0.0
    peak_n: float | None = None
    peak_x: float | None = None
    if r_squared < MIN_R_SQUARED:
        meaningful, reason = False, f"fit not meaningful: R^2 {r_squared:.3f} < {MIN_R_SQUARED}"
    elif kappa <= KAPPA_EPSILON:
        meaningful = False
        reason = (
            f"fit not meaningful for a peak: kappa ~ 0 (R^2 {r_squared:.3f}), the steps show no "
            "coherency penalty"
            + (
                f"; throughput would level off near {lambda_ / sigma:.1f}/s"
                if sigma > SIGMA_EPSILON
                else ", nor contention: throughput grew linearly over the range tested"
            )
        )
    else:
        meaningful = True
        peak_n = math.sqrt((1 - sigma) / kappa)
        peak_x = float(throughput(peak_n, lambda_, sigma, kappa))
        reason = f"R^2 {r_squared:.3f}; peak {peak_x:.1f}/s at N* = {peak_n:.1f}"
    return UslFit(
        meaningful=meaningful,
        reason=reason,
        points=len(usable),
        sigma=sigma,
        kappa=kappa,
        lambda_=lambda_,
        r_squared=r_squared,
        peak_concurrency=peak_n,
        peak_throughput=peak_x,
    )
