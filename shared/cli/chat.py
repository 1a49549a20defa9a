"""`localgpt chat` (an interactive, streaming session) and `localgpt ask` (one question, exits).

The assistant (and through it litellm and the memory engine) is imported when a command runs,
not when the CLI starts. Memory searches made here ask the running worker for query vectors,
as the API does (`one_shot_query_embedder`).
"""

from __future__ import annotations

import sys
import time
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from shared.cli.common import console, err_console, escape, fail, get_config, print_json
from shared.cli.line_reader import LineReader
from shared.config import Config

if TYPE_CHECKING:
    from shared.agent.assistant import Assistant
    from shared.agent.llm import LLMClient
    from shared.agent.loop import TurnEvents, TurnResult
    from shared.agent.tools import ToolOutcome

COMMANDS = ("/new", "/sessions", "/resume", "/model", "/memory", "/help", "/quit")
HELP = """Commands:
  /new              start a new session
  /sessions         list recent sessions
  /resume ID        continue an earlier session (or a unique start of its id)
  /model [MODEL]    show or switch the model (provider/model, e.g. anthropic/claude-sonnet-4-5)
  /memory QUERY     search memory
  /help             this list
  /quit             leave (Ctrl-D works too)"""

ModelOption = Annotated[
    str | None, typer.Option("--model", "-m", help="provider/model; default: [llm] model.")
]
SessionOption = Annotated[
    str | None, typer.Option("--session", "-s", help="Resume (or start) this session id.")
]


def ask(
    question: Annotated[str, typer.Argument(help="What to ask.")],
    model: ModelOption = None,
    session: SessionOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Ask one question, print the answer (streamed) with its sources, and exit."""
    from shared.agent.assistant import MessageTooLong
    from shared.agent.llm import LLMError
    from shared.agent.loop import TurnEvents

    if not question.strip():
        fail("the question is empty")
    config = _ready_config()
    bot = _open(config, model, session)
    down = bot.client.unreachable_reason()  # in milliseconds, before any search or import
    if down:
        bot.close()
        fail(down)
    started = time.perf_counter()
    view = None if as_json else TurnView(bot)
    try:
        result = bot.send(question, view.events() if view else TurnEvents())
    except (LLMError, MessageTooLong) as exc:
        if view:
            view.clear_status()
        fail(str(exc))
    except KeyboardInterrupt:
        if view:
            view.clear_status()
        err_console.print("\n[yellow]stopped[/]")
        raise typer.Exit(130) from None
    finally:
        bot.close()
    if view is not None:
        view.finish(result)
    else:
        print_json(_answer_json(question, bot, result, started))


def chat(model: ModelOption = None, session: SessionOption = None) -> None:
    """Talk with the assistant; answers stream as they are written. /help lists commands.

    Lines can be edited (arrows, Home/End, Ctrl-A/E/W); Up and Ctrl-R reach earlier lines,
    kept across sessions in the LocalGPT home (`chat_history`); Tab completes commands."""
    config = _ready_config()
    bot = _open(config, model, session)
    _greet(bot)
    reader = LineReader(config.chat_history_file, COMMANDS)
    try:
        while True:
            try:
                line = reader.read("you> ").strip()
            except EOFError:
                console.print()
                break
            except KeyboardInterrupt:
                console.print()
                continue
            if not line:
                continue
            if line.startswith("/"):
                bot = _command(config, bot, line)
                if bot is None:
                    break
                continue
            _turn(bot, line)
    finally:
        if bot is not None:
            bot.close()


def _turn(bot: Assistant, line: str) -> None:
    from shared.agent.assistant import MessageTooLong
    from shared.agent.llm import LLMError

    down = bot.client.unreachable_reason()  # at once, rather than after a search and a call
    if down:
        _error(down)
        return
    view = TurnView(bot)
    try:
        result = bot.send(line, view.events())
    except (LLMError, MessageTooLong) as exc:
        view.clear_status()
        _error(str(exc))
    except KeyboardInterrupt:  # Ctrl-C: the model call is closed, the server stops at once
        view.clear_status()
        err_console.print("\n[yellow]stopped[/] (this turn was not saved)")
    else:
        view.finish(result)
        for pending in view.pending_edits:
            _confirm_edit(bot, pending)


def _confirm_edit(bot: Assistant, pending: dict) -> None:
    """The model's edit would remove a large share of MEMORY.md: the user decides."""
    share = pending.get("removed_share", 0)
    question = f"The assistant's edit would remove {share:.0%} of MEMORY.md. Apply it?"
    if not sys.stdin.isatty() or not typer.confirm(question, default=False):
        err_console.print("[dim]MEMORY.md left unchanged.[/]")
        return
    from shared.memory.writes import MemoryWriteError, apply_pending

    try:
        done = apply_pending(
            bot.config, pending["pending_edit"], datetime.now().astimezone(), bot.session.id
        )
    except MemoryWriteError as exc:
        _error(str(exc))
        return
    err_console.print(f"[dim]Applied; the previous MEMORY.md is kept as {done.version}.[/]")


def _command(config: Config, bot: Assistant, line: str) -> Assistant | None:
    """Run a slash command; returns the (possibly new) assistant, or None to quit."""
    name, _, arg = line.partition(" ")
    arg = arg.strip()
    if name in ("/quit", "/exit", "/q"):
        return None
    if name == "/help":
        console.print(HELP, highlight=False, soft_wrap=True)
    elif name == "/new":
        bot.close()
        bot = _open(config, bot.client.model, None)
        console.print(f"New session {bot.session.id}", highlight=False, soft_wrap=True)
    elif name == "/sessions":
        _list_sessions(config, bot.session.id)
    elif name == "/resume":
        bot = _switch_session(config, bot, arg)
    elif name == "/model":
        _switch_model(config, bot, arg)
    elif name == "/memory":
        _search_memory(bot, arg)
    else:
        _error(f"unknown command {name}; /help lists them")
    return bot


def _switch_session(config: Config, bot: Assistant, session_id: str) -> Assistant:
    from shared.agent.session import SessionError, SessionStore
    from shared.ids import IdLookupError

    if not session_id:
        err_console.print("usage: /resume SESSION_ID (see /sessions)")
        return bot
    store = SessionStore(config.sessions_dir)
    try:
        session = store.open(store.resolve(session_id))
    except (IdLookupError, SessionError) as exc:
        _error(str(exc))
        return bot
    bot.session = session
    _greet(bot)
    return bot


def _switch_model(config: Config, bot: Assistant, model: str) -> None:
    from shared.agent.llm import LLMClient, LLMError

    if not model:
        console.print(f"Model: {bot.client.model}", highlight=False, soft_wrap=True)
        return
    try:
        bot.client = LLMClient(config, model)
    except LLMError as exc:
        _error(str(exc))
        return
    console.print(f"Model: {bot.client.model}", highlight=False, soft_wrap=True)
    _say_which_model(bot.client)


def _search_memory(bot: Assistant, query: str) -> None:
    from rich.text import Text

    if not query:
        err_console.print("usage: /memory QUERY")
        return
    response = bot.ctx.memory.search(query)
    for message in response.warnings:
        err_console.print(f"[yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)
    if not response.results:
        console.print(f"No results for {query!r}.", highlight=False, soft_wrap=True)
    for rank, hit in enumerate(response.results, start=1):
        console.print(
            f"[bold]{rank}. {hit.citation}[/] [dim]{hit.score:.2f}[/]",
            highlight=False,
            soft_wrap=True,
        )
        for text_line in hit.snippet.splitlines()[:3]:
            console.print(Text("   " + text_line[:160]))


def _list_sessions(config: Config, current: str) -> None:
    from shared.conversations import list_sessions

    sessions = [s.info for s in list_sessions(config)][:20]
    if not sessions:
        console.print("No sessions yet.")
    for info in sessions:
        mark = "*" if info.id == current else " "
        when = datetime.fromtimestamp(info.updated).strftime("%Y-%m-%d %H:%M")
        line = f"{mark} {info.id}  {when}  {info.messages:>3} msgs  {info.title}"
        console.print(line, highlight=False, soft_wrap=True)


def _greet(bot: Assistant) -> None:
    count = len(bot.session.context_messages())
    state = f"resumed, {count} messages in context" if count else "new"
    console.print(
        f"[dim]LocalGPT · {bot.client.model} · session {bot.session.id} ({state}) · "
        "/help for commands[/]",
        highlight=False,
        soft_wrap=True,
    )
    _say_which_model(bot.client)
    down = bot.client.unreachable_reason()
    if down:
        err_console.print(f"[yellow]warning:[/] {escape(down)}", highlight=False, soft_wrap=True)


def _say_which_model(client: LLMClient) -> None:
    """Why this model answers, and a plain warning when it is the tiny offline one."""
    from shared.models.choose import TINY_WARNING, is_tiny

    if client.endpoint.reason:
        console.print(
            f"[dim]Model {escape(client.model)}: {escape(client.endpoint.reason)}[/]",
            highlight=False,
            soft_wrap=True,
        )
    if is_tiny(client.model):
        err_console.print(
            f"[yellow]warning:[/] {escape(TINY_WARNING)}", highlight=False, soft_wrap=True
        )


class TurnView:
    """A turn in the terminal: "reading N tokens…" until the first token, the answer as it
    streams, then how it ended and the notes it rests on. A small model's short answer is
    printed whole once tidied and cited (it takes a second or two), not streamed raw."""

    def __init__(self, bot: Assistant) -> None:
        from shared.agent.profiles import COMPACT

        self.status_shown = False
        self.streams = bot.profile.name != COMPACT
        self.pending_edits: list[dict] = []  # edits waiting for the user's confirmation

    def events(self) -> TurnEvents:
        from shared.agent.loop import TurnEvents

        return TurnEvents(
            on_token=self.token,
            on_tool_start=self.tool_start,
            on_tool_end=self.tool_end,
            on_reading=self.reading,
        )

    def reading(self, prompt_tokens: int) -> None:
        """Shown on a terminal only (a script reading stderr wants errors, not progress)."""
        if err_console.is_terminal:
            sys.stderr.write(f"\x1b[2mreading about {prompt_tokens:,} tokens…\x1b[0m")
            sys.stderr.flush()
            self.status_shown = True

    def clear_status(self) -> None:
        if self.status_shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
            self.status_shown = False

    def token(self, text: str) -> None:
        if not self.streams:
            return
        self.clear_status()
        sys.stdout.write(text)
        sys.stdout.flush()

    def tool_start(self, name: str, arguments: str) -> None:
        self.clear_status()
        shown = arguments if len(arguments) <= 80 else arguments[:79] + "…"
        err_console.print(
            f"[dim]· {escape(name)} {escape(shown)}[/]", highlight=False, soft_wrap=True
        )

    def tool_end(self, outcome: ToolOutcome) -> None:
        if outcome.result.get("confirmation_required"):
            self.pending_edits.append(outcome.result)
        if not outcome.ok:
            err_console.print(f"[dim]  {outcome.name}: {escape(outcome.result['error'])}[/]")

    def finish(self, result: TurnResult) -> None:
        self.clear_status()
        if not self.streams:
            sys.stdout.write(result.text)
        sys.stdout.write("\n")
        sys.stdout.flush()
        if result.notice:
            err_console.print(f"[yellow]{escape(result.notice)}[/]", highlight=False)
        if result.sources:
            err_console.print("[dim]Sources:[/]", highlight=False)
            for source in result.sources:
                when = f" ({source.date})" if source.date else ""
                err_console.print(
                    f"[dim]  [{source.number}] {escape(source.citation)}{when}[/]",
                    highlight=False,
                    soft_wrap=True,
                )


def _error(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def _ready_config() -> Config:
    from shared.agent.clock import user_zone
    from shared.config import ConfigError

    config = get_config()
    try:
        user_zone(config)
    except ConfigError as exc:
        fail(str(exc), code=2)
    if not config.workspace_dir.is_dir():
        fail(
            f"workspace {config.workspace_dir} does not exist; run `localgpt init` "
            "or set LOCALGPT_WORKSPACE"
        )
    return config


def _open(config: Config, model: str | None, session: str | None) -> Assistant:
    """The assistant; its memory searches use the worker's query vectors when it runs."""
    from shared.agent.assistant import Assistant
    from shared.agent.llm import LLMError
    from shared.agent.session import SessionError
    from shared.agent.tools import ToolContext
    from shared.memory import Memory, one_shot_query_embedder

    ctx = ToolContext(
        config, memory_factory=lambda: Memory(config, one_shot_query_embedder(config))
    )
    try:
        return Assistant.open(config, model, session, ctx)
    except (LLMError, SessionError) as exc:
        fail(str(exc))


def _answer_json(question: str, bot: Assistant, result: TurnResult, started: float) -> dict:
    return {
        "question": question,
        "answer": result.text,
        "model": bot.client.model,
        "session_id": bot.session.id,
        "stopped": result.stopped,
        "model_calls": result.model_calls,
        "tool_calls": result.tool_calls,
        "usage": result.usage,
        "notice": result.notice,
        "profile": result.profile,
        "sources": [s.as_dict() for s in result.sources],
        "seconds": round(time.perf_counter() - started, 3),
    }
