"""Import of the patrolling_sim ``.graph`` benchmark format into a networkx graph.

API (stable; the patrol planner builds on it)::

    from maps.patrolgraph import load_patrol_graph, PatrolGraph
    pg = load_patrol_graph("../shared/benchmarks/patrol-graphs/grid.graph")
    pg.graph             # networkx.Graph, nodes 0..n-1 (int), node attrs x, y (metres);
                         # edge attrs length (metres) and directions (compass labels)
    pg.vertex_count      # n
    pg.edge_count        # undirected vertex pairs joined by at least one edge (== graph edges)
    pg.parallel_edges    # extra corridors between an already-joined pair (e.g. 2 in `example`)
    pg.name, pg.resolution, pg.width_px, pg.height_px, pg.offset
    pg.position(v)       # (x, y) metres

Format (see REFERENCE.md beside the files): ``n``, ``W H`` (px), ``res`` (m/px), optional
``off_x off_y`` (m; files before 2016 lack it), then per vertex ``id x_px y_px k`` and k
triples ``nbr DIR cost_px``. Coordinates: x_m = x_px*res + off_x (y likewise, y up).
Edges are listed from both ends; where the two ends disagree on the cost, the smaller is
taken (``move_base_arena`` 3-12). Parallel corridors between one pair keep the shortest
length in the simple graph and are counted in `parallel_edges`.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import networkx as nx

MAX_NEIGHBOURS = 8
DIRECTIONS = frozenset({"N", "NE", "E", "SE", "S", "SW", "W", "NW"})


class PatrolGraphError(ValueError):
    """The file is not a valid patrolling_sim graph; the message says where."""


@dataclass(frozen=True)
class PatrolGraph:
    """A patrolling_sim benchmark graph in metres."""

    name: str
    graph: nx.Graph
    width_px: int
    height_px: int
    resolution: float
    offset: tuple[float, float]
    parallel_edges: int

    @property
    def vertex_count(self) -> int:
        return int(self.graph.number_of_nodes())

    @property
    def edge_count(self) -> int:
        return int(self.graph.number_of_edges())

    def position(self, vertex: int) -> tuple[float, float]:
        node = self.graph.nodes[vertex]
        return float(node["x"]), float(node["y"])


@dataclass(frozen=True, slots=True)
class _Vertex:
    x_px: float
    y_px: float
    links: tuple[tuple[int, str, float], ...]


def _parse_vertices(tokens: list[str], start: int, n: int) -> list[_Vertex]:
    """Vertex records from `start`; PatrolGraphError if they do not fit exactly."""
    pos = start
    vertices: list[_Vertex] = []

    def take() -> str:
        nonlocal pos
        if pos >= len(tokens):
            raise PatrolGraphError(f"file ends early (token {pos}, while reading vertex {len(vertices)})")
        pos += 1
        return tokens[pos - 1]

    for expected in range(n):
        vid = int(take())
        if vid != expected:
            raise PatrolGraphError(f"token {pos - 1}: vertex id {vid}, expected {expected}")
        x_px, y_px, k = float(take()), float(take()), int(take())
        if not 0 <= k <= MAX_NEIGHBOURS:
            raise PatrolGraphError(f"vertex {vid}: neighbour count {k} not in 0..{MAX_NEIGHBOURS}")
        links: list[tuple[int, str, float]] = []
        for _ in range(k):
            nbr, direction, cost = int(take()), take(), float(take())
            if not 0 <= nbr < n or nbr == vid:
                raise PatrolGraphError(f"vertex {vid}: neighbour {nbr} is not another vertex 0..{n - 1}")
            if direction not in DIRECTIONS:
                raise PatrolGraphError(f"vertex {vid}: direction {direction!r} is not a compass label")
            if not cost > 0:
                raise PatrolGraphError(f"vertex {vid}: cost {cost} to {nbr} is not positive")
            links.append((nbr, direction, cost))
        vertices.append(_Vertex(x_px, y_px, tuple(links)))
    if pos != len(tokens):
        raise PatrolGraphError(f"{len(tokens) - pos} unexpected tokens after vertex {n - 1}")
    return vertices


def parse_patrol_graph(text: str, name: str = "graph") -> PatrolGraph:
    """Parse `.graph` text (both the 6-number and the older 4-number header)."""
    tokens = text.split()
    try:
        n, width, height, resolution = int(tokens[0]), int(tokens[1]), int(tokens[2]), float(tokens[3])
    except (IndexError, ValueError) as exc:
        raise PatrolGraphError(f"{name}: header must start 'n W H res': {exc}") from None
    if n < 1 or not resolution > 0:
        raise PatrolGraphError(f"{name}: vertex count {n} and resolution {resolution} must be positive")
    errors: list[str] = []
    for header, offset_tokens in ((6, tokens[4:6]), (4, [])):
        try:
            offset = (float(offset_tokens[0]), float(offset_tokens[1])) if offset_tokens else (0.0, 0.0)
            vertices = _parse_vertices(tokens, header, n)
            break
        except (PatrolGraphError, ValueError) as exc:
            errors.append(f"as a {header}-number header: {exc}")
    else:
        raise PatrolGraphError(f"{name}: not a patrolling_sim graph ({'; '.join(errors)})")

    graph: nx.Graph = nx.Graph(name=name)
    for vid, v in enumerate(vertices):
        graph.add_node(vid, x=v.x_px * resolution + offset[0], y=v.y_px * resolution + offset[1])
    listed: Counter[tuple[int, int]] = Counter()
    for vid, v in enumerate(vertices):
        for nbr, direction, cost in v.links:
            key = (min(vid, nbr), max(vid, nbr))
            listed[key] += 1
            length = cost * resolution
            if graph.has_edge(vid, nbr):
                data = graph.edges[vid, nbr]
                data["length"] = min(data["length"], length)
                data["directions"] = (*data["directions"], direction)
            else:
                graph.add_edge(vid, nbr, length=length, directions=(direction,))
    parallel = 0
    for a, b in listed:
        back = sum(1 for nbr, _, _ in vertices[b].links if nbr == a)
        forth = sum(1 for nbr, _, _ in vertices[a].links if nbr == b)
        if forth == 0 or back == 0:
            raise PatrolGraphError(f"{name}: edge {a}-{b} is listed from one end only")
        parallel += max(forth, back) - 1
    return PatrolGraph(name, graph, width, height, resolution, offset, parallel)


def load_patrol_graph(path: str | os.PathLike[str]) -> PatrolGraph:
    """Read a patrolling_sim `.graph` file; PatrolGraphError (with the file name) if it is malformed."""
    file = Path(path)
    try:
        text = file.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise PatrolGraphError(f"{file}: cannot read: {exc}") from None
    try:
        return parse_patrol_graph(text, name=file.stem)
    except PatrolGraphError as exc:
        raise PatrolGraphError(f"{file}: {exc}") from None
