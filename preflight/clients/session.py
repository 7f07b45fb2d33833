"""An HTTP session against one service: run tagging, auth headers and read-your-writes.

Every write response's X-Commit-LSN is remembered, and reads send the highest one seen as
X-Min-LSN, so a client always reads what it wrote even when reads go to a lagging replica.
"""

from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

import httpx

RUN_HEADER = "X-Preflight-Run"
COMMIT_LSN = "X-Commit-LSN"
MIN_LSN = "X-Min-LSN"


def lsn_value(text: str) -> int:
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


class ServiceSession:
    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        run_id: str | None = None,
        timeout: float = 10.0,
        read_your_writes: bool = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        default_headers = dict(headers or {})
        if run_id:
            default_headers[RUN_HEADER] = run_id
        self.http = httpx.Client(
            base_url=base_url, headers=default_headers, timeout=timeout, transport=transport
        )
        self.read_your_writes = read_your_writes
        self.last_commit_lsn: str | None = None

    def _remember(self, response: httpx.Response) -> httpx.Response:
        seen = response.headers.get(COMMIT_LSN)
        if seen and (
            self.last_commit_lsn is None or lsn_value(seen) > lsn_value(self.last_commit_lsn)
        ):
            self.last_commit_lsn = seen
        return response

    def sees_writes_of(self, other: "ServiceSession") -> Self:
        """Read at least what `other` has written so far (its commit LSN as X-Min-LSN): how a
        test shows a second user an order the first one just created, whatever the replica lag."""
        if other.last_commit_lsn is not None:
            self._remember(httpx.Response(200, headers={COMMIT_LSN: other.last_commit_lsn}))
        return self

    def read(
        self, path: str, *, params: Any = None, headers: Mapping[str, str] | None = None
    ) -> httpx.Response:
        sent = dict(headers or {})
        if self.read_your_writes and self.last_commit_lsn and MIN_LSN not in sent:
            sent[MIN_LSN] = self.last_commit_lsn
        return self._remember(self.http.get(path, params=params, headers=sent))

    def write(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        return self._remember(self.http.request(method, path, json=json, headers=headers))

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, *exc: tuple[type[BaseException] | None, BaseException | None, TracebackType | None]
    ) -> None:
        self.close()
