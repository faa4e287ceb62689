"""Command line for the guide: ask a question, check a knowledge base, measure accuracy.

    parkpatrol guide ask "食堂在哪里" [--lang zh] [--from gate_south] [--park FILE] [--knowledge FILE]
    parkpatrol guide check [--park FILE] [--knowledge FILE]
    parkpatrol bench guide --questions tests/data/guide_questions.yaml
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from maps import MapError, Park, load_park, sample_park_path
from patrol.guide.engine import GuideEngine
from patrol.guide.knowledge import KnowledgeBase, KnowledgeError, knowledge_path_for, load_knowledge
from patrol.guide.routes import ParkRoutes, PlaceError
from patrol.guide.text import normalise


def _paths(p: argparse.ArgumentParser) -> None:
    p.add_argument("--park", type=Path, default=None, help="park GeoJSON (default: the sample park)")
    p.add_argument("--knowledge", type=Path, default=None,
                   help="knowledge base YAML (default: <park>.knowledge.yaml beside the park file)")


def _load(args: argparse.Namespace) -> tuple[Park, KnowledgeBase]:
    park_path: Path = args.park or sample_park_path()
    kb_path: Path = args.knowledge or knowledge_path_for(park_path)
    return load_park(park_path), load_knowledge(kb_path)


def consistency_problems(park: Park, kb: KnowledgeBase) -> list[str]:
    """Where the knowledge base and the map disagree (places, names, hours, aliases)."""
    problems = [f"pois.{pid}: in the knowledge base but not in the map" for pid in kb.pois if pid not in park.pois]
    problems += [f"pois.{pid}: in the map but missing from the knowledge base" for pid in park.pois
                 if pid not in kb.pois]
    for pid in sorted(set(kb.pois) & set(park.pois)):
        info, poi = kb.pois[pid], park.pois[pid]
        if (info.name.zh, info.name.en) != (poi.name_zh, poi.name_en):
            problems.append(f"pois.{pid}.name: {info.name.zh}/{info.name.en} but the map says "
                            f"{poi.name_zh}/{poi.name_en}")
        if info.opening_hours != poi.opening_hours.text:
            problems.append(f"pois.{pid}.opening_hours: {info.opening_hours!r} but the map says "
                            f"{poi.opening_hours.text!r}")
        names = {normalise(n) for n in (info.name.zh, info.name.en, *info.aliases.all())}
        missing = [a for a in poi.aliases if normalise(a) not in names]
        if missing:
            problems.append(f"pois.{pid}.aliases: add the map's aliases {missing}")
    return problems


def _ask(args: argparse.Namespace) -> int:
    try:
        park, kb = _load(args)
    except (MapError, KnowledgeError) as e:
        print(e, file=sys.stderr)
        return 2
    engine = GuideEngine(kb, ParkRoutes(park))
    try:
        answer = engine.ask(args.text, args.lang, args.origin)
    except PlaceError as e:
        print(f"--from: {e}", file=sys.stderr)
        return 2
    out: dict[str, Any] = {"answer": answer.text, "lang": answer.lang, "intent": answer.intent.value,
                           "confidence": answer.confidence, "pois": list(answer.pois), "faq": answer.faq,
                           "route": None if answer.route is None else answer.route.to_json()}
    if answer.route is not None and not args.polyline:
        out["route"] = {k: v for k, v in out["route"].items() if k not in {"polyline", "latlon", "paths"}}
    print(json.dumps(out, ensure_ascii=False, indent=2))
    return 0


def _check(args: argparse.Namespace) -> int:
    try:
        park, kb = _load(args)
    except (MapError, KnowledgeError) as e:
        print(e, file=sys.stderr)
        return 2
    problems = consistency_problems(park, kb)
    for problem in problems:
        print(problem)
    print(f"{len(kb.pois)} places, {len(kb.faq)} FAQ entries, {len(problems)} problem(s)")
    return 1 if problems else 0


def _bench(args: argparse.Namespace) -> int:
    park, kb = _load(args)
    started = time.perf_counter()
    engine = GuideEngine(kb, ParkRoutes(park))
    built = time.perf_counter() - started
    data = yaml.safe_load(Path(args.questions).read_text(encoding="utf-8"))
    items = data["questions"]
    correct = 0
    started = time.perf_counter()
    for item in items:
        answer = engine.ask(item["q"])
        got = "unknown" if not answer.known else (f"faq:{answer.faq}" if answer.faq else answer.pois[0])
        correct += got == item["expect"]
    per_question = (time.perf_counter() - started) / max(1, len(items))
    print(f"guide engine: built in {built:.2f} s; top-1 accuracy {correct}/{len(items)} = "
          f"{correct / max(1, len(items)):.3f}; {per_question * 1000:.1f} ms per question (incl. route)")
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `guide ask` and `guide check`."""
    guide = sub.add_parser("guide", help="the visitor guide: ask questions, check the knowledge base")
    gsub = guide.add_subparsers(dest="guide_command", required=True)
    ask = gsub.add_parser("ask", help="answer one question as the kiosk would")
    ask.add_argument("text")
    ask.add_argument("--lang", choices=["zh", "en"], default=None)
    ask.add_argument("--from", dest="origin", default=None, help="POI, waypoint id or 'lat,lon' (default: kiosk)")
    ask.add_argument("--polyline", action="store_true", help="print the route's full polyline")
    _paths(ask)
    ask.set_defaults(func=_ask)
    check = gsub.add_parser("check", help="validate the knowledge base and compare it with the map")
    _paths(check)
    check.set_defaults(func=_check)


def add_bench_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `bench guide`: accuracy and speed on a question file."""
    bench = sub.add_parser("guide", help="guide Q&A: top-1 accuracy and time per question")
    bench.add_argument("--questions", type=Path, default=Path("tests/data/guide_questions.yaml"))
    _paths(bench)
    bench.set_defaults(func=_bench)
