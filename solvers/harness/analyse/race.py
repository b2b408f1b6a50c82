"""The race summarised: per planted problem, the project's fastest method against the fastest peer."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..records import RaceEntry


@dataclass
class RaceRow:
    """One problem: the fastest project method and the fastest peer, and their ratio (peer / project)."""

    n: int
    d: int
    seed: int
    project: str
    project_wall: float | None
    peer: str
    peer_wall: float | None
    ratio: float | None
    ratio_is_lower_bound: bool


def summarise(entries: Iterable[RaceEntry]) -> list[RaceRow]:
    """Per (n, d, seed): best project method against best peer.

    When no peer reached the target, the ratio is the smallest budget over the best project
    time, a lower bound (``ratio_is_lower_bound``); ``None`` when the project did not reach it.
    """
    groups: dict[tuple[int, int, int], list[RaceEntry]] = {}
    for entry in entries:
        groups.setdefault((entry["n"], entry["d"], entry["seed"]), []).append(entry)
    rows = []
    for (n, d, seed), group in groups.items():
        project = _fastest(e for e in group if e["project"])
        peer = _fastest(e for e in group if not e["project"])
        project_wall = project["wall"] if project else None
        peer_wall = peer["wall"] if peer else None
        lower = peer_wall is None
        if project_wall is None:
            ratio = None
        elif not lower:
            ratio = peer_wall / project_wall
        else:
            budgets = [e["budget"] for e in group if not e["project"] and e.get("budget") is not None]
            ratio = min(budgets) / project_wall if budgets else None
        rows.append(RaceRow(n, d, seed, project["method"] if project else "–", project_wall,
                            peer["method"] if peer else "–", peer_wall, ratio, lower))
    return rows


def _fastest(entries: Iterable[RaceEntry]) -> RaceEntry | None:
    reached = [e for e in entries if e.get("wall") is not None]
    return min(reached, key=lambda e: e["wall"]) if reached else None  # type: ignore[arg-type, return-value]
