"""`localgpt models`: see what can answer, choose one, pull a GGUF, remove one."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from shared.cli.common import console, err_console, escape, fail, get_config, print_json, warn

app = typer.Typer(
    help="Models: what is available, which answers, and pulling a better local one.",
    no_args_is_help=True,
)
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
NameArgument = Annotated[str, typer.Argument(help="A model name (see `localgpt models list`).")]


@app.command("list")
def list_command(as_json: JsonOption = False) -> None:
    """The embedded model, pulled GGUFs, Ollama's models, cloud keys, a configured server."""
    from shared.models.manage import list_models

    report = list_models(get_config())
    if as_json:
        print_json(report.as_dict())
        return
    current = report.current
    console.print(f"[bold]Answering now:[/] {escape(current.model)}", highlight=False)
    console.print(f"  [dim]why: {escape(current.reason)}[/]", highlight=False, soft_wrap=True)
    if current.warning:
        warn(current.warning)

    console.print("[bold]Local models[/] (served by `localgpt run llm`):", highlight=False)
    rows = ([report.embedded] if report.embedded else []) + report.local
    for model in rows:
        mark = "*" if model.model == current.model else " "
        kind = "file, not verified" if model.kind == "file" else model.kind
        origin = model.repo or str(model.path.parent)
        console.print(
            f" {mark} {escape(model.name)}  [dim]{kind}, {_size(model.size_bytes)}, "
            f"{escape(model.licence or 'licence unknown')}, {escape(origin)}[/]",
            highlight=False,
            soft_wrap=True,
        )
    if report.caches:
        total = sum(p.stat().st_size for p in report.caches)
        console.print(
            f"[dim]   + {len(report.caches)} re-encoded copies ({_size(total)}) the model "
            "server keeps for fast prompt reading (caches, not models)[/]",
            highlight=False,
            soft_wrap=True,
        )
    for path in report.partial:
        console.print(
            f"[dim]   unfinished download {path.name} ({_size(path.stat().st_size)}): "
            "pull it again to continue[/]",
            highlight=False,
            soft_wrap=True,
        )

    ollama = report.ollama
    if not ollama.running:
        console.print(f"[bold]Ollama[/]: none at {ollama.base} ({ollama.error})", highlight=False)
    elif not ollama.models:
        console.print(f"[bold]Ollama[/] at {ollama.base}: running, no models", highlight=False)
    else:
        console.print(f"[bold]Ollama[/] at {ollama.base}:", highlight=False)
        for m in ollama.models:
            mark = "*" if m.model == current.model else " "
            what = "" if m.chat else " [dim](embedding model, cannot chat)[/]"
            console.print(
                f" {mark} {escape(m.name)}  {m.params}  {_size(m.size_bytes)}{what}",
                highlight=False,
            )

    from shared.agent.llm import PROVIDER_KEY_ENV

    if report.cloud:
        for key in report.cloud:
            mark = "*" if key.model == current.model else " "
            console.print(
                f"[bold]Cloud[/] {mark} ${key.env} is set: {key.provider} "
                f"(default {key.model}; `localgpt models use {key.provider}/<model>` for another)",
                highlight=False,
                soft_wrap=True,
            )
    else:
        names = ", ".join(PROVIDER_KEY_ENV.values())
        console.print(f"[bold]Cloud[/]: no key set ({names})", highlight=False, soft_wrap=True)

    server = report.server
    if server is not None:
        listed = ", ".join(server.models) if server.running else server.error
        console.print(
            f"[bold]Server[/] [llm] api_base {server.base}: {escape(listed or 'no models')}",
            highlight=False,
            soft_wrap=True,
        )

    from shared.models.catalogue import CATALOGUE

    console.print("[bold]Catalogue[/] (`localgpt models pull ID`):", highlight=False)
    for entry in CATALOGUE:
        console.print(
            f"   {entry.id}  {entry.title}, {_size(entry.size_bytes)}, {entry.licence}; "
            f"{entry.speed} on a laptop CPU[dim] ({entry.note})[/]",
            highlight=False,
            soft_wrap=True,
        )
    console.print(
        "[dim]Any other GGUF: `localgpt models pull owner/repo/file.gguf`[/]", highlight=False
    )


@app.command()
def use(name: NameArgument, as_json: JsonOption = False) -> None:
    """Answer with NAME from now on (writes [llm] in config.toml); `auto` lets LocalGPT pick."""
    from shared.models.configfile import ConfigEditError
    from shared.models.manage import ModelsError, use_model

    try:
        result = use_model(get_config(), name)
    except (ModelsError, ConfigEditError) as exc:
        fail(str(exc))
    if as_json:
        print_json(result.as_dict())
        return
    for change in result.changes:
        console.print(f"changed {escape(change.describe())}", highlight=False, soft_wrap=True)
    for note in result.notes:
        console.print(f"[dim]{escape(note)}[/]", highlight=False, soft_wrap=True)
    if result.as_dict()["tiny"]:
        from shared.models.choose import TINY_WARNING

        warn(TINY_WARNING)


@app.command()
def pull(
    name: Annotated[
        str, typer.Argument(help="A catalogue id (qwen2.5-1.5b, ...) or owner/repo/file.gguf.")
    ],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Accept the licence unasked.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Download a GGUF from Hugging Face (resumable, checksum-verified) for `localgpt run llm`."""
    from shared.models.pull import PullError, already_pulled, download, plan_pull

    config = get_config()
    try:
        plan = plan_pull(config, name)
    except PullError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted before downloading", code=130)
    if not as_json:
        _show_plan(plan)
    if (
        not yes
        and not as_json
        and not already_pulled(plan)
        and sys.stdin.isatty()
        and not typer.confirm(f"Download it under the {plan.licence or 'unstated'} licence?", True)
    ):
        fail("not downloaded", code=1)
    progress, on_progress = _progress_bar(plan.file) if not as_json else (None, None)
    try:
        if progress is not None:
            with progress:
                result = download(plan, on_progress=on_progress)
        else:
            result = download(plan)
    except PullError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        kept = plan.partial.stat().st_size if plan.partial.exists() else 0
        fail(
            f"interrupted; {_size(kept)} kept in {plan.partial.parent}: run the same command "
            "again to continue",
            code=130,
        )
    if as_json:
        print_json(result.as_dict())
        return
    if result.already_there:
        console.print(f"Already pulled: {result.path}", highlight=False, soft_wrap=True)
    else:
        resumed = f", resumed at {_size(result.resumed_from)}" if result.resumed_from else ""
        console.print(
            f"[green]sha256 verified[/]; pulled {result.path} in {result.seconds:.1f} s{resumed}",
            highlight=False,
            soft_wrap=True,
        )
    console.print(
        f"Served as local/{plan.served_as}. It answers when no model is chosen (the newest "
        f"pulled model comes after Ollama and cloud keys); to choose it: "
        f"`localgpt models use {plan.served_as}`, then restart `localgpt run llm` (or honcho).",
        highlight=False,
        soft_wrap=True,
    )


@app.command()
def remove(name: NameArgument, as_json: JsonOption = False) -> None:
    """Delete a pulled model (its file, manifest and any unfinished download of it)."""
    from shared.models.manage import ModelsError, remove_model

    try:
        result = remove_model(get_config(), name)
    except ModelsError as exc:
        fail(str(exc))
    if as_json:
        print_json(result.as_dict())
        return
    for path in result.removed:
        console.print(f"removed {path}", highlight=False, soft_wrap=True)
    console.print(f"{_size(result.freed_bytes)} freed", highlight=False)
    for note in result.notes:
        warn(note)


def _show_plan(plan) -> None:
    what = plan.entry.title if plan.entry else plan.file
    lines = [
        f"[bold]{escape(what)}[/] from {plan.repo} (commit {plan.revision[:12]})",
        f"  file     {escape(plan.file)}, {_size(plan.size_bytes)}, sha256 {plan.sha256[:16]}…",
        f"  licence  {escape(plan.licence or 'not stated: read the model card before use')}"
        + (f" ({plan.licence_link})" if plan.licence_link else "")
        + (" [yellow](gated: needs HF_TOKEN)[/]" if plan.gated else ""),
        f"  into     {plan.target}",
    ]
    if plan.entry:
        lines.append(f"  speed    {plan.entry.speed} on a laptop CPU")
    if plan.resume_from:
        lines.append(f"  resume   {_size(plan.resume_from)} already here")
    for line in lines:
        console.print(line, highlight=False, soft_wrap=True)


def _progress_bar(file: str):
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err_console.rich(),
    )
    task = progress.add_task(file.rsplit("/", 1)[-1], total=None)

    def on_progress(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total or None)

    return progress, on_progress


def _size(n: int) -> str:
    if n >= 1e9:
        return f"{n / 1e9:.1f} GB"
    if n >= 1e6:
        return f"{n / 1e6:.0f} MB"
    return f"{n / 1e3:.0f} kB" if n else "0 B"
