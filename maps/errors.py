"""Problems found in a park map, and the one error that carries all of them.

A map is checked completely before anything is refused: `MapError.problems` lists every
problem found, each with the feature it concerns (index in the FeatureCollection and id),
the property and the reason, so a park owner can fix the file in one pass.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a map file.

    `index` is the feature's position in `features` (None for the file or the collection
    itself), `feature_id` its `id` property when known, `property` the offending property
    (dotted for nested values, e.g. ``ground_points.2``) or ``geometry``.
    """

    reason: str
    index: int | None = None
    feature_id: str | None = None
    property: str | None = None

    def location(self) -> str:
        """Where the problem is, e.g. ``feature #12 (id 'p_a1_a2') property 'to'``."""
        parts: list[str] = []
        if self.index is None:
            parts.append("collection")
        else:
            parts.append(f"feature #{self.index}")
        if self.feature_id is not None:
            parts.append(f"(id {self.feature_id!r})")
        if self.property is not None:
            parts.append(f"property {self.property!r}")
        return " ".join(parts)

    def __str__(self) -> str:
        return f"{self.location()}: {self.reason}"


class MapError(ValueError):
    """A park map could not be loaded; `problems` lists everything that is wrong with it."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems: list[Problem] = list(problems)
        super().__init__(self._message())

    def _message(self) -> str:
        count = len(self.problems)
        head = f"{self.source}: {count} problem{'s' if count != 1 else ''} in park map"
        lines = [head, *(f"  - {problem}" for problem in self.problems)]
        lines.append("  Fix the features listed above (see docs/MAPS.md for the schema) and load it again.")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self._message()
