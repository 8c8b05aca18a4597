"""What happened during training: the record the loop keeps, the run folder saves and the plots draw."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields
from pathlib import Path

from .files import atomic_write_text


@dataclass
class History:
    """One entry per optimizer step (loss, learning rate, speed), and one per evaluation."""

    step: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    tokens_per_sec: list[float] = field(default_factory=list)
    eval_step: list[int] = field(default_factory=list)
    eval_train_loss: list[float] = field(default_factory=list)
    eval_val_loss: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {f.name: list(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict) -> History:
        return cls(**{f.name: list(d.get(f.name, [])) for f in fields(cls)})

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def save(self, path: str | Path) -> None:
        atomic_write_text(path, self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> History:
        return cls.from_dict(json.loads(Path(path).read_text()))

    @property
    def best_val_loss(self) -> float:
        return min(self.eval_val_loss, default=math.inf)
