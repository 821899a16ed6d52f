"""Transformer model family: fine-tune a pretrained encoder on the same prepared data.

A plain PyTorch loop (AdamW, linear warm-up/decay) over token windows; each
window of a long paragraph is a training example with the paragraph's label.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

from predict.hf_backend import TransformerScorer, load_pretrained, pick_device
from train.config import TransformerModelConfig


class TransformerFit:
    """Fit function for `train_model`: fine-tune a fresh copy of the pretrained encoder."""

    def __init__(self, model: TransformerModelConfig, seed: int, device: str | None = None):
        self.cfg, self.seed, self.device = model, seed, pick_device(device)

    def __call__(self, units: Sequence[tuple[str, str]], labels: Sequence[str], groups: Sequence[str]) -> TransformerScorer:
        """Fine-tune on the paragraphs of (paragraph, article) units; the article context is not used."""
        texts = [u[0] for u in units]
        torch.manual_seed(self.seed)
        classes = sorted(set(labels))
        tokenizer, model = load_pretrained(
            self.cfg.model_name_or_path, num_labels=len(classes), id2label=dict(enumerate(classes)),
            label2id={c: i for i, c in enumerate(classes)}, ignore_mismatched_sizes=True,
        )
        scorer = TransformerScorer(model, tokenizer, self.cfg.max_length, self.cfg.stride, self.device, self.cfg.batch_size)
        enc, owner = scorer.windows(list(texts))
        y = torch.tensor([classes.index(labels[i]) for i in owner])
        self._fit(scorer.model, enc, y)
        scorer.model.eval()
        scorer.params = {"windows": int(len(owner))}
        return scorer

    def _fit(self, model: torch.nn.Module, enc: dict[str, torch.Tensor], y: torch.Tensor) -> None:
        n, bs = len(y), self.cfg.batch_size
        steps = max(1, math.ceil(self.cfg.epochs * math.ceil(n / bs)))
        optimizer = torch.optim.AdamW(model.parameters(), lr=self.cfg.learning_rate, weight_decay=self.cfg.weight_decay)
        warmup = max(1, steps // 10)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup))))
        generator = torch.Generator().manual_seed(self.seed)
        weights = torch.tensor(len(y) / (len(set(y.tolist())) * np.bincount(y.numpy())), dtype=torch.float32)
        loss_fn = torch.nn.CrossEntropyLoss(weight=weights.to(self.device))  # balanced, like the linear model
        model.train()
        step = 0
        while step < steps:
            for idx in torch.randperm(n, generator=generator).split(bs):
                batch = {k: v[idx].to(self.device) for k, v in enc.items()}
                loss = loss_fn(model(**batch).logits, y[idx].to(self.device))
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                schedule.step()
                optimizer.zero_grad()
                step += 1
                if step >= steps:
                    break
