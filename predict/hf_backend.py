"""Scorer for a fine-tuned transformer encoder (optional extra: ``pip install .[transformers]``).

Long paragraphs are cut into overlapping token windows; a paragraph's logits
are the mean of its windows' logits, at training and at labeling time.
Imported only when a model's metadata says ``backend: transformer``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from predict.text import normalize_arabic


class PretrainedModelNotFound(FileNotFoundError):
    """The named encoder is neither a local folder nor in the local Hugging Face cache."""


def pick_device(device: str | None = None) -> str:
    return device or ("cuda" if torch.cuda.is_available() else "cpu")


def load_pretrained(name_or_path: str, **kwargs: Any):
    """Tokenizer and classification model, with a clear error when offline and not cached."""
    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path)
        model = AutoModelForSequenceClassification.from_pretrained(name_or_path, **kwargs)
    except OSError as exc:
        hint = "" if os.environ.get("HF_HUB_OFFLINE") else " (or there is no network to the model hub)"
        raise PretrainedModelNotFound(
            f"model {name_or_path!r} could not be found locally{hint}. Give model.model_name_or_path as a local "
            "folder holding config.json, the weights and the tokenizer files, or download it once where the hub is "
            "reachable and run with HF_HUB_OFFLINE=1 and the same HF_HOME cache. Cause: " + str(exc).splitlines()[0]
        ) from None
    return tokenizer, model


class TransformerScorer:
    """Raw class scores from a sequence-classification encoder over token windows."""

    def __init__(self, model: Any, tokenizer: Any, max_length: int, stride: int, device: str | None = None, batch_size: int = 32):
        self.device = pick_device(device)
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        self.max_length, self.stride, self.batch_size = max_length, stride, batch_size
        self.classes = [model.config.id2label[i] for i in range(model.config.num_labels)]

    @classmethod
    def load(cls, directory: Path, meta: dict[str, Any], device: str | None = None) -> "TransformerScorer":
        tokenizer, model = load_pretrained(str(directory))
        cfg = meta["config"]["model"]
        return cls(model, tokenizer, cfg["max_length"], cfg["stride"], device)

    def windows(self, texts: Sequence[str]) -> tuple[dict[str, torch.Tensor], np.ndarray]:
        """Token windows of every text and, for each window, the index of its text."""
        enc = self.tokenizer(
            [normalize_arabic(t) for t in texts], max_length=self.max_length, truncation=True, stride=self.stride,
            return_overflowing_tokens=True, padding="longest", return_tensors="pt",
        )
        owner = enc.pop("overflow_to_sample_mapping").numpy()
        enc.pop("offset_mapping", None)
        return dict(enc), owner

    @torch.no_grad()
    def logits(self, paragraphs: Sequence[str], contexts: Sequence[str] | None = None) -> np.ndarray:
        enc, owner = self.windows(paragraphs)
        n = len(owner)
        out = []
        for start in range(0, n, self.batch_size):
            batch = {k: v[start : start + self.batch_size].to(self.device) for k, v in enc.items()}
            out.append(self.model(**batch).logits.float().cpu().numpy())
        window_logits = np.concatenate(out) if out else np.zeros((0, len(self.classes)))
        result = np.zeros((len(paragraphs), len(self.classes)))
        np.add.at(result, owner, window_logits)
        return result / np.bincount(owner, minlength=len(paragraphs))[:, None]

    def save(self, directory: Path) -> None:
        self.model.save_pretrained(directory)
        self.tokenizer.save_pretrained(directory)
