"""Shared user classes, weights and data for the bundled Locust scenarios (Locust's docs call
this folder `common`)."""
