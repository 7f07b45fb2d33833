"""Alembic environment for the MES database."""

from reference_services.mes.adapters.tables import metadata
from reference_services.platform.migrations import run_environment

run_environment(metadata)
