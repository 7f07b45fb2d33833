"""The CRM: customers (contacts, plant) and their sales orders, which it places with the MES.

Placing a sales order commits the order and its pending submission in one transaction; a
background submitter sends it to the MES through the gateway (POST /api/v1/orders, Idempotency-Key
= the sales order id), retrying with exponential backoff and jitter until the MES accepts or
rejects it (status submitted -> accepted | rejected with the MES's reason).

The CRM learns production progress by *polling* the gateway's order feed (GET /api/v1/orders?
updated_since=<watermark - overlap>&sort=updated_at), not from callbacks:
- it survives CRM restarts and lost messages: the watermark lives in the CRM's database, so
  whatever changed while the CRM was down or a request failed is read on the next poll, where a
  callback sent at the wrong moment is gone unless its sender keeps a durable retry queue;
- it needs nothing from the MES: no subscriber registry, no outbound calls from the MES to the
  CRM (the MES never waits on or depends on the CRM), no inbound endpoint on the CRM to secure;
- duplicates and reordering are harmless: a change is applied only when its MES version is newer
  than the one the sales order holds.
The price is a delay of up to one poll interval (CRM_STATUS_POLL_INTERVAL_S, 0.5 s) plus the MES
replica's lag, and one feed request per interval while any sales order can still change (none
while every order is rejected, completed or cancelled).

The notification service also calls back when an order completes (POST /callbacks/mes-orders,
signed with CRM_WEBHOOK_SECRET): the CRM records it once per event (completion_notified_at on
the sales order) and polls at once. The callback is a hint that shortens the wait; the feed stays
the source of the status, so a lost callback costs nothing.
"""
