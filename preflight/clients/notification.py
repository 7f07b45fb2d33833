"""Client of the notification API: webhook subscriptions, their delivery log, the alert feed."""

from typing import Any

import httpx

from preflight.clients.session import ServiceSession

USER_HEADER = "X-User"


class NotificationClient(ServiceSession):
    def create_subscription(
        self,
        url: str,
        events: list[str],
        *,
        plant: str | None = None,
        description: str = "",
        idempotency_key: str | None = None,
    ) -> httpx.Response:
        body: dict[str, Any] = {"url": url, "events": events, "description": description}
        if plant is not None:
            body["plant"] = plant
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return self.write("POST", "/webhooks", json=body, headers=headers)

    def subscriptions(self) -> httpx.Response:
        return self.read("/webhooks")

    def subscription(self, subscription_id: str) -> httpx.Response:
        return self.read(f"/webhooks/{subscription_id}")

    def delete_subscription(self, subscription_id: str) -> httpx.Response:
        return self.write("DELETE", f"/webhooks/{subscription_id}")

    def deliveries(
        self,
        subscription_id: str,
        *,
        event_id: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> httpx.Response:
        params = {"event_id": event_id, "limit": limit, "cursor": cursor}
        return self.read(
            f"/webhooks/{subscription_id}/deliveries",
            params={k: v for k, v in params.items() if v is not None},
        )

    def feed(
        self,
        user: str,
        *,
        unread: bool = False,
        before: int | None = None,
        limit: int | None = None,
    ) -> httpx.Response:
        params: dict[str, Any] = {"unread": "true"} if unread else {}
        params |= {k: v for k, v in {"before": before, "limit": limit}.items() if v is not None}
        return self.read("/feed", params=params, headers={USER_HEADER: user})

    def mark_read(self, user: str, number: int) -> httpx.Response:
        return self.write("POST", f"/feed/{number}/read", headers={USER_HEADER: user})

    def rules(self) -> httpx.Response:
        return self.read("/rules")
