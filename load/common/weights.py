"""How often each step of each bundled scenario runs: the one place to tune the mix. Every step
is one request, so an arrival rate is a request rate."""

ORDER_FLOW = {
    "crm_places_order": 4,
    "planner_releases_order": 3,
    "operator_starts_order": 2,
    "operator_starts_operation": 3,
    "operator_completes_operation": 3,
    "operator_checks_queue": 2,
    "operator_opens_order": 2,
    "planner_pulls_report": 1,
}

OPERATOR_BROWSING = {
    "queue_by_priority": 5,
    "order_details": 4,
    "work_center_queue": 2,
}

REPORTING_READS = {
    "orders_by_status": 4,
    "throughput_by_shift": 2,
    "lead_time": 2,
    "late_orders": 1,
    "orders_by_status_csv": 1,
}
