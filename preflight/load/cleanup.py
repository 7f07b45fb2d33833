"""`preflight load cleanup --run ID`: a load run's orders (order_ref `PF-<run id>-...`) that are
still open are cancelled on the target, through its gateway as an admin."""

from preflight.clients.gateway import GatewayClient
from preflight.targets import Target

OPEN = ("planned", "released", "on_hold")


def cleanup_run(target: Target, run_id: str) -> tuple[int, int]:
    """(cancelled, seen): how many open orders of the run were cancelled, of how many found."""
    prefix = f"PF-{run_id}-"
    cancelled = seen = 0
    with GatewayClient.for_target(target, "admin", run_id=run_id) as admin:
        for order in list(admin.iter_orders(status=list(OPEN))):
            if not str(order.get("order_ref", "")).startswith(prefix):
                continue
            seen += 1
            if admin.transition(order["id"], "cancel").status_code == 200:
                cancelled += 1
    return cancelled, seen
