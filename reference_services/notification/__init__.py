"""The notification service: turns MES events into webhooks and planner alerts.

It consumes the `mes.events` stream in its own consumer group. Each event, in one transaction with
its inbox row, updates the service's view of the order (status, due date, when it went on hold)
and queues one delivery per matching webhook subscription; the CRM's completion callback is a
subscription the service keeps itself. A scanner raises alerts for orders past their due date and
orders on hold longer than the configured time: each alert goes to the in-app feed (read per
user) and, as an event of its own, to the webhooks subscribed to it. A delivery worker sends the
queued webhooks, signed (reference_services.platform.webhook_signatures), retrying with
exponential backoff and jitter and logging every attempt.
"""
