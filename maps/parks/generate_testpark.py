"""Generate testpark.geojson: a 60 m x 40 m park of twelve waypoints for tests.

Layout (x east, y north, metres; names of waypoints)::

    w9 ---- w10 ---- w11 ---- w12      y = 40   (w10-w11 crosses nothing; f->k diagonal crosses the pond)
    |        |   lawn |        |
    w5 ---- w6 ----- w7 ----- w8       y = 20
    |       ||stairs           |
    w1 ---- w2 ----- w3 ----- w4       y = 0

Row 0 to row 1 only at the ends (ramps) and by stairs at x = 20; a diagonal w6-w11 crosses a
no-go pond; the w7-w11 lane crosses the restricted lawn; w3 -> w4 is one-way.
Deterministic: ``python -m maps.parks.generate_testpark``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from maps.geo import LatLon
from maps.parks.builder import ParkBuilder, box


def build() -> ParkBuilder:
    b = ParkBuilder("testpark", "Test Park", "测试园区", LatLon(30.66, 104.07), "Small park for tests.")
    for n, (x, y) in enumerate(((x, y) for y in (0.0, 20.0, 40.0) for x in (0.0, 20.0, 40.0, 60.0)), start=1):
        b.waypoint(f"w{n}", (x, y))
    for row in (0, 4, 8):
        for k in range(1, 4):
            a, c = f"w{row + k}", f"w{row + k + 1}"
            b.path(a, c, width=3.0, max_speed=1.5, bidirectional=(a, c) != ("w3", "w4"))
    b.path("w4", "w3", id="p_w4__w3_slow", width=1.0, max_speed=0.5)  # slow way back against the one-way
    b.path("w1", "w5", width=3.0, max_speed=0.6, slope=12.0)  # steep ramps
    b.path("w4", "w8", width=3.0, max_speed=0.6, slope=12.0)
    b.path("w2", "w6", width=2.0, max_speed=1.5, stairs=True, slope=60.0)
    for k in range(1, 5):
        b.path(f"w{4 + k}", f"w{8 + k}", width=3.0, max_speed=1.5)
    b.path("w6", "w11", id="p_pond_bridge", width=2.0, max_speed=1.5)
    b.boundary("fence", box(-10, -10, 70, 50), "Fence")
    b.zone("tz_lawn", box(37, 22, 43, 34), kind="restricted", name_zh="草坪", name_en="Lawn",
           schedule="Mo-Fr 18:00-08:00; Sa,Su 00:00-24:00", priority=2)
    b.zone("tz_pond", box(25, 25, 33, 33), kind="no_go", name_zh="池塘", name_en="Pond", priority=4)
    b.zone("tz_office", box(-5, 45, 25, 49), kind="after_hours", name_zh="办公室", name_en="Office",
           schedule="Mo-Su 22:00-07:00", priority=1)
    b.poi("tp_gate", (0.0, -5.0), "w1", name_zh="大门", name_en="Main Gate", aliases=["入口", "Entrance"],
          category="gate")
    b.poi("tp_library", box(55, 42, 65, 48), "w12", name_zh="图书馆", name_en="Library", aliases=["阅览室"],
          category="education", opening_hours="Mo-Fr 09:00-21:00")
    b.poi("tp_cafe", (62.0, -4.0), "w4", name_zh="咖啡馆", name_en="Cafe", aliases=["咖啡厅", "Coffee"],
          category="food", opening_hours="Mo-Su 08:00-20:00")
    b.poi("tp_lab", box(15, 42, 25, 48), "w10", name_zh="实验室", name_en="Lab", category="office")
    b.checkpoint("w12", 300, 2)
    b.checkpoint("w4", 600, 1)
    b.checkpoint("w7", 300, 3)
    b.camera("cam_test", (-5.0, -5.0), 45.0, height=6.0, pitch=25.0, range_m=50.0, name="Test camera")
    b.sensor("door_tp_lab", "door", (20.0, 42.0), "tz_office")
    b.sensor("pir_tp_lawn", "pir", (40.0, 30.0), "tz_lawn")
    b.sensor("fence_tp_1", "fence", (70.0, 20.0))
    b.charger("charger_t1", (0.0, -4.0), "w1", capacity=2)
    return b


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else Path(__file__).with_name("testpark.geojson")
    build().write(out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
