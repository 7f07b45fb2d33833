"""Alembic environment for the notification database."""

from reference_services.notification.adapters.tables import metadata
from reference_services.platform.migrations import run_environment

run_environment(metadata)
