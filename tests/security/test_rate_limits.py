"""OWASP API4 (unrestricted resource consumption): the gateway limits each identity (the token's
subject), not each address. Every test here calls from 127.0.0.1, so a limit keyed by address
would refuse the bystanders too. The single-caller behaviour (429, Retry-After, the refusal
counter) is tests/api/test_gateway_rate_limit.py."""

import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx

from preflight.clients.gateway import GatewayCallers, GatewayClient
from preflight.expect import expect_problem, expect_status
from reference_services.platform.auth import RateLimit

BURST = 3
SPARING = RateLimit(per_second=0.01, burst=BURST)  # one token back every 100 s: none in a test
AMPLE = RateLimit(per_second=50, burst=50)


def statuses(responses: list[httpx.Response]) -> list[int]:
    return sorted(r.status_code for r in responses)


def test_an_identity_over_its_burst_is_refused_while_another_is_served_at_the_same_moment(
    callers: GatewayCallers,
) -> None:
    greedy = callers("operator", rate_limit=SPARING)
    bystander = callers("operator", rate_limit=AMPLE)
    clients = [greedy, bystander] * 12  # interleaved, sent together from the same address

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda c: c.list_orders(limit=1), clients))

    greedy_got = responses[0::2]
    assert statuses(responses[1::2]) == [200] * 12, "the bystander was limited too"
    assert statuses(greedy_got) == [200] * BURST + [429] * (12 - BURST)
    for refused in (r for r in greedy_got if r.status_code == 429):
        expect_problem(refused, 429, "rate-limited")
        assert int(refused.headers["retry-after"]) >= 1


def exhausted(client: GatewayClient) -> httpx.Response:
    """Spend the client's burst; the refusal that follows."""
    for _ in range(BURST):
        expect_status(client.list_orders(limit=1), 200)
    return client.list_orders(limit=1)


def test_the_bucket_follows_the_identity_not_the_token_or_the_address(
    callers: GatewayCallers,
) -> None:
    subject = f"greedy-{uuid.uuid4().hex[:12]}"
    first = callers("operator", subject=subject, rate_limit=SPARING)
    expect_problem(exhausted(first), 429, "rate-limited")

    fresh_token = callers("operator", subject=subject, rate_limit=SPARING)
    other_subject = callers("operator", rate_limit=SPARING)
    spoofed = {
        "X-Forwarded-For": "203.0.113.7",
        "X-Real-IP": "203.0.113.8",
        "Forwarded": "for=203.0.113.9",
    }

    expect_problem(fresh_token.list_orders(limit=1), 429, "rate-limited")
    expect_problem(first.http.get("/orders", headers=spoofed), 429, "rate-limited")
    expect_status(other_subject.list_orders(limit=1), 200)
