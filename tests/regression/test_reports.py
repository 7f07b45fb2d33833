"""After the order flow, the plant's reports through the gateway show what happened."""

from fixtures.order_flow import OrderFlow
from preflight.expect import expect_status
from preflight.waits import wait_until


def test_the_planners_reports_show_a_completed_and_a_cancelled_order(flow: OrderFlow) -> None:
    done = flow.accepted(flow.place(flow.customer()))["mes_order_id"]
    dropped = flow.accepted(flow.place(flow.customer()))["mes_order_id"]
    for action in ("release", "start", "complete"):
        expect_status(flow.planner.transition(done, action), 200)
    expect_status(flow.planner.transition(dropped, "cancel"), 200)
    plant = flow.plant.code

    def by_status() -> dict[str, int] | None:
        response = flow.planner.read("/reports/orders-by-status", params={"plant": plant})
        counts = {i["status"]: i["orders"] for i in expect_status(response, 200)["items"]}
        return counts if counts == {"completed": 1, "cancelled": 1} else None

    assert wait_until(by_status, timeout=20, description="the reports to catch up")
    lead = expect_status(flow.planner.read("/reports/lead-time", params={"plant": plant}), 200)
    assert [item["orders"] for item in lead["items"]] == [1]
    assert lead["items"][0]["p50_seconds"] >= 0
