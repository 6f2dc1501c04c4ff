"""Is a count of bad events more than chance? A binomial tail, so that quiet steps do not page on noise."""

from __future__ import annotations

import math

# Conditions tested this way hold only when the count would happen by chance less than once in 1,000 windows.
ALPHA = 1e-3


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p): how likely `k` or more bad of `n` are if each is bad with `p`."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    log_p, log_q = math.log(p), math.log1p(-p)

    def term(i: int) -> float:
        return math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q

    # Above the mean the terms only fall, so the sum stops once they are too small to count (e^-40 of the
    # largest): a window of a million spans costs a few hundred terms, not a million.
    start = max(k, math.ceil(n * p))
    terms = [term(i) for i in range(k, start)]
    top = max(terms, default=term(start))
    for i in range(start, n + 1):
        t = term(i)
        terms.append(t)
        top = max(top, t)
        if t < top - 40:
            break
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))


def significantly_above(k: int, n: int, share: float, alpha: float = ALPHA) -> bool:
    """Whether `k` bad of `n` is clearly more than the share `share` allows."""
    return n > 0 and k / n > share and binomial_tail(k, n, share) < alpha
