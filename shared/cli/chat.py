"""`localgpt chat` (an interactive, streaming session) and `localgpt ask` (one question, exits)."""

from __future__ import annotations

import sys
import time
from datetime import datetime
from typing import Annotated

import typer
from rich.markup import escape
from rich.text import Text

from shared.agent.assistant import Assistant
from shared.agent.clock import user_zone
from shared.agent.llm import LLMClient, LLMError
from shared.agent.loop import TurnEvents, TurnResult
from shared.agent.session import SessionError, SessionStore
from shared.agent.tools import ToolOutcome
from shared.cli.common import console, err_console, fail, get_config, print_json
from shared.config import Config, ConfigError

HELP = """Commands:
  /new              start a new session
  /sessions         list recent sessions
  /resume ID        continue an earlier session
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
    """Ask one question, print the answer (streamed) and exit."""
    if not question.strip():
        fail("the question is empty")
    config = _ready_config()
    bot = _open(config, model, session)
    started = time.perf_counter()
    events = TurnEvents() if as_json else _stream_events()
    try:
        result = bot.send(question, events)
    except LLMError as exc:
        fail(str(exc))
    finally:
        bot.close()
    if as_json:
        print_json(_answer_json(question, bot, result, started))
    else:
        sys.stdout.write("\n")


def chat(model: ModelOption = None, session: SessionOption = None) -> None:
    """Talk with the assistant; answers stream as they are written. /help lists commands."""
    config = _ready_config()
    bot = _open(config, model, session)
    _greet(bot)
    try:
        while True:
            try:
                line = input("you> ").strip()
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
    try:
        bot.send(line, _stream_events())
        sys.stdout.write("\n")
    except LLMError as exc:
        _error(str(exc))
    except KeyboardInterrupt:
        err_console.print("\n[yellow]interrupted[/] (this turn was not saved)")


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
    if not session_id:
        err_console.print("usage: /resume SESSION_ID (see /sessions)")
        return bot
    try:
        session = SessionStore(config.sessions_dir).open(session_id)
    except SessionError as exc:
        _error(str(exc))
        return bot
    bot.session = session
    _greet(bot)
    return bot


def _switch_model(config: Config, bot: Assistant, model: str) -> None:
    if not model:
        console.print(f"Model: {bot.client.model}", highlight=False, soft_wrap=True)
        return
    try:
        bot.client = LLMClient(config, model)
    except LLMError as exc:
        _error(str(exc))
        return
    console.print(f"Model: {bot.client.model}", highlight=False, soft_wrap=True)


def _search_memory(bot: Assistant, query: str) -> None:
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
    listed = SessionStore(config.sessions_dir).list()
    sessions = [i for i in listed if i.messages or i.id == current][:20]
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


def _stream_events() -> TurnEvents:
    def token(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    def tool_start(name: str, arguments: str) -> None:
        shown = arguments if len(arguments) <= 80 else arguments[:79] + "…"
        err_console.print(
            f"[dim]· {escape(name)} {escape(shown)}[/]", highlight=False, soft_wrap=True
        )

    def tool_end(outcome: ToolOutcome) -> None:
        if not outcome.ok:
            err_console.print(f"[dim]  {outcome.name}: {escape(outcome.result['error'])}[/]")

    return TurnEvents(on_token=token, on_tool_start=tool_start, on_tool_end=tool_end)


def _error(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def _ready_config() -> Config:
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
    try:
        return Assistant.open(config, model, session)
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
        "seconds": round(time.perf_counter() - started, 3),
    }
