"""Bad input never crashes the loader: random damage to a valid park gives a Park or a MapError."""

from __future__ import annotations

import copy
import json
import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import maps
from maps import MapError

BASE: dict[str, Any] = json.loads(maps.test_park_path().read_text(encoding="utf-8"))
JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8), st.builds(list), st.builds(dict), st.builds(lambda: [[0, 0]]),
    st.builds(lambda: [1, 2, 3, 4]),
    st.lists(st.floats(-200, 200), max_size=3),
)


@st.composite
def damaged(draw: st.DrawFn) -> str:
    doc = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 4))):
        intact = [
            f for f in doc["features"]
            if isinstance(f, dict) and isinstance(f.get("properties"), dict) and isinstance(f.get("geometry"), dict)
        ]
        feature = draw(st.sampled_from(intact))
        where = draw(st.sampled_from(["property", "delete", "geometry", "coordinate", "feature"]))
        props = feature["properties"]
        if where == "property" and props:
            props[draw(st.sampled_from(sorted(props)))] = draw(JUNK)
        elif where == "delete" and props:
            del props[draw(st.sampled_from(sorted(props)))]
        elif where == "geometry":
            feature["geometry"] = draw(JUNK)
        elif where == "coordinate":
            feature["geometry"]["coordinates"] = draw(JUNK)
        elif where == "feature":
            doc["features"][doc["features"].index(feature)] = draw(JUNK)
    return json.dumps(doc, allow_nan=True)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged())
def test_damaged_parks_give_a_park_or_a_map_error(text: str) -> None:
    try:
        park = maps.parse_park(text, "fuzz")
    except MapError as exc:
        assert exc.problems
        assert all(p.reason for p in exc.problems)
        return
    assert all(math.isfinite(w.x) and math.isfinite(w.y) for w in park.waypoints.values())
