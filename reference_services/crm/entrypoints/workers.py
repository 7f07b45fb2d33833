"""The CRM's background workers, run for the lifetime of the app: the submitter and the progress
poller, sharing one HTTP client to the gateway."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from prometheus_client import CollectorRegistry, Counter

from reference_services.crm.adapters.mes_gateway import MesGateway
from reference_services.crm.domain.model import SubmissionOutcome
from reference_services.crm.service_layer.progress import ProgressPoller
from reference_services.crm.service_layer.submitter import Submitter
from reference_services.crm.service_layer.unit_of_work import Transaction, UnitOfWork
from reference_services.crm.settings import CrmSettings
from reference_services.platform.backoff import Backoff
from reference_services.platform.db import Database


@dataclass
class Workers:
    http: httpx.AsyncClient
    submitter: Submitter
    poller: ProgressPoller


def build_workers(settings: CrmSettings, db: Database, registry: CollectorRegistry) -> Workers:
    submissions = Counter(
        "crm_mes_submissions_total",
        "Sales order submissions to the MES, by outcome (accepted, rejected, retry).",
        ["outcome"],
        registry=registry,
    )
    progress = Counter(
        "crm_mes_progress_applied_total",
        "MES status changes shown on sales orders.",
        registry=registry,
    )

    def counted(outcome: SubmissionOutcome) -> None:
        submissions.labels(type(outcome).__name__.lower()).inc()

    def transaction() -> Transaction:
        return UnitOfWork(db)

    http = httpx.AsyncClient(
        base_url=settings.gateway_url.rstrip("/"),
        timeout=settings.gateway_timeout_s,
        headers={"User-Agent": "preflight-crm"},
    )
    gateway = MesGateway(http, settings.service_token)
    return Workers(
        http=http,
        submitter=Submitter(
            transaction,
            gateway,
            backoff=Backoff(settings.submit_backoff_base_s, settings.submit_backoff_cap_s),
            batch_size=settings.submit_batch_size,
            lease_s=settings.submit_lease_s,
            scan_interval_s=settings.submit_scan_interval_s,
            on_settled=counted,
        ),
        poller=ProgressPoller(
            transaction,
            gateway,
            interval_s=settings.status_poll_interval_s,
            overlap_s=settings.status_poll_overlap_s,
            page_size=settings.status_poll_page_size,
            on_applied=progress.inc,
        ),
    )


@asynccontextmanager
async def running(workers: Workers, *, enabled: bool = True) -> AsyncIterator[None]:
    tasks = (
        [
            asyncio.create_task(workers.submitter.run(), name="crm-submitter"),
            asyncio.create_task(workers.poller.run(), name="crm-progress-poller"),
        ]
        if enabled
        else []
    )
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await workers.http.aclose()
