"""The assistant: one session, one model, the tools; a turn from user text to a stored answer.

Per turn: recall the notes that match the message (they are the answer's sources), build the
prompt the model's profile calls for (shared/agent/profiles.py), run the tool loop with the
reply guard, check the answer's citations against the workspace, and append everything to the
session transcript. The full profile also keeps the context under the window (memory flush,
then compaction) and rebuilds OpenClaw's system prompt from the workspace every turn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from shared.agent.cancel import CancelScope, TurnCancelled
from shared.agent.citations import (
    Source,
    attribute,
    drop_false_citations,
    resolve_numbered,
    with_citations,
)
from shared.agent.compaction import choose_cut, estimate_tokens, summarise, text_tokens
from shared.agent.focus import focus
from shared.agent.grounded import ANSWER_ONLY_SYSTEM, SYSTEM, build_compact_prompt, note_day
from shared.agent.llm import LLMClient, LLMError
from shared.agent.loop import GuardSettings, TurnEvents, TurnResult, run_tool_loop
from shared.agent.profiles import COMPACT, ProfileChoice, choose_profile
from shared.agent.prompt import (
    GUARDED_INSTRUCTIONS,
    PromptOptions,
    build_system_prompt,
    flush_prompt,
)
from shared.agent.session import FAILED_TYPE, FLUSH_TYPE, STOPPED_TYPE, Session, SessionStore
from shared.agent.startup import startup_context
from shared.agent.tidy import tidy_short_answer
from shared.agent.tools import CHAT_TOOLS, FLUSH_TOOLS, ToolContext
from shared.agent.untrusted import frame_untrusted
from shared.config import Config
from shared.logs import get_logger
from shared.memory.access import MemoryFileError
from shared.memory.lines import read_lines
from shared.workspace import OutsideWorkspaceError, is_instruction_file

log = get_logger(__name__)

FLUSH_MAX_ITERATIONS = 4
RECALL_QUERY_CHARS = 2_000  # a long message searches by its start
RECALL_SPARE = 4  # extra hits fetched, so that leaving out instruction files still leaves enough
# A recalled note as a small model reads it: its best-matching lines (shared/agent/focus.py).
COMPACT_NOTE_CHARS = 300
COMPACT_MAX_TOKENS = 128  # a small model's answer: short, and it loops when left to run
NO_ANSWER_NOTICE = (
    "The model talked about the question instead of answering it: read the sources below."
)
# Stop sequences for the compact prompt: the end of the first paragraph, or the model starting
# to write the next prompt itself.
COMPACT_STOP = ["\n\n", "\nQuestion:", "User message:", "<<<"]


class MessageTooLong(ValueError):
    """The message (with what the prompt needs around it) does not fit the model's window."""


@dataclass
class PreparedTurn:
    """What one turn sends: the messages, the user message to store, the notes, the tools."""

    messages: list[dict]
    user_message: dict
    sources: list[Source]
    tools: tuple[str, ...]
    guard: GuardSettings
    call_options: dict = field(default_factory=dict)


class Assistant:
    def __init__(
        self, config: Config, session: Session, client: LLMClient, ctx: ToolContext | None = None
    ) -> None:
        self.config = config
        self.session = session
        self.client = client
        self.ctx = ctx or ToolContext(config)
        if session is not None:  # memory writes are marked and logged with the session
            self.ctx.session_id = session.id
        self.tool_names: tuple[str, ...] | None = None  # None: the chat tools

    @classmethod
    def open(
        cls,
        config: Config,
        model: str | None = None,
        session_id: str | None = None,
        ctx: ToolContext | None = None,
    ) -> Assistant:
        """Resume `session_id` (or start it, or a new session when None) with the model."""
        client = LLMClient(config, model)
        store = SessionStore(config.sessions_dir)
        if session_id:
            session = store.open_or_create(session_id, client.model, config.workspace_dir)
        else:
            session = store.create(client.model, config.workspace_dir)
        return cls(config, session, client, ctx)

    @property
    def profile(self) -> ProfileChoice:
        ep = self.client.endpoint
        return choose_profile(self.config.llm.profile, ep.name, ep.provider)

    @property
    def tools(self) -> tuple[str, ...]:
        """The memory tools, unless disabled or the model cannot call tools (then auto-recall
        is how memory reaches it); heartbeat runs also get the checkbox tool."""
        if not self.config.llm.tools or not self.client.endpoint.supports_tools:
            return ()
        if self.profile.name == COMPACT:
            return ()
        return self.tool_names or CHAT_TOOLS

    def send(
        self,
        text: str,
        events: TurnEvents | None = None,
        cancel: CancelScope | None = None,
        pinned: tuple[str, ...] = (),
    ) -> TurnResult:
        """One user turn. `pinned`: workspace files the model must see whatever the recall
        finds (HEARTBEAT.md for a heartbeat run). Raises LLMError (one line) when the model
        cannot be reached, TurnCancelled when `cancel` fires, MessageTooLong."""
        events = events or TurnEvents()
        try:
            turn, result = self._answer(text, events, cancel, pinned)
        except (LLMError, MessageTooLong) as exc:
            self.session.add_custom(FAILED_TYPE, {"text": text, "error": str(exc)})
            raise
        except TurnCancelled:
            self.session.add_custom(STOPPED_TYPE, {"text": text})
            raise
        profile = self.profile.name
        result.profile = profile
        result.sources = turn.sources
        if profile == COMPACT:
            _tidy(result, text)
        result.text = self._cited(result.text, turn.sources, profile)
        self._store(text, turn, result)
        return result

    def _answer(
        self, text: str, events: TurnEvents, cancel: CancelScope | None, pinned: tuple[str, ...]
    ) -> tuple[PreparedTurn, TurnResult]:
        """Prepare the turn's prompt and run the model on it (nothing stored yet)."""
        now = self.ctx.now()
        compact = self.profile.name == COMPACT
        if compact:
            hits = self._compact_hits(text, pinned)
            turn = self._compact_turn(text, now, hits)
        else:
            turn = self._full_turn(text, now, pinned)
        prompt_tokens = estimate_tokens(turn.messages)
        self._check_fits(prompt_tokens, turn)
        if events.on_sources and turn.sources:
            events.on_sources([s.as_dict() for s in turn.sources])
        if events.on_reading:
            events.on_reading(prompt_tokens)
        result = self._run(turn, events, cancel)
        if compact and _only_about_the_prompt(result, text):
            first = result
            turn = self._compact_turn(text, now, hits, ANSWER_ONLY_SYSTEM)
            result = self._run(turn, events, cancel)
            result.model_calls += first.model_calls
            for key, count in first.usage.items():
                result.usage[key] = result.usage.get(key, 0) + count
        return turn, result

    def _run(self, turn: PreparedTurn, events: TurnEvents, cancel: CancelScope | None):
        return run_tool_loop(
            self.client,
            turn.messages,
            self.ctx,
            turn.tools,
            self.config.agent.max_tool_iterations,
            events,
            cancel,
            turn.guard,
            **turn.call_options,
        )

    def close(self) -> None:
        self.ctx.close()

    # -- the two profiles -----------------------------------------------------------------

    def _compact_hits(self, text: str, pinned: tuple[str, ...]) -> list:
        """The notes a small model reads: pinned files whole, recalled passages focused."""
        pinned_hits = self._pinned_hits(pinned)
        query = _recall_query(text, pinned_hits)
        recalled = self._recall(query, max(3, self.config.agent.auto_recall))
        workspace = self.config.workspace_dir
        focused = [focus(hit, query, workspace, COMPACT_NOTE_CHARS) for hit in recalled]
        return pinned_hits + focused

    def _compact_turn(
        self, text: str, now: datetime, hits: list, instructions: str = SYSTEM
    ) -> PreparedTurn:
        history = self._plain_history()
        budget = self.config.llm.prompt_budget
        prompt = build_compact_prompt(text, hits, history, now, budget, instructions)
        max_tokens = min(self.config.llm.max_tokens, COMPACT_MAX_TOKENS)
        return PreparedTurn(
            messages=prompt.messages,
            user_message={"role": "user", "content": text},
            sources=prompt.sources,
            tools=(),
            guard=GuardSettings((prompt.instructions,), self._hidden_paths()),
            # Greedy decoding: a small model copies facts out of its notes more faithfully.
            call_options={"stop": COMPACT_STOP, "max_tokens": max_tokens, "temperature": 0.0},
        )

    def _full_turn(self, text: str, now: datetime, pinned: tuple[str, ...]) -> PreparedTurn:
        pinned_hits = self._pinned_hits(pinned)
        query = _recall_query(text, pinned_hits)
        hits = pinned_hits + self._recall(query, self.config.agent.auto_recall)
        sources = [_source(n, hit) for n, hit in enumerate(hits, start=1)]
        content = self._with_startup(_with_recall(text, sources), now)
        user = {"role": "user", "content": content}
        self._keep_under_window(now, user)
        messages = [self._system(now), *self.session.context_messages(), user]
        return PreparedTurn(
            messages=messages,
            user_message=user,
            sources=sources,
            tools=self.tools,
            guard=GuardSettings(GUARDED_INSTRUCTIONS, self._hidden_paths()),
        )

    def _cited(self, text: str, sources: list[Source], profile: str) -> str:
        """Numbers become citations; citations to lines that do not exist are dropped; a
        small model's uncited answer is attributed to the notes it drew its words from."""
        if profile == COMPACT and text.strip():
            text, cited = resolve_numbered(text, sources)
            if not cited:
                cited = attribute(text, sources)
            text = with_citations(text, cited)
        text, _kept = drop_false_citations(text, self.config.workspace_dir)
        return text

    def _store(self, text: str, turn: PreparedTurn, result: TurnResult) -> None:
        self.session.add_message(turn.user_message, text=text)
        for message in result.new_messages[:-1]:
            self.session.add_message(message)
        final = dict(result.new_messages[-1]) if result.new_messages else {"role": "assistant"}
        final["content"] = result.text
        extra: dict = {"model": self.client.model, "usage": result.usage, "stopped": result.stopped}
        if result.notice:
            extra["notice"] = result.notice
        if turn.sources:
            extra["sources"] = [s.as_dict() for s in turn.sources]
        extra["profile"] = result.profile
        self.session.add_message(final, **extra)

    def _check_fits(self, prompt_tokens: int, turn: PreparedTurn) -> None:
        answer = turn.call_options.get("max_tokens", self.config.llm.max_tokens)
        window = self.config.llm.context_window
        if prompt_tokens + answer > window:
            raise MessageTooLong(
                f"the message is too long for {self.client.model}: about {prompt_tokens:,} "
                f"tokens with its notes, and the model reads at most {window:,} "
                f"(including its {answer}-token answer); shorten it or split it up"
            )

    # -- recall ---------------------------------------------------------------------------

    def _recall(self, text: str, limit: int) -> list:
        """The best `limit` notes for `text`; the workspace's instruction files are not notes."""
        if limit <= 0:
            return []
        query = text[:RECALL_QUERY_CHARS]
        try:
            found = self.ctx.memory.search(query, limit).results
            if any(is_instruction_file(hit.path) for hit in found):  # ask for more, to fill in
                found = self.ctx.memory.search(query, limit + RECALL_SPARE).results
        except Exception as exc:  # recall is a bonus; a broken index must not block a turn
            log.warning("auto_recall_failed", error=str(exc))
            return []
        return [hit for hit in found if not is_instruction_file(hit.path)][:limit]

    def _pinned_hits(self, pinned: tuple[str, ...]) -> list:
        hits = []
        for path in pinned:
            try:
                piece = read_lines(self.config.workspace_dir, path, 1, None)
            except (MemoryFileError, OutsideWorkspaceError):
                continue
            if piece.text.strip():
                hits.append(_PinnedHit(piece.path, piece.start_line, piece.end_line, piece.text))
        return hits

    def _plain_history(self) -> list[dict]:
        """Earlier messages as typed (no recalled notes around them), for the compact prompt."""
        out = []
        for entry in self.session.context_entries():
            message = entry["message"]
            if message.get("role") == "user":
                out.append({"role": "user", "content": entry.get("text") or message["content"]})
            elif message.get("role") == "assistant" and not message.get("tool_calls"):
                out.append({"role": "assistant", "content": message.get("content") or ""})
        return out

    def _hidden_paths(self) -> tuple[str, ...]:
        """Paths on this machine a reply must never show."""
        paths = {str(self.config.workspace_dir), str(self.config.home)}
        home = str(Path.home())
        if len(home) >= 6:
            paths.add(home)
        return tuple(paths)

    # -- the full profile's context management (OpenClaw) ---------------------------------

    def _system(self, now: datetime, flush: bool = False) -> dict:
        options = PromptOptions(
            tools=FLUSH_TOOLS if flush and self.tools else self.tools,
            summary=self.session.summary(),
            flush=flush,
        )
        return {"role": "system", "content": build_system_prompt(self.config, now, options)}

    def _with_startup(self, content: str, now: datetime) -> str:
        """On a session's first turn, prepend today's and yesterday's daily logs (§1.7)."""
        if not self.config.agent.startup_context or self.session.context_entries():
            return content
        if self.session.summary():
            return content
        prelude = startup_context(self.config, now)
        return f"{prelude}\n\n{content}" if prelude else content

    def _keep_under_window(self, now: datetime, pending: dict) -> None:
        """OpenClaw's order: flush durable facts to the daily log once, then compact."""
        window = self.config.llm.context_window
        agent = self.config.agent
        tokens = self._context_tokens(now, pending)
        if tokens >= agent.flush_at * window and not self.session.flushed_this_cycle():
            self._flush(now)
        if tokens >= agent.compact_at * window:
            self._compact(tokens, int(agent.keep_recent * window))

    def _context_tokens(self, now: datetime, pending: dict) -> int:
        system = self._system(now)["content"]
        return text_tokens(system) + estimate_tokens([*self.session.context_messages(), pending])

    def _flush(self, now: datetime) -> None:
        """A silent turn asking the model to append durable facts to today's log."""
        messages = [
            self._system(now, flush=True),
            *self.session.context_messages(),
            {"role": "user", "content": flush_prompt(now)},
        ]
        data: dict = {"compactionCount": self.session.compaction_count}
        try:
            result = run_tool_loop(
                self.client,
                messages,
                self.ctx,
                FLUSH_TOOLS if self.tools else (),
                FLUSH_MAX_ITERATIONS,
                guard=GuardSettings(GUARDED_INSTRUCTIONS, self._hidden_paths()),
            )
            data |= {
                "reply": result.text[:500],
                "toolCalls": result.tool_calls,
                "usage": result.usage,
            }
        except LLMError as exc:
            data["error"] = str(exc)
            log.warning("memory_flush_failed", error=str(exc))
        self.session.add_custom(FLUSH_TYPE, data)
        log.info("memory_flushed", session=self.session.id, tool_calls=data.get("toolCalls"))

    def _compact(self, tokens_before: int, keep_tokens: int) -> None:
        entries = self.session.context_entries()
        cut = choose_cut(entries, keep_tokens)
        if cut is None:
            log.info("compaction_skipped", session=self.session.id, reason="nothing to drop")
            return
        dropped = [e["message"] for e in entries[:cut]]
        summary, usage = summarise(self.client, self.session.summary(), dropped)
        self.session.add_compaction(summary, entries[cut]["id"], tokens_before)
        log.info(
            "session_compacted",
            session=self.session.id,
            dropped=len(dropped),
            tokens_before=tokens_before,
            usage=usage,
        )


@dataclass(frozen=True)
class _PinnedHit:
    """A whole workspace file shown to the model as a note, like a search hit."""

    path: str
    start_line: int
    end_line: int
    snippet: str
    heading: str = ""


def _source(number: int, hit) -> Source:
    return Source(
        number=number,
        path=hit.path,
        start_line=hit.start_line,
        end_line=hit.end_line,
        text=hit.snippet,
        date=getattr(hit, "date", "") or note_day(hit.path),
        heading=hit.heading,
        provenance=getattr(hit, "provenance", "user"),
    )


def _with_recall(text: str, sources: list[Source]) -> str:
    """Prefix the user's text with the recalled notes, framed as untrusted data."""
    if not sources:
        return text
    notes = "\n\n".join(
        f"[{s.citation}]" + (f" ({s.written_by})" if s.written_by else "") + f"\n{s.text}"
        for s in sources
    )
    block = frame_untrusted("memory search results recalled for this message", notes)
    return f"{block}\n\nUser message:\n{text}"


def _recall_query(text: str, pinned_hits: list) -> str:
    """What recall searches for. A pinned file says what to look for (the heartbeat's checklist:
    "remind me of appointments"), while the message is only "follow HEARTBEAT.md": its lines
    come first."""
    return "\n".join([*(hit.snippet for hit in pinned_hits), text])


def _only_about_the_prompt(result: TurnResult, question: str) -> bool:
    """A reply that says something, but nothing that answers (see `tidy`)."""
    whole = result.stopped in ("answered", "length")
    return whole and bool(result.text.strip()) and tidy_short_answer(result.text, question) is None


def _tidy(result: TurnResult, question: str) -> None:
    """A small model's reply cut to its answer (see `tidy`). A whole first sentence is a whole
    answer, even if the model ran on to the token limit; a reply that only talks about the
    prompt is no answer, and is marked like any other degenerate one."""
    if not result.text.strip():
        return
    answer = tidy_short_answer(result.text, question)
    if answer is None:
        result.text = ""
        result.stopped = "guard"
        result.notice = NO_ANSWER_NOTICE
        return
    if result.stopped == "length" and answer != result.text.strip():
        result.stopped, result.notice = "answered", ""
    result.text = answer
