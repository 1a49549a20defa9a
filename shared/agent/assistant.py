"""The assistant: one session, one model, the tools; a turn from user text to a stored answer.

Per turn: keep the context under the window (memory flush, then compaction), quote recalled
memory into the user message as untrusted data, rebuild the system prompt from the workspace,
run the tool loop, and append everything to the session transcript.
"""

from __future__ import annotations

from datetime import datetime

from shared.agent.compaction import choose_cut, estimate_tokens, summarise, text_tokens
from shared.agent.llm import LLMClient, LLMError
from shared.agent.loop import TurnEvents, TurnResult, run_tool_loop
from shared.agent.prompt import PromptOptions, build_system_prompt, flush_prompt
from shared.agent.session import FLUSH_TYPE, Session, SessionStore
from shared.agent.tools import CHAT_TOOLS, FLUSH_TOOLS, ToolContext
from shared.agent.untrusted import frame_untrusted
from shared.config import Config
from shared.logs import get_logger

log = get_logger(__name__)

FAILED_TYPE = "localgpt:turn-failed"
FLUSH_MAX_ITERATIONS = 4


class Assistant:
    def __init__(
        self, config: Config, session: Session, client: LLMClient, ctx: ToolContext | None = None
    ) -> None:
        self.config = config
        self.session = session
        self.client = client
        self.ctx = ctx or ToolContext(config)
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
    def tools(self) -> tuple[str, ...]:
        """The memory tools, unless disabled or the model cannot call tools (then auto-recall
        is how memory reaches it); heartbeat runs also get the checkbox tool."""
        if not self.config.llm.tools or not self.client.endpoint.supports_tools:
            return ()
        return self.tool_names or CHAT_TOOLS

    def send(self, text: str, events: TurnEvents | None = None) -> TurnResult:
        """One user turn. Raises LLMError (one line) when the model cannot be reached."""
        now = self.ctx.now()
        user = {"role": "user", "content": self._with_recall(text)}
        self._keep_under_window(now, user)
        messages = [self._system(now), *self.session.context_messages(), user]
        try:
            result = run_tool_loop(
                self.client,
                messages,
                self.ctx,
                self.tools,
                self.config.agent.max_tool_iterations,
                events,
            )
        except LLMError as exc:
            self.session.add_custom(FAILED_TYPE, {"text": text, "error": str(exc)})
            raise
        self.session.add_message(user, text=text)
        for message in result.new_messages[:-1]:
            self.session.add_message(message)
        self.session.add_message(
            result.new_messages[-1],
            model=self.client.model,
            usage=result.usage,
            stopped=result.stopped,
        )
        return result

    def close(self) -> None:
        self.ctx.close()

    def _system(self, now: datetime, flush: bool = False) -> dict:
        options = PromptOptions(
            tools=FLUSH_TOOLS if flush and self.tools else self.tools,
            summary=self.session.summary(),
            flush=flush,
        )
        return {"role": "system", "content": build_system_prompt(self.config, now, options)}

    def _with_recall(self, text: str) -> str:
        """Prefix the user's text with the top memory hits, framed as untrusted notes."""
        limit = self.config.agent.auto_recall
        if limit <= 0:
            return text
        try:
            hits = self.ctx.memory.search(text, limit).results
        except Exception as exc:  # recall is a bonus; a broken index must not block a turn
            log.warning("auto_recall_failed", error=str(exc))
            return text
        if not hits:
            return text
        notes = "\n\n".join(f"[{hit.citation}]\n{hit.snippet}" for hit in hits)
        block = frame_untrusted("memory search results recalled for this message", notes)
        return f"{block}\n\nUser message:\n{text}"

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
