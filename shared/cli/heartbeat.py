"""`localgpt heartbeat status | run`."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated

import typer

from shared.cli.common import console, escape, fail, get_config, print_json

app = typer.Typer(
    help="Inspect or trigger the heartbeat (HEARTBEAT.md's standing tasks).", no_args_is_help=True
)


@app.command()
def status(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Enabled? Window open now? Last run and outcome, next due, recent decisions."""
    from shared.heartbeat import HeartbeatStore, heartbeat_status
    from shared.jobview import latest_run
    from shared.ledger import JobLedger

    config = get_config()
    data = heartbeat_status(datetime.now(UTC), config, HeartbeatStore(config.heartbeat_db))
    data["last_job"] = latest_run(JobLedger(config.jobs_db), "heartbeat")
    if as_json:
        print_json(data)
        return
    if data.get("config_error"):
        fail(f"[heartbeat] config is invalid: {data['config_error']}", code=2)
    window = "open" if data["window_open"] else f"closed (opens {data['window_opens_at']})"
    last = data.get("last_run") or {}
    rows = [
        ("enabled", "yes" if data["enabled"] else "no"),
        ("interval", str(data["interval"])),
        ("active window", window),
        ("next due", str(data["next_due"])),
        (
            "last run",
            f"{last.get('at')} ({(data.get('last_outcome') or {}).get('outcome')})"
            if last
            else "never",
        ),
    ]
    for key, value in rows:
        console.print(f"[bold]{key:<14}[/] {escape(value)}", highlight=False)
    alert = data.get("last_alert")
    if alert:
        cites = ", ".join(alert["citations"]) or "-"
        console.print(
            f"[bold]{'last alert':<14}[/] {escape(str(alert['at']))}  cites {escape(cites)}"
        )
        console.print(escape(alert["text"]), highlight=False)
    console.print("[bold]recent decisions[/]")
    for decision in data["decisions"][:20]:
        console.print(
            f"  {escape(str(decision.get('at')))}  {decision['kind']:<22} "
            f"{escape(decision.get('reason') or '')}"
            + (f"  -> {escape(decision['outcome'])}" if decision.get("outcome") else ""),
            highlight=False,
        )


@app.command()
def run(
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the run's outcome.")] = 600,
) -> None:
    """Evaluate a tick now (bypassing only the schedule) and wait for the run's outcome."""
    from services.heartbeat import HeartbeatService

    config = get_config()
    service = HeartbeatService(config)
    decision = service.tick(datetime.now(UTC), manual=True)
    console.print(
        f"decision: [bold]{decision.kind}[/] ({escape(decision.reason)})", highlight=False
    )
    if not decision.enqueued:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with service.store.reading() as txn:
            row = txn.decision(decision.id)
        if row is not None and row.outcome:
            console.print(f"outcome: [bold]{escape(row.outcome)}[/]", highlight=False)
            if row.outcome_detail:
                console.print(escape(row.outcome_detail), highlight=False)
            return
        time.sleep(0.5)
    fail(f"no outcome within {timeout:.0f} s: is a worker running? (`localgpt run worker`)")
