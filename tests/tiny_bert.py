"""Build a tiny BERT-style encoder locally (no hub): WordPiece trained on the shipped corpus.

Used by the tests and by `configs/transformer_tiny.yaml` to run the real
transformer backend offline:  python -m tests.tiny_bert build/tiny-bert
"""

from __future__ import annotations

import sys
from pathlib import Path

from predict.text import normalize_arabic, segment_article


def corpus_texts(root: Path = Path(".")) -> list[str]:
    texts = []
    for path in sorted((root / "data/raw/articles").glob("*.txt")):
        texts += segment_article(path.read_text(encoding="utf-8"))
    return [normalize_arabic(t) for t in texts]


def build_tiny_bert(out_dir: Path, texts: list[str], vocab_size: int = 1500, seed: int = 0) -> Path:
    """A 2-layer, 64-wide BERT with random weights and a WordPiece vocabulary from ``texts``."""
    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=special))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    tok.decoder = decoders.WordPiece()
    out_dir.mkdir(parents=True, exist_ok=True)
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                            sep_token="[SEP]", mask_token="[MASK]").save_pretrained(out_dir)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=tok.get_vocab_size(), hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=128, max_position_embeddings=256)
    BertModel(config).save_pretrained(out_dir)
    return out_dir


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "build/tiny-bert")
    print(build_tiny_bert(target, corpus_texts()))
