"""Fault tools: a TCP fault proxy with Toxiproxy's vocabulary (`proxy`) and process faults on the
embedded stack (`processes`), proxies placed between a stack's service and its PostgreSQL and Redis
(`placement`); every fault is a context manager that heals on leaving its block."""

from preflight.faults.placement import ServicePaths, behind_fault_proxies, path_faulted
from preflight.faults.processes import (
    Fault,
    primary_crashed,
    redis_paused,
    redis_restarted,
    replica_promoted,
    replica_stopped,
    service_killed,
    service_paused,
)
from preflight.faults.proxy import (
    Bandwidth,
    FaultProxy,
    Latency,
    ResetPeer,
    Slicer,
    Timeout,
    Toxic,
)

__all__ = [
    "Bandwidth",
    "Fault",
    "FaultProxy",
    "Latency",
    "ResetPeer",
    "ServicePaths",
    "Slicer",
    "Timeout",
    "Toxic",
    "behind_fault_proxies",
    "path_faulted",
    "primary_crashed",
    "redis_paused",
    "redis_restarted",
    "replica_promoted",
    "replica_stopped",
    "service_killed",
    "service_paused",
]
