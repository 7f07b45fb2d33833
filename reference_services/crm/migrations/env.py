"""Alembic environment for the CRM database."""

from reference_services.crm.adapters.tables import metadata
from reference_services.platform.migrations import run_environment

run_environment(metadata)
