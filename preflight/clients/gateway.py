"""Client of the public API behind the gateway: the MES and CRM APIs under /api/v1, called with
one bearer token."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import httpx

from preflight.clients.crm import CrmClient
from preflight.clients.mes import MesClient
from preflight.targets import Target
from preflight.tokens import mint
from reference_services.platform.auth import ALL_PLANTS, RateLimit

API_PREFIX = "/api/v1"


class GatewayClient(MesClient, CrmClient):
    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        headers: Mapping[str, str] | None = None,
        run_id: str | None = None,
        timeout: float = 10.0,
        read_your_writes: bool = True,
    ) -> None:
        """`token` None sends no Authorization at all (the target's own one is dropped too)."""
        sent = {name: v for name, v in (headers or {}).items() if name.lower() != "authorization"}
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        self.gateway_url = base_url.rstrip("/")
        self.token = token
        super().__init__(
            self.gateway_url + API_PREFIX,
            headers=sent,
            run_id=run_id,
            timeout=timeout,
            read_your_writes=read_your_writes,
        )

    @classmethod
    def for_target(
        cls,
        target: Target,
        roles: str | Iterable[str],
        plants: str | Iterable[str] = (ALL_PLANTS,),
        *,
        run_id: str | None = None,
        subject: str | None = None,
        rate_limit: RateLimit | None = None,
    ) -> GatewayClient:
        """A client of the target's gateway holding a new token of these roles and plants."""
        token = mint(target, roles, plants, subject=subject, rate_limit=rate_limit)
        return cls(target.url("gateway"), token, headers=target.headers, run_id=run_id)

    def gateway(self, path: str, *, headers: Mapping[str, str] | None = None) -> httpx.Response:
        """GET one of the gateway's own endpoints (/health/ready, /metrics, /openapi.json)."""
        return self.http.get(self.gateway_url + path, headers=headers)


class GatewayCallers:
    """Clients of one target's gateway, each holding a new token (so its own rate-limit bucket);
    closing closes them all."""

    def __init__(self, target: Target, *, run_id: str | None = None) -> None:
        self.target = target
        self.run_id = run_id
        self.clients: list[GatewayClient] = []

    def __call__(
        self,
        roles: str | Iterable[str],
        plants: str | Iterable[str] = (ALL_PLANTS,),
        *,
        subject: str | None = None,
        rate_limit: RateLimit | None = None,
    ) -> GatewayClient:
        """A client with a new token; of a new subject (its own rate-limit bucket) unless given."""
        client = GatewayClient.for_target(
            self.target, roles, plants, run_id=self.run_id, subject=subject, rate_limit=rate_limit
        )
        self.clients.append(client)
        return client

    def with_token(self, token: str | None) -> GatewayClient:
        """A client sending exactly this token (None: none at all)."""
        client = GatewayClient(
            self.target.url("gateway"), token, headers=self.target.headers, run_id=self.run_id
        )
        self.clients.append(client)
        return client

    def close(self) -> None:
        for client in self.clients:
            client.close()
        self.clients.clear()

    def __enter__(self) -> GatewayCallers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
