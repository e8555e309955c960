"""What the flow's stages share: the topic names, and whether the sak step writes a changelog."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from helved.config import Topics
from helved.domain.model import Fagsystem


@dataclass(frozen=True, slots=True)
class FlowConfig:
    """One flow's settings, fixed when the flow is built.

    `changelog`: the sak step writes the sak's state to `topics.sak_state` after every event it
    applies (the changelog a sak's state is restored from when a recovery volume is lost).
    `inputs` (input topic -> fagsystem) is read from the fagsystem registry once, here.
    """

    topics: Topics
    changelog: bool = False
    inputs: Mapping[str, Fagsystem] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", self.topics.inputs())
