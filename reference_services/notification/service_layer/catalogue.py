"""What the service knows: the event types a webhook can subscribe to, and its rules."""

from functools import cache

from reference_services.notification.domain.rules import ALERT_TYPES, CRM_CALLBACK_EVENTS
from reference_services.notification.settings import NotificationSettings
from reference_services.platform.events import known_types


@cache
def subscribable_types() -> frozenset[str]:
    return frozenset(known_types()) | frozenset(ALERT_TYPES)


def rules(settings: NotificationSettings) -> list[dict[str, object]]:
    crm: list[dict[str, object]] = (
        [
            {
                "name": "crm-callback",
                "on": event_type,
                "action": f"signed webhook to the CRM ({settings.crm_callback_path})",
            }
            for event_type in CRM_CALLBACK_EVENTS
        ]
        if settings.crm_url
        else []
    )
    return [
        *crm,
        {
            "name": "late-order",
            "on": "an open order past its due date",
            "action": "planner alert (feed and alert.order_late webhooks)",
        },
        {
            "name": "held-too-long",
            "on": "an order on hold longer than after_s",
            "action": "planner alert (feed and alert.order_held_too_long webhooks)",
            "after_s": settings.hold_alert_after_s,
        },
    ]
