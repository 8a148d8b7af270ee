"""Per-tenant rate limits: a token bucket per tenant (``RECALLD_TENANT_RATE[S]``,
``RECALLD_TENANT_BURST``). Empty: :class:`RateLimited` (RESOURCE_EXHAUSTED naming the limit, with a
retry hint that the guard also sends as ``retry-after-ms`` trailing metadata)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from recalld.kernel.errors import ResourceExhausted
from recalld.server.config import Settings


@dataclass
class _Bucket:
    rate: float
    burst: float
    tokens: float
    at: float


class RateLimiter:
    """A token bucket per tenant (per process: N replicas admit up to N times the rate)."""

    def __init__(self, settings: Settings) -> None:
        self._default = settings.tenant.rate
        self._rates = {t: float(r) for t, r in settings.tenant.rates.items()}
        self._burst = settings.tenant.burst
        self._buckets: dict[str, _Bucket] = {}

    def admit(self, tenant: str) -> None:
        rate = self._rates.get(tenant, self._default)
        if rate <= 0:
            return
        now = time.monotonic()
        b = self._buckets.get(tenant)
        if b is None or b.rate != rate:
            burst = self._burst or max(1.0, rate)
            b = self._buckets[tenant] = _Bucket(rate, burst, burst, now)
        b.tokens = min(b.burst, b.tokens + (now - b.at) * b.rate)
        b.at = now
        if b.tokens >= 1.0:
            b.tokens -= 1.0
            return
        wait = (1.0 - b.tokens) / b.rate
        raise RateLimited(
            f"rate limit of tenant {tenant!r} reached ({rate:g} requests/s, burst {b.burst:g}); "
            f"retry after {wait:.2f} s",
            retry_after_s=wait,
        )


class RateLimited(ResourceExhausted):
    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s

    @property
    def trailing_metadata(self) -> tuple[tuple[str, str], ...]:
        """The retry hint for the caller, in milliseconds (at least 1)."""
        return (("retry-after-ms", str(max(1, round(self.retry_after_s * 1000)))),)
