"""``parkpatrol map ...`` commands: check, route, render.

Exit codes: 0 success, 1 no route / unknown place, 2 the map is invalid (every problem printed).
"""

from __future__ import annotations

import argparse
import json
import sys

from maps.errors import MapError
from maps.loader import load_park
from maps.model import Park
from maps.routing import NoRouteError, Router, resolve_place

EXIT_NO_ROUTE = 1
EXIT_BAD_MAP = 2


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``map check|route|render`` under the given subparsers."""
    parser = sub.add_parser("map", help="check, route on and render park maps (GeoJSON)")
    commands = parser.add_subparsers(dest="map_command", required=True, metavar="{check,route,render}")

    check = commands.add_parser("check", help="validate a park map; print a summary or every problem (exit 2)")
    check.add_argument("file", help="park GeoJSON file")
    check.set_defaults(func=cmd_check)

    route = commands.add_parser("route", help="fastest route between two places")
    route.add_argument("file", help="park GeoJSON file")
    route.add_argument("origin", metavar="FROM", help="POI id, Chinese or English name, alias, waypoint id or lat,lon")
    route.add_argument("destination", metavar="TO", help="same forms as FROM")
    route.add_argument("--json", action="store_true", help="print the route as JSON")
    route.add_argument("--close-zone", action="extend", nargs="+", default=[], metavar="ID",
                       help="avoid these zones (closed at runtime)")
    route.add_argument("--close-path", action="extend", nargs="+", default=[], metavar="ID",
                       help="avoid these paths (closed at runtime)")
    route.add_argument("--no-stairs", action="store_true", help="the robot cannot climb stairs")
    route.add_argument("--speed", type=float, default=1.5, help="robot speed in m/s (default 1.5)")
    route.set_defaults(func=cmd_route)

    render = commands.add_parser("render", help="draw the park as a PNG")
    render.add_argument("file", help="park GeoJSON file")
    render.add_argument("-o", "--output", default="park.png", help="PNG to write (default park.png)")
    render.add_argument("--scale", type=float, default=2.0, help="pixels per metre (default 2)")
    render.set_defaults(func=cmd_render)


def _load(path: str) -> Park | None:
    try:
        return load_park(path)
    except MapError as exc:
        print(str(exc), file=sys.stderr)
        return None


def cmd_check(args: argparse.Namespace) -> int:
    park = _load(args.file)
    if park is None:
        return EXIT_BAD_MAP
    print(f"{args.file}: OK")
    print(park.summary())
    return 0


def cmd_route(args: argparse.Namespace) -> int:
    park = _load(args.file)
    if park is None:
        return EXIT_BAD_MAP
    if not args.speed > 0:
        print(f"--speed must be positive, got {args.speed}", file=sys.stderr)
        return EXIT_NO_ROUTE
    try:
        start = resolve_place(park, args.origin)
        goal = resolve_place(park, args.destination)
        route = Router(park, speed=args.speed).route(
            start, goal, closed_zones=args.close_zone, closed_paths=args.close_path, no_stairs=args.no_stairs
        )
    except NoRouteError as exc:
        print(f"no route: {exc}", file=sys.stderr)
        return EXIT_NO_ROUTE
    if args.json:
        print(json.dumps({"from": args.origin, "to": args.destination, **route.to_json()}, ensure_ascii=False))
    else:
        print(f"{args.origin} -> {args.destination}: {route.metres:.1f} m, {route.seconds:.1f} s")
        print(" -> ".join(route.waypoints))
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    park = _load(args.file)
    if park is None:
        return EXIT_BAD_MAP
    from maps.render import write_png  # OpenCV only when drawing

    if not args.scale > 0:
        print(f"--scale must be positive, got {args.scale}", file=sys.stderr)
        return EXIT_NO_ROUTE
    try:
        out = write_png(park, args.output, scale=args.scale)
    except OSError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_NO_ROUTE
    print(f"wrote {out}")
    return 0
