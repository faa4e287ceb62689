"""All-pairs shortest paths on a patrol graph (networkx Graph, edge attribute `length` in metres)."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence

import networkx as nx
import numpy as np
from numpy.typing import NDArray

Node = Hashable


class GraphError(ValueError):
    """The patrol graph cannot be used for planning (disconnected, bad lengths, unknown node)."""


class ShortestPaths:
    """Distances and routes between every pair of vertices, computed once (Dijkstra from every vertex).

    Nodes keep the ids of the graph; `dist(u, v)` is in metres and `path(u, v)` lists every vertex
    passed, both ends included.
    """

    def __init__(self, graph: nx.Graph, weight: str = "length") -> None:
        if graph.number_of_nodes() == 0:
            raise GraphError("the patrol graph has no vertices; load a map with at least one vertex")
        self.graph = graph
        self.nodes: list[Node] = list(graph.nodes)
        self.index: dict[Node, int] = {n: i for i, n in enumerate(self.nodes)}
        n = len(self.nodes)
        rows: list[int] = []
        cols: list[int] = []
        vals: list[float] = []
        for u, v, data in graph.edges(data=True):
            length = data.get(weight)
            if length is None or not np.isfinite(float(length)) or float(length) < 0:
                raise GraphError(
                    f"edge {u}-{v} has no valid '{weight}' (got {length!r}); give every edge a length in metres"
                )
            i, j = self.index[u], self.index[v]
            if i == j:
                continue
            # parallel edges and asymmetric duplicates: keep the shorter one
            length_f = max(float(length), 1e-9)
            rows += [i, j]
            cols += [j, i]
            vals += [length_f, length_f]
        mat = np.full((n, n), np.inf)
        for i, j, w in zip(rows, cols, vals, strict=True):
            if w < mat[i, j]:
                mat[i, j] = w
        finite = np.isfinite(mat)
        work = nx.Graph()
        work.add_nodes_from(range(n))
        for i, j in zip(*np.nonzero(finite), strict=True):
            work.add_edge(int(i), int(j), w=float(mat[i, j]))
        dist = np.full((n, n), np.inf)
        pred = np.full((n, n), -1, dtype=np.int32)
        for src in range(n):
            preds, dists = nx.dijkstra_predecessor_and_distance(work, src, weight="w")
            for dst, d in dists.items():
                dist[src, dst] = d
                if preds[dst]:
                    pred[src, dst] = min(preds[dst])
        if not np.all(np.isfinite(dist)):
            bad = int(np.argwhere(~np.isfinite(dist))[0][1])
            raise GraphError(
                f"the patrol graph is disconnected: vertex {self.nodes[bad]!r} cannot be reached from "
                f"{self.nodes[0]!r}; connect it or remove it from the map"
            )
        self.matrix: NDArray[np.float64] = dist
        self._pred: NDArray[np.int32] = pred
        self.edge_length: dict[tuple[Node, Node], float] = {}
        for i, j in zip(*np.nonzero(finite), strict=True):
            self.edge_length[(self.nodes[int(i)], self.nodes[int(j)])] = float(mat[i, j])

    def __contains__(self, node: object) -> bool:
        return node in self.index

    def require(self, nodes: Iterable[Node]) -> None:
        """Raise GraphError naming the first node that is not a vertex of the graph."""
        for node in nodes:
            if node not in self.index:
                raise GraphError(f"vertex {node!r} is not in the patrol graph; use one of its vertex ids")

    def dist(self, u: Node, v: Node) -> float:
        return float(self.matrix[self.index[u], self.index[v]])

    def path(self, u: Node, v: Node) -> list[Node]:
        """Vertices from u to v along a shortest path, both included."""
        i, j = self.index[u], self.index[v]
        out = [j]
        while j != i:
            j = int(self._pred[i, j])
            out.append(j)
        out.reverse()
        return [self.nodes[k] for k in out]

    def submatrix(self, nodes: Sequence[Node]) -> NDArray[np.float64]:
        idx = [self.index[n] for n in nodes]
        return self.matrix[np.ix_(idx, idx)]

    def neighbours(self, u: Node) -> list[Node]:
        return list(self.graph.neighbors(u))

    def nearest(self, u: Node, candidates: Iterable[Node]) -> Node:
        """The candidate with the shortest route from u (ties: first given)."""
        best: Node | None = None
        best_d = np.inf
        for c in candidates:
            d = self.dist(u, c)
            if d < best_d:
                best, best_d = c, d
        if best is None:
            raise GraphError("no candidate vertices given")
        return best
