"""Alembic migrations, one history per service, run against a plain libpq URL."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData

SERVICES_ROOT = Path(__file__).resolve().parent.parent


def alembic_config(service: str, dsn: str) -> Config:
    script_location = SERVICES_ROOT / service / "migrations"
    if not script_location.is_dir():
        raise FileNotFoundError(f"service {service!r} has no migrations at {script_location}")
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.set_main_option("sqlalchemy.url", sync_url(dsn))
    return config


def sync_url(dsn: str) -> str:
    _, sep, rest = dsn.partition("://")
    if not sep:
        raise ValueError(f"not a database URL: {dsn!r}")
    return f"postgresql+psycopg://{rest}"


def async_url(dsn: str) -> str:
    _, _, rest = dsn.partition("://")
    return f"postgresql+asyncpg://{rest}"


def upgrade(service: str, dsn: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(service, dsn), revision)


def run_environment(metadata: MetaData) -> None:
    """The body of a service's migrations/env.py: migrate online against the configured URL."""
    from alembic import context
    from sqlalchemy import engine_from_config, pool

    config = context.config
    connectable = engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
    connectable.dispose()
