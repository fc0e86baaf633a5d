"""The `circlebot` command line: serve, socket, migrate, tick, the sandbox and the demo."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from slack_bolt.error import BoltError
from sqlalchemy.exc import OperationalError

from bot.app import bootstrap, build_app, shutdown, start_scheduler
from bot.core.logs import setup_logging
from bot.core.settings import ConfigError, Settings, load_settings
from bot.core.web import WebServer, make_wsgi_app, stop_on_signals
from bot.data_rights.retention import retention_job
from bot.demo import run as simulation
from bot.sandbox.run import run_sandbox, send
from prompts import questions
from storage.db import Database
from storage.migrate import current_revision

if TYPE_CHECKING:
    pass

logger = logging.getLogger("circlebot")

cli = typer.Typer(
    name="circlebot",
    help="Circlebot runs peer coaching circles in Slack.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_CONFIG = 2
EXIT_RUNTIME = 1


def fail(message: str, status: int = EXIT_CONFIG) -> NoReturn:
    typer.echo(f"circlebot: {message}", err=True)
    raise typer.Exit(status)


@contextmanager
def startup_errors() -> Iterator[None]:
    """Turn known start-up failures into one line on stderr and an exit status."""
    try:
        yield
    except (ConfigError, questions.QuestionSetError) as error:
        fail(str(error))
    except BoltError as error:
        fail(f"Slack refused the credentials: {error}. Check SLACK_BOT_TOKEN.")
    except OperationalError as error:
        fail(f"DATABASE_URL: cannot connect ({error.orig}).", EXIT_RUNTIME)


def _settings(**overrides: object) -> Settings:
    settings = load_settings(**overrides)

    setup_logging(settings.log_level, settings.secrets())
    return settings


@cli.command()
def migrate() -> None:
    """Upgrade the database schema to the newest version and exit."""
    with startup_errors():
        settings = _settings()

        questions.configure(settings.prompts_dir)  # a broken question set refuses start-up here too
        db = Database(settings.database_url)
        db.upgrade()
        typer.echo(f"database {db.safe_url} is at revision {current_revision(db.engine)}")
        db.dispose()


@cli.command()
def serve(
    port: Annotated[
        int | None, typer.Option(help="Port to listen on (default: $PORT or 3000).")
    ] = None,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "0.0.0.0",  # noqa: S104
    sandbox: Annotated[
        bool,
        typer.Option("--sandbox", help="Run against the in-repo fake Slack; no workspace needed."),
    ] = False,
) -> None:
    """Serve Slack's HTTP requests on POST /slack/events (health on GET /healthz)."""
    if sandbox:
        with startup_errors():
            run_sandbox(port=port)
        return
    overrides: dict[str, object] = {} if port is None else {"port": port}
    with startup_errors():
        settings = _settings(**overrides)
        settings.require("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET")
        run_http(settings, host=host)


def run_http(settings: Settings, *, host: str, ready: threading.Event | None = None) -> None:

    services = bootstrap(settings)
    app = build_app(services)
    server = WebServer(make_wsgi_app(app, services.db), host=host, port=settings.port)
    if threading.current_thread() is threading.main_thread():
        stop_on_signals(server.stop)
    scheduler = start_scheduler(services)
    logger.info(
        "Circlebot listening on %s/slack/events (database %s)", server.url, services.db.safe_url
    )
    if ready is not None:
        ready.set()
    try:
        server.serve_forever()
    finally:
        shutdown(services, scheduler)


@cli.command()
def socket() -> None:
    """Connect to Slack over Socket Mode (needs SLACK_APP_TOKEN; no public URL needed)."""
    with startup_errors():
        settings = _settings()
        settings.require("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN")
        run_socket(settings)


def run_socket(settings: Settings) -> None:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    services = bootstrap(settings)
    app = build_app(services, socket_mode=True)
    assert settings.slack_app_token is not None
    handler = SocketModeHandler(
        app, app_token=settings.slack_app_token.get_secret_value(), web_client=services.client
    )
    stopping = threading.Event()
    stop_on_signals(stopping.set)
    handler.connect()
    scheduler = start_scheduler(services)
    logger.info("Circlebot connected over Socket Mode (database %s)", services.db.safe_url)
    try:
        stopping.wait()
    finally:
        handler.close()
        shutdown(services, scheduler)


def parse_instant(value: str) -> datetime:
    """An ISO 8601 moment with a zone, e.g. 2026-12-07T14:00:00Z."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        fail(f"--at: expected an ISO time with a zone, e.g. 2026-12-07T14:00:00Z, got {value!r}")
    if moment.tzinfo is None:
        fail(f"--at: {value!r} has no time zone; add Z for UTC, e.g. 2026-12-07T14:00:00Z")
    return moment.astimezone(UTC)


@cli.command()
def tick(
    at: Annotated[
        str | None,
        typer.Option(help="Do the work due at this moment (ISO with zone); default: now."),
    ] = None,
) -> None:
    """Send everything due now (or --at a moment) exactly once, then exit.

    Safe to run from cron or by hand while `serve` runs: every message is claimed under a
    unique key first. Work older than MISSED_GRACE_HOURS is recorded as missed, not sent.
    With DATA_RETENTION_DAYS set it also clears text people wrote older than that (idempotent).
    """
    moment = parse_instant(at) if at else None
    with startup_errors():
        settings = _settings()
        settings.require("SLACK_BOT_TOKEN")

        services = bootstrap(settings)
        now = moment or services.clock()
        report = services.deliverer.tick(now)
        days = settings.data_retention_days
        retention = None if days is None else retention_job(services.db, days)(now)
        services.db.dispose()
    typer.echo(f"tick at {now:%Y-%m-%dT%H:%M:%SZ}: {report.line()}")
    if retention is not None:
        typer.echo(retention)


@cli.command()
def demo(
    participants: Annotated[
        int, typer.Option(help="Simulated participants in the circle (3 to 200).")
    ] = 12,
    weeks: Annotated[int, typer.Option(help="Weeks to simulate (1 to 52).")] = 4,
    seed: Annotated[int, typer.Option(help="Same seed, same people and answers.")] = 7,
    out: Annotated[
        Path,
        typer.Option(help="Folder for the digests, charts, transcript, summary and log."),
    ] = Path("demo-output"),
) -> None:
    """Watch weeks of a circle in seconds: the real bot, a fake Slack, simulated people.

    The bot's HTTP app, ticks, SQLite storage and digests run against the in-repo fake Slack.

    Prints the last leaders' digest as text; writes digests, charts and a transcript to --out.

    A previous demo's --out folder is replaced; any other non-empty folder is refused.
    """

    config = simulation.DemoConfig(participants=participants, weeks=weeks, seed=seed, out=out)
    try:
        simulation.check_config(config)
    except simulation.DemoError as error:
        fail(str(error))
    with startup_errors(), _demo_progress(weeks) as progress:
        try:
            result = simulation.run_demo(config, progress=progress)
        except simulation.DemoFailed as error:
            fail(str(error), EXIT_RUNTIME)
        except simulation.DemoError as error:
            fail(str(error))
    typer.echo(simulation.report(result))


@contextmanager
def _demo_progress(weeks: int) -> Iterator[Callable[[int, int, datetime], None]]:
    """A progress bar on stderr (when it is a terminal) that follows the simulated time."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    bar = Progress(
        TextColumn("Simulating {task.fields[week]}"),
        BarColumn(),
        TextColumn("{task.fields[moment]}"),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
    )
    task = bar.add_task("demo", total=None, week=f"{weeks} week{'s' * (weeks != 1)}", moment="")

    def update(done: int, total: int, moment: datetime) -> None:
        bar.update(task, completed=done, total=total, moment=f"{moment:%a %d %b %H:%M} UTC")

    with bar:
        yield update


sandbox_cli = typer.Typer(help="Talk to a sandbox started with `circlebot serve --sandbox`.")
cli.add_typer(sandbox_cli, name="sandbox")


@sandbox_cli.command("send")
def sandbox_send(
    text: Annotated[str, typer.Argument(help='A slash command, e.g. "/circle members".')],
    speaker: Annotated[str, typer.Option("--as", help="Who types it (a sandbox person).")] = "fran",
    channel: Annotated[str, typer.Option("--channel", "--in", help="Where it is typed.")] = (
        "product-leads"
    ),
) -> None:
    """Type a slash command in the running sandbox and print what that person sees."""

    raise typer.Exit(send(text, speaker=speaker, channel=channel))


def main() -> None:
    try:
        cli()
    except KeyboardInterrupt:  # Ctrl-C before the signal handlers are installed
        sys.exit(130)
