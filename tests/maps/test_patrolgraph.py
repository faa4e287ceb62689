"""patrolling_sim .graph import: all nine benchmark maps, the quirks, and the old header."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import pytest

from maps.patrolgraph import PatrolGraphError, load_patrol_graph, parse_patrol_graph

# vertices from REFERENCE.md; edges = distinct vertex pairs joined (edges are listed from both ends)
COUNTS = {
    "1r5": (12, 11), "ctcv": (18, 17), "move_base_arena": (14, 22), "grid": (25, 40), "DIAG_labs": (27, 26),
    "example": (29, 34), "cumberland": (40, 44), "DIAG_floor1": (60, 63), "broughton": (163, 186),
}
# optimal TSP tour lengths from REFERENCE.md for the maps that are trees (tour = twice the edges)
TREE_TOURS = {"1r5": 85.0, "ctcv": 119.6, "DIAG_labs": 154.9}


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_benchmark_graphs_import_with_the_right_counts(name: str, shared_dir: Path) -> None:
    pg = load_patrol_graph(shared_dir / "benchmarks" / "patrol-graphs" / f"{name}.graph")
    vertices, edges = COUNTS[name]
    assert (pg.vertex_count, pg.edge_count) == (vertices, edges)
    assert sorted(pg.graph.nodes) == list(range(vertices))
    assert nx.is_connected(pg.graph)
    for _, data in pg.graph.nodes(data=True):
        assert isinstance(data["x"], float) and isinstance(data["y"], float)
    assert all(data["length"] > 0 for _, _, data in pg.graph.edges(data=True))
    if name in TREE_TOURS:
        assert 2 * sum(d["length"] for _, _, d in pg.graph.edges(data=True)) == pytest.approx(TREE_TOURS[name])


def test_quirks(shared_dir: Path) -> None:
    folder = shared_dir / "benchmarks" / "patrol-graphs"
    arena = load_patrol_graph(folder / "move_base_arena.graph")
    assert arena.graph.edges[3, 12]["length"] == pytest.approx(49 * arena.resolution)
    example = load_patrol_graph(folder / "example.graph")
    assert example.parallel_edges == 2
    assert arena.parallel_edges == 0


def test_old_header_and_offsets() -> None:
    body = "0 10 20 1 1 E 30\n1 40 20 1 0 W 30\n"
    old = parse_patrol_graph("2\n100 50\n0.1\n" + body, "old")
    assert old.offset == (0.0, 0.0) and old.position(1) == pytest.approx((4.0, 2.0))
    new = parse_patrol_graph("2\n100 50\n0.1\n-2 3\n" + body, "new")
    assert new.position(0) == pytest.approx((-1.0, 5.0))
    assert new.graph.edges[0, 1]["length"] == pytest.approx(3.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "header"),
        ("2\n100 50\n0.1\n0 0\n0 10 20 1 1 E 30\n", "not a patrolling_sim graph"),
        ("2\n100 50\n0.1\n0 0\n0 10 20 1 1 E 30\n1 40 20 0\n", "one end only"),
        ("2\n100 50\n0.1\n0 0\n0 10 20 1 5 E 30\n1 40 20 1 0 W 30\n", "not a patrolling_sim graph"),
    ],
)
def test_malformed_graphs(text: str, message: str) -> None:
    with pytest.raises(PatrolGraphError, match=message):
        parse_patrol_graph(text, "bad")
