"""Locust scenarios, load shapes and SLOs of the order flow (see load/README.md)."""
