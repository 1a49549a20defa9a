"""A short list of instruct models that answer well on a laptop CPU, as GGUF files on Hugging Face.

Repository and file names, sizes and licences were read off the Hugging Face pages of each
repository (December 2026); `pull` reads the real size and sha256 from the hub again before it
downloads, so a re-uploaded file is still checked. Speeds: Llama-3.2-3B's are published
llama-bench runs on laptop CPUs (README, "Choosing a model"); the 1.5-1.7B ones are those scaled
by file size (writing is bound by memory bandwidth: every token reads all the weights once).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class CatalogueEntry:
    id: str  # what the user types: `localgpt models pull qwen2.5-1.5b`
    title: str
    repo: str  # Hugging Face repository
    file: str  # the GGUF file in it
    size_bytes: int  # approximate, as the hub lists it
    params_billions: float
    licence: str
    speed: str  # expected speed on a laptop CPU
    note: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


CATALOGUE: tuple[CatalogueEntry, ...] = (
    CatalogueEntry(
        id="qwen2.5-1.5b",
        title="Qwen2.5-1.5B-Instruct (Q4_K_M)",
        repo="bartowski/Qwen2.5-1.5B-Instruct-GGUF",
        file="Qwen2.5-1.5B-Instruct-Q4_K_M.gguf",
        size_bytes=986_000_000,
        params_billions=1.5,
        licence="apache-2.0",
        speed="about 15-45 tokens/s written, 35-150 read (estimated)",
        note="the recommended first download: small, quick, follows instructions well",
    ),
    CatalogueEntry(
        id="llama3.2-3b",
        title="Llama-3.2-3B-Instruct (Q4_K_M)",
        repo="bartowski/Llama-3.2-3B-Instruct-GGUF",
        file="Llama-3.2-3B-Instruct-Q4_K_M.gguf",
        size_bytes=2_019_377_696,
        params_billions=3.2,
        licence="llama3.2",
        speed="about 8-24 tokens/s written, 18-80 read (measured)",
        note="better answers, twice the size and half the speed; Meta's Llama 3.2 licence",
    ),
    CatalogueEntry(
        id="smollm2-1.7b",
        title="SmolLM2-1.7B-Instruct (Q4_K_M)",
        repo="HuggingFaceTB/SmolLM2-1.7B-Instruct-GGUF",
        file="smollm2-1.7b-instruct-q4_k_m.gguf",
        size_bytes=1_060_000_000,
        params_billions=1.7,
        licence="apache-2.0",
        speed="about 15-45 tokens/s written, 35-150 read (estimated)",
        note="the embedded model's big sibling, from the same team",
    ),
)

RECOMMENDED = CATALOGUE[0]


def find_entry(name: str) -> CatalogueEntry | None:
    """The catalogue entry called `name` (its id, or its repo/file)."""
    wanted = name.strip().lower()
    for entry in CATALOGUE:
        if wanted in (entry.id, f"{entry.repo}/{entry.file}".lower(), entry.file.lower()):
            return entry
    return None
