"""SentencePiece (T5, Llama 1/2) trained on the corpus with lossless settings, behind our interface."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable
from pathlib import Path

from .base import Tokenizer, register


@register
class SentencePieceTokenizer(Tokenizer):
    """A SentencePiece model trained on the corpus; the model file travels inside the JSON (base64)."""

    kind = "sentencepiece"

    def __init__(self, model_proto: bytes) -> None:
        import sentencepiece as spm

        self.model_proto = model_proto
        self.sp = spm.SentencePieceProcessor(model_proto=model_proto)
        self.eot_id = self.sp.eos_id() if self.sp.eos_id() >= 0 else None

    @classmethod
    def train(cls, text: str, vocab_size: int = 1024, model_type: str = "bpe") -> SentencePieceTokenizer:
        """Train on `text`, with the settings that make decode(encode(text)) == text exactly."""
        import sentencepiece as spm

        if not text:
            raise ValueError("cannot train SentencePiece on empty text")
        lines = [line for line in text.split("\n") if line]
        model = io.BytesIO()
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(lines), model_writer=model, vocab_size=vocab_size, model_type=model_type,
                character_coverage=1.0, byte_fallback=True,  # unseen characters become byte tokens, never <unk>
                normalization_rule_name="identity", remove_extra_whitespaces=False, add_dummy_prefix=False,
                user_defined_symbols=["\n"],  # lines are its sentences: make the newline a token of its own
                max_sentence_length=1 << 16, num_threads=1, minloglevel=2,
            )
        except RuntimeError as e:
            raise ValueError(
                f"SentencePiece training failed: {str(e).splitlines()[0]}. The vocabulary holds 256 byte tokens, "
                "3 control tokens and every character of the text: choose a larger vocab_size"
            ) from None
        return cls(model.getvalue())

    @property
    def vocab_size(self) -> int:
        return self.sp.get_piece_size()

    def encode(self, text: str) -> list[int]:
        return self.sp.encode(text)

    def decode(self, ids: Iterable[int]) -> str:
        return self.sp.decode([int(i) for i in ids])

    def save_model(self, path: str | Path) -> Path:
        """Write the plain `.model` file too (for SentencePiece's own tools)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.model_proto)
        return path

    def to_dict(self) -> dict:
        return {"model": base64.b64encode(self.model_proto).decode("ascii")}

    @classmethod
    def from_dict(cls, d: dict) -> SentencePieceTokenizer:
        return cls(base64.b64decode(d["model"]))
