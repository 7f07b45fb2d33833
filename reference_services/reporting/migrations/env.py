"""Alembic environment for the reporting database."""

from reference_services.platform.migrations import run_environment
from reference_services.reporting.adapters.tables import metadata

run_environment(metadata)
