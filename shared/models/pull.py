"""`localgpt models pull`: a GGUF from Hugging Face into `$LOCALGPT_HOME/models/`, checked.

Through huggingface_hub: `HfApi.model_info` gives the repository's commit, the file's size and
its sha256 (the LFS object id) and the licence; the file is then fetched from that commit with
`http_get`, huggingface_hub's ranged HTTP download, into `models/.partial/`. The partial file
survives an interruption (Ctrl-C, a lost connection, a killed process), and the next pull of the
same file carries on from where it stopped. (hf_hub_download itself deletes its temporary file
on failure, so it cannot resume across runs.) Before any byte is fetched, the free space is
checked; once all bytes are in, the sha256 is: a file that does not match is deleted, never
kept. `HF_ENDPOINT` points at a mirror (or, in tests, at a local server in the hub's layout);
`HF_TOKEN` opens gated repositories.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from shared.config import Config
from shared.models.catalogue import CatalogueEntry, find_entry
from shared.models.local import PARTIAL_DIR, read_manifest, served_name, write_manifest

DEFAULT_ENDPOINT = "https://huggingface.co"
SPACE_MARGIN = 64 * 1024 * 1024  # bytes kept free beyond the file itself
HASH_BLOCK = 4 * 1024 * 1024

Progress = Callable[[int, int], None]  # (bytes on disk, total bytes)


class PullError(Exception):
    """The model cannot be pulled; the message says why and what to do."""


class NotEnoughSpace(PullError):
    pass


class ChecksumMismatch(PullError):
    pass


@dataclass
class PullPlan:
    """What a pull will fetch, known before the first byte: shown to the user first."""

    repo: str
    file: str
    revision: str  # the commit the file is fetched from
    size_bytes: int
    sha256: str
    licence: str
    licence_link: str
    gated: bool
    url: str
    target: Path
    partial: Path
    entry: CatalogueEntry | None

    @property
    def served_as(self) -> str:
        return served_name(self.target)

    @property
    def resume_from(self) -> int:
        try:
            size = self.partial.stat().st_size
        except OSError:
            return 0
        return size if size <= self.size_bytes else 0

    def as_dict(self) -> dict:
        data = asdict(self)
        data.update(
            target=str(self.target),
            partial=str(self.partial),
            entry=self.entry.id if self.entry else None,
            served_as=f"local/{self.served_as}",
            resume_from=self.resume_from,
        )
        return data


@dataclass
class PullResult:
    plan: PullPlan
    path: Path
    resumed_from: int
    downloaded: int
    seconds: float
    already_there: bool = False

    def as_dict(self) -> dict:
        return {
            **self.plan.as_dict(),
            "path": str(self.path),
            "model": f"local/{self.plan.served_as}",
            "resumed_from": self.resumed_from,
            "downloaded_bytes": self.downloaded,
            "seconds": round(self.seconds, 2),
            "already_there": self.already_there,
        }


def hub_endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def _hub() -> Any:
    """huggingface_hub, with its telemetry off: otherwise it adds to every request's user agent
    whether an AI agent runs it, and fetches the list of agents from the hub once a day."""
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    import huggingface_hub
    from huggingface_hub import constants

    constants.HF_HUB_DISABLE_TELEMETRY = True
    return huggingface_hub


def parse_name(name: str) -> tuple[str, str, CatalogueEntry | None]:
    """A catalogue id, or `owner/repo/path/to/file.gguf`: (repo, file, entry)."""
    entry = find_entry(name)
    if entry is not None:
        return entry.repo, entry.file, entry
    parts = name.strip().strip("/").split("/")
    if len(parts) < 3 or not parts[-1].lower().endswith(".gguf") or not all(parts):
        from shared.models.catalogue import CATALOGUE

        known = ", ".join(e.id for e in CATALOGUE)
        raise PullError(
            f"{name!r} is neither a catalogue model ({known}) nor a Hugging Face "
            "`owner/repo/file.gguf`"
        )
    return "/".join(parts[:2]), "/".join(parts[2:]), None


def plan_pull(config: Config, name: str, endpoint: str | None = None) -> PullPlan:
    """Ask the hub about the file: its commit, size, sha256 and licence."""
    hub = _hub()
    repo, file, entry = parse_name(name)
    endpoint = endpoint or hub_endpoint()
    api = hub.HfApi(endpoint=endpoint)
    info = _hub_call(lambda: api.model_info(repo, files_metadata=True), repo)
    sibling = next((s for s in info.siblings or [] if s.rfilename == file), None)
    if sibling is None:
        ggufs = [s.rfilename for s in info.siblings or [] if s.rfilename.endswith(".gguf")]
        shown = ", ".join(ggufs[:8]) + (" ..." if len(ggufs) > 8 else "") or "none"
        raise PullError(f"{repo} has no file {file!r}; its GGUF files: {shown}")
    if sibling.lfs is None or not sibling.lfs.sha256:
        raise PullError(f"the hub gives no sha256 for {repo}/{file}: refusing an unverified file")
    licence, link = _licence(info)
    revision = info.sha or "main"
    target = config.models_dir / Path(file).name
    return PullPlan(
        repo=repo,
        file=file,
        revision=revision,
        size_bytes=int(sibling.lfs.size or sibling.size or 0),
        sha256=sibling.lfs.sha256.lower(),
        licence=licence or (entry.licence if entry else ""),
        licence_link=link,
        gated=bool(info.gated),
        url=hub.hf_hub_url(repo, file, revision=revision, endpoint=endpoint),
        target=target,
        partial=target.parent / PARTIAL_DIR / f"{target.name}.{sibling.lfs.sha256[:12]}.part",
        entry=entry,
    )


def already_pulled(plan: PullPlan) -> bool:
    meta = read_manifest(plan.target)
    return bool(plan.target.is_file() and meta and meta.get("sha256") == plan.sha256)


def free_bytes(path: Path) -> int:
    """Free space where `path` is (or would be): the nearest folder that exists."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def download(
    plan: PullPlan,
    on_progress: Progress | None = None,
    free_space: Callable[[Path], int] = free_bytes,
) -> PullResult:
    """Fetch (or finish fetching) the planned file, verify it, and put it in place."""
    started = time.monotonic()
    if already_pulled(plan):
        return PullResult(plan, plan.target, 0, 0, time.monotonic() - started, True)
    if plan.target.exists():
        raise PullError(
            f"{plan.target} exists and is not this file (sha256 differs or no manifest): "
            f"remove it first (`localgpt models remove {plan.target.name}`)"
        )
    plan.partial.parent.mkdir(parents=True, exist_ok=True)
    resume = plan.resume_from
    if resume == 0:
        plan.partial.unlink(missing_ok=True)  # longer than the file: not ours to continue
    needed = plan.size_bytes - resume
    free = free_space(plan.partial.parent)
    if free < needed + SPACE_MARGIN:
        raise NotEnoughSpace(
            f"not enough disk space in {plan.target.parent}: {_mb(needed)} MB to download "
            f"(plus {_mb(SPACE_MARGIN)} MB to spare), {_mb(free)} MB free"
        )
    if resume < plan.size_bytes:
        _fetch(plan, resume, on_progress)
    elif on_progress:
        on_progress(resume, plan.size_bytes)
    digest = _sha256(plan.partial)
    if digest != plan.sha256:
        plan.partial.unlink(missing_ok=True)
        raise ChecksumMismatch(
            f"the downloaded {Path(plan.file).name} does not match the hub's sha256 "
            f"(expected {plan.sha256[:16]}…, got {digest[:16]}…); it was deleted: pull again"
        )
    write_manifest(
        plan.target,
        {
            "repo": plan.repo,
            "file": plan.file,
            "revision": plan.revision,
            "sha256": plan.sha256,
            "size": plan.size_bytes,
            "licence": plan.licence,
            "licence_link": plan.licence_link,
            "catalogue_id": plan.entry.id if plan.entry else "",
            "pulled_at": time.time(),
        },
    )
    os.replace(plan.partial, plan.target)
    return PullResult(
        plan, plan.target, resume, plan.size_bytes - resume, time.monotonic() - started
    )


def _fetch(plan: PullPlan, resume: int, on_progress: Progress | None) -> None:
    _hub()
    from huggingface_hub.file_download import http_get
    from huggingface_hub.utils import build_hf_headers

    headers = build_hf_headers()
    headers["Accept-Encoding"] = "identity"  # byte ranges of the file itself
    mode = "r+b" if resume else "wb"
    with open(plan.partial, mode) as handle:
        handle.seek(resume)
        handle.truncate()
        _hub_call(
            lambda: http_get(
                plan.url,
                handle,
                resume_size=resume,
                headers=headers,
                expected_size=plan.size_bytes,
                displayed_filename=Path(plan.file).name,
                tqdm_class=_ProgressBars(on_progress),  # type: ignore[arg-type]
            ),
            plan.repo,
        )


class _ProgressBars:
    """What http_get takes as its `tqdm_class`: it is called with tqdm's keyword arguments and
    used as a context manager with `update(n)`; we hand the counts to `on_progress`."""

    def __init__(self, on_progress: Progress | None) -> None:
        self.on_progress = on_progress

    def __call__(self, total: int | None = None, initial: int = 0, **_: Any) -> _Bar:
        return _Bar(self.on_progress, total or 0, initial)


class _Bar:
    def __init__(self, on_progress: Progress | None, total: int, initial: int) -> None:
        self.on_progress, self.total, self.n = on_progress, total, initial
        self._report()

    def update(self, n: int = 1) -> None:
        self.n += n
        self._report()

    def _report(self) -> None:
        if self.on_progress:
            self.on_progress(self.n, self.total)

    def close(self) -> None:
        pass

    def __enter__(self) -> _Bar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _licence(info: Any) -> tuple[str, str]:
    card = info.card_data
    licence = str(getattr(card, "license", "") or "") if card is not None else ""
    name = str(getattr(card, "license_name", "") or "") if card is not None else ""
    link = str(getattr(card, "license_link", "") or "") if card is not None else ""
    if not licence:
        tags = [t for t in info.tags or [] if t.startswith("license:")]
        licence = tags[0].split(":", 1)[1] if tags else ""
    if licence == "other" and name:
        licence = name
    return licence, link


def _hub_call(call: Callable[[], Any], repo: str) -> Any:
    """Run a huggingface_hub call, turning its failures into one line that says what to do."""
    import httpx
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    endpoint = hub_endpoint()
    try:
        return call()
    except GatedRepoError:
        raise PullError(
            f"{repo} is gated: accept its licence on {endpoint}/{repo}, then set HF_TOKEN"
        ) from None
    except RepositoryNotFoundError:
        raise PullError(
            f"no repository {repo} on {endpoint} (or it is private: set HF_TOKEN)"
        ) from None
    except RevisionNotFoundError as exc:
        raise PullError(f"{repo}: {exc}") from None
    except OfflineModeIsEnabled:
        raise PullError("HF_HUB_OFFLINE is set: unset it to download") from None
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        raise PullError(f"{endpoint} answered HTTP {status} for {repo}") from None
    except (httpx.ConnectError, httpx.TimeoutException, httpx.RemoteProtocolError) as exc:
        raise PullError(
            f"cannot reach {endpoint} ({type(exc).__name__}); check the network, or set "
            "HF_ENDPOINT to a mirror. A partial download is kept: pull again to continue"
        ) from None
    except OSError as exc:
        raise PullError(f"the download stopped: {exc}. Pull again to continue") from None


def _mb(n: int) -> str:
    return f"{n / 1e6:,.0f}"
