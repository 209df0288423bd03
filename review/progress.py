"""How far a review has got, for whoever watches (a terminal): stages, agent turns, tokens.

The pipeline and the LLM client call a ``ProgressSink`` when it is set on the request; the
review never depends on it, and a sink that fails is the sink's problem.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass


class Stage(enum.Enum):
    DIFF = "diff"
    TOOLS = "static tools"
    TRIAGE = "triage"
    AGENT = "agent"
    FILTERS = "filters"


@dataclass(frozen=True, slots=True)
class Progress:
    stage: Stage
    detail: str = ""
    turns: int = 0
    tokens: int = 0


ProgressSink = Callable[[Progress], None]

# which model calls are agent turns, by the purpose the pipeline gives them
AGENT_PURPOSES = frozenset({"review", "repair"})
