"""The `preflight` command: thin Typer commands over the library, Rich output.

Command groups are Typer sub-apps: write `group_app = typer.Typer(...)` next to its library code
or here, then `app.add_typer(group_app, name="group")`; a single command is `@app.command()`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from preflight import stack
from preflight.gate import gate_command
from preflight.verdict import ExitCode
from reference_services.catalog import spec

console = Console()
err_console = Console(stderr=True, soft_wrap=True)


NOTHING_RUNNING = 1

app = typer.Typer(
    name="preflight",
    help="Release gate for the MES/CRM system: functional suites, contracts, load, one verdict.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
stack_app = typer.Typer(
    help="The embedded reference stack: PostgreSQL primary + replica, Redis, the services.",
    no_args_is_help=True,
)
app.add_typer(stack_app, name="stack")
app.command("gate")(gate_command)


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what happens.")] = False,
) -> None:
    """Release gate for the MES/CRM system."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False)],
    )


def fail(message: str, code: int, *, details: str = "") -> NoReturn:
    """One clear line on stderr (plus optional details), then exit with `code`."""
    err_console.print(f"[bold red]error:[/] {message}", markup=True, highlight=False)
    if details:
        err_console.print(details, markup=False, highlight=False, style="dim")
    raise typer.Exit(code)


@contextmanager
def stack_errors() -> Iterator[None]:
    """Turn stack errors into the gate's exit codes."""
    try:
        yield
    except KeyboardInterrupt:
        err_console.print("interrupted")
        raise typer.Exit(130) from None
    except (stack.StackConfigError, stack.StackAlreadyRunning, stack.StackBusy) as error:
        fail(str(error), ExitCode.USAGE)
    except stack.StackError as error:
        summary, _, details = str(error).partition("\n")
        fail(summary, ExitCode.TARGET_UNHEALTHY, details=details)


Services = Annotated[
    list[str] | None,
    typer.Option("--service", "-s", help="Start only this service (repeatable); default: all."),
]
Timeout = Annotated[
    float, typer.Option(help="Seconds to wait for the whole stack to become healthy.")
]


@stack_app.command("up")
def stack_up(
    keep: Annotated[
        bool, typer.Option("--keep", help="Leave the stack running and return at once.")
    ] = False,
    reuse: Annotated[
        bool, typer.Option("--reuse", help="With --keep: accept a stack that already runs.")
    ] = False,
    services: Services = None,
    timeout: Timeout = stack.READY_TIMEOUT,
    with_prometheus: Annotated[
        bool,
        typer.Option(
            "--with-prometheus",
            help="Also run Prometheus scraping every service, with the alert rules loaded.",
        ),
    ] = False,
) -> None:
    """Start the stack; stop it on Ctrl-C (or leave it running with --keep)."""
    began = time.monotonic()
    with stack_errors():
        if keep:
            with console.status("starting the reference stack") as display:
                info = stack.start(
                    services=services,
                    keep=True,
                    reuse=reuse,
                    timeout=timeout,
                    with_prometheus=with_prometheus,
                    progress=lambda step: display.update(f"{step}…"),
                )
            print_stack(info, began)
            console.print("Left running: [bold]preflight stack down[/] stops it.")
            return
        display = console.status("starting the reference stack")
        display.start()
        try:
            with stack.running(
                services=services,
                timeout=timeout,
                with_prometheus=with_prometheus,
                progress=lambda step: display.update(f"{step}…"),
            ) as info:
                display.stop()
                print_stack(info, began)
                console.print("Press Ctrl-C to stop the stack.")
                watch(info)
        except KeyboardInterrupt:
            console.print("Stack stopped.")
            return
        finally:
            display.stop()


@stack_app.command("down")
def stack_down() -> None:
    """Stop the stack (also one left by a crashed or --keep run) and remove its data."""
    with stack_errors():
        info, stale = stack.status(), stack.problems()
        stack.stop()
    if info is not None:
        console.print(f"Stopped stack {info.run_id}.")
    else:
        console.print("Cleaned up a stale stack." if stale else "No stack was running.")


@stack_app.command("status")
def stack_status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Show the running stack's URLs and DSNs; exit 1 when none runs."""
    info = stack.status()
    if info is None:
        found = stack.problems()
        fail(
            "no stack running" + (f" (stale: {'; '.join(found)})" if found else ""),
            NOTHING_RUNNING,
        )
    if as_json:
        typer.echo(json.dumps(stack_json(info), indent=2))
    else:
        console.print(stack_table(info))


def watch(info: stack.StackInfo) -> None:
    """Block until Ctrl-C, or until the stack goes away underneath us."""
    while True:
        time.sleep(1.0)
        current = stack.status()
        if current is not None and current.run_id == info.run_id:
            continue
        found = stack.problems()
        if found:
            fail(f"the stack broke: {'; '.join(found)}", ExitCode.TARGET_UNHEALTHY)
        console.print("The stack was stopped by another command.")
        return


def print_stack(info: stack.StackInfo, began: float) -> None:
    console.print(stack_table(info))
    console.print(
        f"Stack [bold]{info.run_id}[/] ready in {time.monotonic() - began:.1f} s "
        f"(logs in {stack.default_state_dir() / 'logs'})"
    )


def stack_table(info: stack.StackInfo) -> Table:
    table = Table(title=f"Preflight stack {info.run_id}", show_header=True)
    table.add_column("component")
    table.add_column("address", overflow="fold")
    for name, url in info.services.items():
        table.add_row(f"service {name}", url)
    table.add_row("postgres primary", info.postgres_primary)
    table.add_row("postgres replica", info.postgres_replica)
    for name, dsns in databases(info).items():
        table.add_row(f"database {name}", dsns["primary"])
        table.add_row(f"database {name} (replica)", dsns["replica"])
    table.add_row("redis", info.redis_url)
    if info.prometheus_url:
        table.add_row("prometheus", info.prometheus_url)
    return table


def stack_json(info: stack.StackInfo) -> dict[str, object]:
    return {
        "run_id": info.run_id,
        "services": [{"name": name, "url": url} for name, url in info.services.items()],
        "postgres": {
            "primary": info.postgres_primary,
            "replica": info.postgres_replica,
            "databases": databases(info),
        },
        "redis": info.redis_url,
        "prometheus": info.prometheus_url or None,
    }


def databases(info: stack.StackInfo) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for name in info.services:
        service = spec(name)
        database = service.database
        if database is not None and service.migrates:  # a worker on another's database
            found[name] = {
                "primary": info.database_dsn(database),
                "replica": info.database_dsn(database, replica=True),
            }
    return found


from preflight.seed import seed_command  # noqa: E402  (seed owns its command; registered here)

app.command("seed")(seed_command)

from preflight.tokens import token_command  # noqa: E402  (tokens owns its command; registered here)

app.command("token")(token_command)

from preflight.contract_diff import contract_app  # noqa: E402  (contract owns its sub-app)
from preflight.openapi_check import contract_check_command  # noqa: E402

contract_app.callback(invoke_without_command=True)(contract_check_command)
app.add_typer(contract_app, name="contract")

from preflight.load.commands import load_app  # noqa: E402  (load owns its sub-app)

app.add_typer(load_app, name="load")
