"""The alert scanner: every interval, raises the alerts that have come due (late orders, orders
on hold too long). Each is raised once, also with several scanners running."""

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry, Counter

from reference_services.notification.adapters import alert_store
from reference_services.platform.db import Database


class AlertScanner:
    def __init__(
        self,
        db: Database,
        *,
        hold_after: timedelta,
        interval_s: float,
        registry: CollectorRegistry,
        on_raised: Callable[[], None] = lambda: None,
    ) -> None:
        self.db = db
        self.hold_after = hold_after
        self.interval_s = interval_s
        self.on_raised = on_raised
        self.raised = Counter(
            "notification_alerts_raised_total",
            "Alerts raised, by type.",
            ["type"],
            registry=registry,
        )

    async def run(self) -> None:
        while True:
            await self.scan()
            await asyncio.sleep(self.interval_s)

    async def scan(self, now: datetime | None = None) -> int:
        """Raise every alert due at `now`; returns how many were raised."""
        at = now or datetime.now(UTC)
        raised = 0
        async with self.db.write() as write:
            for alert in await alert_store.due_alerts(write.conn, at, self.hold_after):
                if await alert_store.raise_alert(write.conn, alert):
                    self.raised.labels(alert.type).inc()
                    raised += 1
        if raised:
            self.on_raised()
        return raised
