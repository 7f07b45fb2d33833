"""Load testing on Locust: the open-model user, HDR recording merged across workers, SLO gates,
results and the `preflight load` commands."""
