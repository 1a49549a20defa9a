"""A lean query encoder for processes that only embed search queries (the API).

Runs the same ONNX model and tokenizer files fastembed uses, with the same pipeline for
all-MiniLM-L6-v2 (truncate at 256 tokens, mean pooling over the attention mask, L2
normalisation), but without importing fastembed and with onnxruntime's memory arena off and one
thread: about 25 MB less for the import and far less for the arena, so the API stays small.
Tests check its vectors against fastembed's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

MAX_TOKENS = 256


class QueryEncoder:
    def __init__(self, model_dir: Path) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.enable_cpu_mem_arena = False
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(model_dir / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.no_padding()
        self.embedding_size = int(self._session.get_outputs()[0].shape[-1])

    def embed(self, texts: list[str], batch_size: int = 1):
        """fastembed's `embed` signature, one text at a time (queries are short)."""
        for text in texts:
            yield self._one(text)

    def _one(self, text: str) -> np.ndarray:
        encoding = self._tokenizer.encode(text)
        ids = np.array([encoding.ids], dtype=np.int64)
        mask = np.array([encoding.attention_mask], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feeds)[0]
        pooled = (hidden * mask[..., None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
        return (pooled / np.linalg.norm(pooled, axis=1, keepdims=True))[0].astype(np.float32)


def supports(model_name: str, model_dir: Path | None) -> bool:
    """Only for the model whose pipeline this replicates, from a local folder."""
    return (
        model_name == "sentence-transformers/all-MiniLM-L6-v2"
        and model_dir is not None
        and (model_dir / "model.onnx").is_file()
        and (model_dir / "tokenizer.json").is_file()
    )
