"""Patrols on a park map (`maps.load_park`): its routing graph, checkpoints and chargers for the planner."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import networkx as nx

from maps import Park, Router
from patrol.planner.model import Checkpoint
from patrol.planner.planner import Planner

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ParkPatrol:
    planner: Planner
    graph: nx.Graph
    chargers: tuple[str, ...]
    """Waypoint ids of the charging docks (one entry per dock place)."""


def park_graph(park: Park, router: Router | None = None, at: datetime | None = None) -> nx.Graph:
    """Undirected patrol graph of the park's two-way paths: waypoint ids, x/y in metres, `length`.

    One-way paths are left out (a patrol loop may drive any edge both ways); no-go zones active at
    `at` are closed as the router closes them.
    """
    directed = (router or Router(park)).graph(at=at)
    g = nx.Graph()
    for wid, w in park.waypoints.items():
        g.add_node(wid, x=w.x, y=w.y)
    one_way = 0
    for u, v, data in directed.edges(data=True):
        if not directed.has_edge(v, u):
            one_way += 1
            continue
        metres = float(data["metres"])
        if not g.has_edge(u, v) or g.edges[u, v]["length"] > metres:
            g.add_edge(u, v, length=metres)
    if one_way:
        log.info("park %s: %d one-way path ends left out of the patrol graph", park.id, one_way)
    # waypoints no path reaches cannot be patrolled; keep the part that holds the checkpoints
    if g.number_of_nodes() and not nx.is_connected(g):
        wanted = {c.waypoint for c in park.checkpoints.values()}
        parts = sorted(nx.connected_components(g), key=lambda c: (len(c & wanted), len(c)), reverse=True)
        dropped = set().union(*parts[1:])
        lost = sorted(wanted & dropped)
        if lost:
            log.warning("park %s: checkpoints at %s are cut off from the main path network", park.id, lost)
        g.remove_nodes_from(dropped)
    return g


def visits_per_cycle(map_priority: int) -> int:
    """Map priority 0-10 (docs/MAPS.md) to visits per patrol cycle: 0-3 once, 4-7 twice, 8-10 three times."""
    return 1 + max(0, min(10, int(map_priority))) // 4


def park_patrol(park: Park, router: Router | None = None, speed: float = 1.0) -> ParkPatrol:
    """A planner over the park's checkpoints (priority and revisit target from the map) and its chargers."""
    g = park_graph(park, router)
    cps = [
        Checkpoint(c.waypoint, priority=visits_per_cycle(c.priority), target_interval_s=c.revisit_s or None)
        for c in park.checkpoints.values()
        if c.waypoint in g
    ]
    chargers = tuple(
        ch.waypoint for ch in park.chargers.values() if ch.waypoint in g for _ in range(max(1, ch.capacity))
    )
    return ParkPatrol(Planner(g, cps or None, speed=speed), g, chargers)
