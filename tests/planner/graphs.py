"""Small hand-made patrol graphs for planner tests (networkx, int vertices, x/y and length in metres)."""

from __future__ import annotations

import math

import networkx as nx


def grid(cols: int, rows: int, spacing: float = 10.0) -> nx.Graph:
    g = nx.Graph()
    for r in range(rows):
        for c in range(cols):
            g.add_node(r * cols + c, x=c * spacing, y=r * spacing)
    for r in range(rows):
        for c in range(cols):
            v = r * cols + c
            if c + 1 < cols:
                g.add_edge(v, v + 1, length=spacing)
            if r + 1 < rows:
                g.add_edge(v, v + cols, length=spacing)
    return g


def star(arms: int, arm_len: int, spacing: float = 10.0) -> nx.Graph:
    """A hub (0) with `arms` straight corridors of `arm_len` vertices: a tree where partitions shine."""
    g = nx.Graph()
    g.add_node(0, x=0.0, y=0.0)
    v = 1
    for a in range(arms):
        ang = 2 * math.pi * a / arms
        prev = 0
        for k in range(1, arm_len + 1):
            g.add_node(v, x=math.cos(ang) * k * spacing, y=math.sin(ang) * k * spacing)
            g.add_edge(prev, v, length=spacing)
            prev, v = v, v + 1
    return g


def add_lengths_from_positions(g: nx.Graph) -> nx.Graph:
    for u, v in g.edges:
        a, b = g.nodes[u], g.nodes[v]
        g.edges[u, v]["length"] = math.hypot(a["x"] - b["x"], a["y"] - b["y"])
    return g
