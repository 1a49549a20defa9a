"""`localgpt memory ...`: reindex, search, stats, get, and the versions of MEMORY.md."""

from __future__ import annotations

import sys
from datetime import date
from typing import TYPE_CHECKING, Annotated

import typer

from shared.cli.common import console, escape, fail, get_config, print_json, warn

if TYPE_CHECKING:
    from shared.memory import Memory

app = typer.Typer(help="Index and search the workspace's markdown memory.", no_args_is_help=True)


def _open_memory(for_search: bool = False) -> Memory:
    """`for_search`: query vectors from the running worker, else from model files on this
    machine, else keywords (never a download: see `one_shot_query_embedder`)."""
    from shared.memory import Memory, one_shot_query_embedder

    config = get_config()
    if not config.workspace_dir.is_dir():
        fail(
            f"workspace {config.workspace_dir} does not exist; run `localgpt init` "
            "or set LOCALGPT_WORKSPACE"
        )
    return Memory(config, one_shot_query_embedder(config) if for_search else None)


@app.command()
def reindex(
    force: Annotated[
        bool, typer.Option("--force", help="Re-chunk every file, even unchanged ones.")
    ] = False,
) -> None:
    """Bring the index up to date with the workspace (incremental unless --force)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    memory = _open_memory()
    columns = (
        TextColumn("{task.description:<7}"),
        BarColumn(),
        MofNCompleteColumn(),
        _rate_column(),
        TimeElapsedColumn(),
    )
    with Progress(
        *columns, console=console.rich(), transient=False, disable=not console.is_terminal
    ) as bar:
        tasks = {
            "files": bar.add_task("files", total=None),
            "chunks": bar.add_task("chunks", total=None),
        }

        def progress(kind: str, advance: int, total: int | None) -> None:
            task = tasks[kind]
            if total is not None:
                done = bar.tasks[task].completed if kind == "chunks" else 0
                bar.update(task, total=done + total if kind == "chunks" else total)
            if advance:
                bar.advance(task, advance)

        report = memory.sync(force=force, progress=progress)
    if report.model_rebuild:
        warn(f"{report.model_rebuild}: all vectors were rebuilt")
    if report.vectors_disabled:
        warn(f"indexed for keyword search only: {report.vectors_disabled}")
    for path, reason in report.skipped.items():
        warn(f"skipped {path}: {reason}")
    rate = report.chunks_written / report.seconds if report.seconds else 0
    console.print(
        f"Indexed {report.files_indexed} file(s), {report.files_unchanged} unchanged, "
        f"{report.files_removed} removed, {report.files_skipped} skipped; "
        f"{report.chunks_written} chunks ({report.chunks_embedded} embedded, "
        f"{report.vectors_backfilled} vectors backfilled) in {report.seconds:.2f} s "
        f"({rate:,.0f} chunks/s).",
        highlight=False,
    )


def _rate_column():
    """Items per second for a task (chunks/s for the chunk bar)."""
    from rich.progress import ProgressColumn, Task
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task: Task) -> Text:
            rate = task.completed / task.elapsed if task.elapsed else 0.0
            return Text(f"{rate:,.0f}/s", style="cyan")

    return RateColumn()


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=100)] = 6,
    after: Annotated[
        str | None,
        typer.Option(
            "--after",
            help="Only notes dated on or after: YYYY-MM-DD, YYYY-MM, YYYY, today, yesterday, "
            "'N days ago'.",
        ),
    ] = None,
    before: Annotated[
        str | None,
        typer.Option("--before", help="Only notes dated on or before (same forms as --after)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Search memory by keywords and meaning; results cite path#Lstart-Lend.

    Notes are dated by their daily-log file name or a dated heading; with --after/--before,
    undated notes (MEMORY.md, knowledge/...) are left out."""
    from rich.text import Text

    from shared.memory.dates import DateError, date_filter

    if not query.strip():
        fail("the query is empty")
    try:
        window = date_filter(after, before, date.today())
    except DateError as exc:
        fail(str(exc))
    response = _open_memory(for_search=True).search(query, limit, after=window[0], before=window[1])
    if as_json:
        print_json(response.as_dict())
        return
    for message in response.warnings:
        warn(message)
    if not response.results:
        console.print(Text(f"No results for {query!r}."))
    for rank, result in enumerate(response.results, start=1):
        console.print(
            f"[bold]{rank}. {escape(result.citation)}[/]  [dim]score {result.score:.2f}"
            f"  (keyword {result.keyword_score:.2f}, vector {result.vector_score:.2f})[/]"
            + _provenance_tag(result.provenance),
            highlight=False,
        )
        if result.heading or result.day:
            place = " · ".join(p for p in (result.day, result.heading) if p)
            console.print(f"   [cyan]{escape(place)}[/]", highlight=False)
        for line in result.snippet.splitlines()[:4]:
            console.print(Text("   " + line[:160]))
    console.print(
        f"[dim]{len(response.results)} result(s), {response.mode} search, "
        f"{response.took_ms:.0f} ms[/]"
    )


@app.command()
def stats(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """What is indexed, what is pending, and which model made the vectors."""
    from rich.table import Table
    from rich.text import Text

    from shared.status import memory_status

    data = memory_status(_open_memory())
    if as_json:
        print_json(data)
        return
    table = Table(show_header=False, box=None)
    rows = [
        ("workspace", data["workspace"]),
        ("files indexed", f"{data['files_indexed']} of {data['files_on_disk']} on disk"),
        ("files pending", str(data["files_pending"])),
        ("files skipped", str(len(data["files_skipped"]))),
        ("chunks", f"{data['chunks']} ({data['chunks_without_vector']} without vector)"),
        ("embedding model", data["embedding_model"]),
        ("queue", f"{data['queue_depth']} waiting, {data['jobs_failed']} failed job(s)"),
        ("last file event", data["last_watcher_event_at"] or "none (is the indexer running?)"),
        ("last reconcile", data["last_reconcile_at"] or "never"),
        ("database", f"{data['db_path']} ({data['db_bytes'] / 1e6:.1f} MB)"),
        ("last indexed", data["last_indexed_at"] or "never"),
    ]
    for key, value in rows:
        table.add_row(Text(key, style="bold"), Text(value))
    console.print(table)
    if data["model_mismatch"]:
        warn(
            f"the index was built with {data['index_embedding_model']}; "
            "run `localgpt memory reindex` to rebuild its vectors"
        )
    for path, reason in data["files_skipped"].items():
        warn(f"skipped {path}: {reason}")
    for failure in data["recent_failures"]:
        warn(
            f"job {failure['id']} ({failure['kind']}) failed after {failure['attempts']} "
            f"attempt(s): {failure['last_error']}"
        )


@app.command()
def get(
    path: Annotated[str, typer.Argument(help="A file inside the workspace.")],
    start: Annotated[int, typer.Option("--from", help="First line (1-based).")] = 1,
    lines: Annotated[int | None, typer.Option("--lines", help="How many lines.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print lines of a workspace file (paths outside the workspace are refused)."""
    from shared.memory.access import FileRefused, MemoryFileError
    from shared.memory.lines import read_lines
    from shared.workspace import OutsideWorkspaceError

    config = get_config()
    try:
        piece = read_lines(config.workspace_dir, path, start, lines)
    except (OutsideWorkspaceError, FileRefused) as exc:
        fail(f"refused: {exc}")
    except MemoryFileError as exc:
        fail(str(exc))
    if as_json:
        print_json(piece.as_dict())
    else:
        sys.stdout.write(piece.text + ("\n" if piece.text else ""))


def _provenance_tag(provenance: str) -> str:
    if provenance == "assistant":
        return "  [yellow]assistant-written[/]"
    return "  [yellow]partly assistant-written[/]" if provenance == "mixed" else ""


@app.command()
def history(
    file: Annotated[str, typer.Argument(help="The workspace file (MEMORY.md).")] = "MEMORY.md",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the kept versions of MEMORY.md, newest first (each edit keeps the one before)."""
    from datetime import datetime

    from rich.table import Table
    from rich.text import Text

    from shared.memory.writes import memory_versions

    config = get_config()
    versions = memory_versions(config, file)
    if as_json:
        print_json([v.__dict__ for v in versions])
        return
    if not versions:
        console.print(Text(f"No kept versions of {file}."))
        return
    table = Table("version", "saved", "bytes", "replaced by", box=None)
    for version in versions:
        saved = datetime.fromtimestamp(version.saved_at).strftime("%Y-%m-%d %H:%M:%S")
        by = " ".join(p for p in (version.action, version.session and f"({version.session})") if p)
        table.add_row(version.name, saved, str(version.size), by)
    console.print(table)
    console.print("[dim]localgpt memory restore VERSION brings one back[/]")


@app.command()
def restore(
    version: Annotated[str, typer.Argument(help="A version name from `memory history`.")],
) -> None:
    """Bring back a kept version of MEMORY.md (the current file is kept as a version first)."""
    from datetime import datetime

    from rich.text import Text

    from shared.memory.writes import MemoryWriteError, restore_version

    config = get_config()
    try:
        result = restore_version(config, version, datetime.now().astimezone(), session="cli")
    except MemoryWriteError as exc:
        fail(str(exc))
    kept = f"; the replaced file is kept as {result.version}" if result.version else ""
    console.print(Text(f"Restored {result.path} from {version}{kept}."))
