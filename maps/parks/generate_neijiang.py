"""Generate neijiang.geojson: a sample park modelled on a service-outsourcing park in Neijiang, Sichuan.

About 800 m x 600 m around 29.58 N, 105.06 E: a north-south avenue between two gates, five
east-west roads, offices A1-A4 / B1-B4 along the north fence, the data-labelling centre,
computing centre, park service centre (SITO), canteen, talent apartments, car parks,
e-bike charging, a substation, the security room with three robot chargers.

Deterministic: run ``python -m maps.parks.generate_neijiang`` and commit the result.
"""

from __future__ import annotations

import sys
from pathlib import Path

from maps.geo import LatLon
from maps.parks.builder import ParkBuilder, Point, box, rect

OFFICE_HOURS = "Mo-Fr 08:30-18:00"
ROWS = {"a": 220.0, "b": 120.0, "c": 20.0, "d": -80.0, "e": -180.0, "f": -260.0}
COLUMNS: dict[float, list[tuple[float, float]]] = {
    -360.0: [(-260.0, 220.0)],
    -240.0: [(-180.0, 20.0), (120.0, 220.0)],  # no road through the talent apartments
    -120.0: [(-180.0, 220.0)],
    0.0: [(-300.0, 300.0)],
    120.0: [(-180.0, 220.0)],
    240.0: [(-180.0, 120.0)],  # no lane through the computing centre
    360.0: [(-260.0, 220.0)],
}
ROW_SPAN = {"f": (-360.0, 360.0)}


class Neijiang:
    def __init__(self) -> None:
        self.b = ParkBuilder(
            "neijiang", "Neijiang Service Outsourcing Park", "内江服务外包产业园", LatLon(29.58, 105.06),
            "Sample park modelled on a service-outsourcing park in Neijiang, Sichuan (not a survey).",
        )
        self.stops: set[str] = set()

    def stop(self, wid: str, p: Point) -> str:
        """A waypoint on a road (joined into the road network by `roads`)."""
        got = self.b.waypoint(wid, p)
        self.stops.add(got)
        return got

    def grid(self) -> None:
        for row, y in ROWS.items():
            xs = [-360.0, 0.0, 360.0] if row == "f" else [-360.0, -240.0, -120.0, 0.0, 120.0, 240.0, 360.0]
            for i, x in enumerate(xs):
                self.stop(f"j_{row}{i + 1}", (x, y))
            if row != "f":
                for x in (-300.0, -180.0, -60.0, 60.0, 180.0, 300.0):
                    self.stop(f"w_{row}_{'m' if x < 0 else 'p'}{abs(int(x))}", (x, y))
        for x in (-360.0, 0.0, 360.0):
            for y in (170.0, 70.0, -30.0, -130.0):
                self.stop(f"w_{'m' if x < 0 else 'p' if x > 0 else 'av'}{abs(int(x)) or ''}_{int(y)}", (x, y))
        self.stop("gate_north", (0.0, 300.0))
        self.stop("gate_south", (0.0, -300.0))
        self.stop("w_f_m180", (-180.0, -260.0))
        self.stop("w_f_p180", (180.0, -260.0))

    def entrance(self, poi: str, door: Point, junction: Point, stairs: bool = False, slope: float = 0.0) -> str:
        """Entrance waypoint `e_<poi>` at the door with a short spur to a road junction."""
        j = self.stop(f"r_{poi}", junction)
        e = self.b.waypoint(f"e_{poi}", door)
        self.b.path(e, j, width=3.0, max_speed=1.2, stairs=stairs, slope=slope)
        return e

    def roads(self) -> None:
        wp = self.b.waypoints
        for row, y in ROWS.items():
            x0, x1 = ROW_SPAN.get(row, (-360.0, 360.0))
            stops = sorted((s for s in self.stops if wp[s][1] == y and x0 <= wp[s][0] <= x1), key=lambda s: wp[s][0])
            self.b.road(stops, width=8.0, max_speed=2.0, name=f"Road {row.upper()}")
        for x, segments in COLUMNS.items():
            for y0, y1 in segments:
                stops = sorted((s for s in self.stops if wp[s][0] == x and y0 <= wp[s][1] <= y1),
                               key=lambda s: wp[s][1])
                avenue = x == 0.0
                self.b.road(stops, width=12.0 if avenue else 6.0, max_speed=2.0,
                            name="Central Avenue" if avenue else f"Lane x{int(x)}")

    def build(self) -> ParkBuilder:
        b = self.b
        self.grid()
        b.boundary("fence", box(-400, -300, 400, 300), "Park fence")
        kiosk = b.waypoint("kiosk", (14.0, 288.0), "Guide robot kiosk")
        b.path(kiosk, "gate_north", width=4.0, max_speed=1.0)
        b.poi("gate_north", (0.0, 300.0), "gate_north", name_zh="北门", name_en="North Gate",
              aliases=["北大门", "正门", "Main Gate"], category="gate",
              description="Main entrance for visitors and staff; the guide robot waits at the kiosk inside.")
        b.poi("gate_south", (0.0, -300.0), "gate_south", name_zh="南门", name_en="South Gate",
              aliases=["南大门", "货运门", "Logistics Gate"], category="gate",
              description="Deliveries and staff cars; next to the security room.")
        b.poi("kiosk", (14.0, 288.0), kiosk, name_zh="访客接待处", name_en="Visitor Kiosk",
              aliases=["接待处", "导览机器人", "Reception"], category="info", opening_hours="Mo-Su 08:00-20:00",
              description="Visitor check-in with the guide robot.")
        zh_digits = {1: "一", 2: "二", 3: "三", 4: "四"}
        for block, xs in (("a", (-320.0, -240.0, -160.0, -80.0)), ("b", (80.0, 160.0, 240.0, 320.0))):
            for i, x in enumerate(xs, start=1):
                pid = f"office_{block}{i}"
                stairs = pid == "office_a3"
                e = self.entrance(pid, (x, 232.0), (x, 220.0), stairs=stairs, slope=25.0 if stairs else 0.0)
                if stairs:  # raised podium: steps straight down, or a ramp round to the lane
                    b.path(e, "j_a3", via=((-130.0, 232.0),), id="p_office_a3_ramp", width=2.5,
                           max_speed=1.0, slope=6.0)
                tag = f"{block.upper()}{i}"
                b.poi(pid, rect(x, 262.0, 56.0, 40.0), e, name_zh=f"{tag}栋办公楼", name_en=f"Office Building {tag}",
                      aliases=[f"{tag}栋", tag, f"{block.upper()}区{zh_digits[i]}号楼"], category="office",
                      opening_hours=OFFICE_HOURS,
                      description=f"Outsourcing companies' offices, building {tag}; lobby on the south side.")
        for block, x0, x1 in (("a", -352.0, -48.0), ("b", 48.0, 352.0)):
            b.zone(f"zone_office_{block}", box(x0, 228.0, x1, 286.0), kind="after_hours",
                   name_zh=f"{block.upper()}区办公楼", name_en=f"Office block {block.upper()}",
                   schedule="Mo-Su 22:00-07:00", priority=3)

        e = self.entrance("data_labelling_centre", (-300.0, 128.0), (-300.0, 120.0))
        b.poi("data_labelling_centre", box(-350, 135, -250, 205), e, name_zh="数据标注中心",
              name_en="Data Labelling Centre", aliases=["数据标注基地", "标注中心", "Data Annotation Centre"],
              category="restricted facility", opening_hours="Mo-Sa 08:00-22:00",
              description="Data-labelling base: staff badge required; visitors by appointment.")
        b.zone("zone_data_labelling", box(-356, 125, -244, 211), kind="restricted", name_zh="数据标注中心",
               name_en="Data labelling centre", schedule="Mo-Fr 20:00-08:00; Sa,Su 00:00-24:00", priority=5)
        e = self.entrance("canteen", (-170.0, 128.0), (-170.0, 120.0))
        b.poi("canteen", box(-200, 135, -140, 200), e, name_zh="员工食堂", name_en="Staff Canteen",
              aliases=["食堂", "餐厅", "Dining Hall"], category="food",
              opening_hours="Mo-Su 06:30-09:00,11:00-13:30,17:00-19:30",
              description="Canteen on the ground floor; visitors pay by QR code.")
        e = self.entrance("service_centre", (12.0, 170.0), (0.0, 170.0))
        b.poi("service_centre", box(20, 140, 100, 200), e, name_zh="园区服务中心", name_en="Park Service Centre (SITO)",
              aliases=["SITO", "服务中心", "Service Center", "政务服务"], category="service",
              opening_hours="Mo-Fr 09:00-17:30",
              description="Company registration, HR, talent policy and visitor passes (SITO one-stop service).")
        e = self.entrance("computing_centre", (250.0, 128.0), (250.0, 120.0))
        b.poi("computing_centre", box(150, 135, 350, 205), e, name_zh="算力中心", name_en="Computing Centre",
              aliases=["智算中心", "数据中心", "Data Centre"], category="restricted facility",
              description="Planned computing centre: no entry without an escort.")
        b.zone("zone_computing_centre", box(144, 125, 356, 211), kind="restricted", name_zh="算力中心",
               name_en="Computing centre", schedule="24/7", priority=5)

        e = self.entrance("talent_apartments", (-240.0, 28.0), (-240.0, 20.0))
        b.poi("talent_apartments", box(-350, 35, -130, 110), e, name_zh="人才公寓", name_en="Talent Apartments",
              aliases=["公寓", "宿舍", "Staff Apartments"], category="residence",
              description="Apartments for park staff; residents only after 23:00.")
        e = self.entrance("clinic", (-75.0, 28.0), (-75.0, 20.0))
        b.poi("clinic", box(-100, 35, -50, 80), e, name_zh="园区医务室", name_en="Clinic",
              aliases=["医务室", "卫生室", "First Aid"], category="health",
              opening_hours="Mo-Fr 08:30-17:30; Sa 09:00-12:00", description="First aid and a duty nurse.")
        e = self.entrance("convenience_store", (-10.0, 100.0), (0.0, 100.0))
        b.poi("convenience_store", box(-40, 90, -18, 112), e, name_zh="便利店", name_en="Convenience Store",
              aliases=["小卖部", "超市", "Shop"], category="shop", opening_hours="Mo-Su 07:00-23:00",
              description="Snacks, drinks and daily goods.")
        e = self.entrance("kindergarten", (60.0, 28.0), (60.0, 20.0))
        b.poi("kindergarten", box(30, 35, 100, 100), e, name_zh="幼儿园", name_en="Kindergarten",
              aliases=["托儿所", "Nursery"], category="education", opening_hours="Mo-Fr 07:30-18:00",
              description="Kindergarten for staff children; pick-up at the east gate of the yard.")
        b.zone("zone_kindergarten", box(24, 30, 106, 106), kind="restricted", name_zh="幼儿园",
               name_en="Kindergarten yard", schedule="24/7", priority=4)
        e = self.entrance("parking_p1", (180.0, 28.0), (180.0, 20.0))
        b.poi("parking_p1", box(130, 35, 230, 105), e, name_zh="P1停车场", name_en="Car Park P1",
              aliases=["P1", "一号停车场", "Parking P1"], category="parking", description="Visitor parking.")
        j = self.stop("r_substation", (360.0, 65.0))
        b.poi("substation", box(300, 40, 350, 90), j, name_zh="变电站", name_en="Substation",
              aliases=["配电房"], category="utility", description="10 kV substation: authorised electricians only.")
        b.zone("zone_substation", box(292, 33, 356, 97), kind="no_go", name_zh="变电站",
               name_en="Substation", schedule="24/7", priority=4)

        e = self.entrance("parking_p2", (-300.0, -72.0), (-300.0, -80.0))
        b.poi("parking_p2", box(-350, -65, -250, 10), e, name_zh="P2停车场", name_en="Car Park P2",
              aliases=["P2", "二号停车场", "Parking P2"], category="parking", description="Staff parking.")
        e = self.entrance("ebike_charging", (-175.0, -72.0), (-175.0, -80.0))
        b.poi("ebike_charging", box(-200, -60, -150, -10), e, name_zh="电动车充电站", name_en="E-bike Charging",
              aliases=["充电桩", "电瓶车充电", "E-bike Charging Station"], category="transport",
              description="Covered e-bike parking with coin-operated chargers.")
        e = self.entrance("security_room", (12.0, -135.0), (0.0, -135.0))
        b.poi("security_room", box(20, -150, 60, -120), e, name_zh="安保室", name_en="Security Room",
              aliases=["保安室", "监控室", "Security Office"], category="security",
              description="Security control room: duty guards and the robot fleet's home.")
        for i, x in enumerate((70.0, 82.0, 94.0), start=1):
            dock = b.waypoint(f"dock_{i}", (x, -170.0))
            j = self.stop(f"r_dock_{i}", (x, -180.0))
            b.path(dock, j, width=2.0, max_speed=0.5)
            b.charger(f"charger_{i}", (x, -162.0), dock, capacity=1)

        self.roads()
        self.sensors()
        self.cameras_and_checkpoints()
        return b

    def sensors(self) -> None:
        b = self.b
        for block, xs in (("a", (-320.0, -240.0, -160.0, -80.0)), ("b", (80.0, 160.0, 240.0, 320.0))):
            for i, x in enumerate(xs, start=1):
                b.sensor(f"door_office_{block}{i}_main", "door", (x, 242.0), f"zone_office_{block}")
            b.sensor(f"pir_office_{block}_1", "pir", (xs[1] + 20.0, 262.0), f"zone_office_{block}")
        b.sensor("door_data_labelling_main", "door", (-300.0, 135.0), "zone_data_labelling")
        b.sensor("door_data_labelling_rear", "door", (-300.0, 205.0), "zone_data_labelling")
        for i, x in enumerate((-330.0, -300.0, -270.0), start=1):
            b.sensor(f"pir_data_labelling_{i}", "pir", (x, 170.0), "zone_data_labelling")
        b.sensor("smoke_data_labelling_1", "smoke", (-300.0, 185.0), "zone_data_labelling")
        b.sensor("door_computing_main", "door", (250.0, 135.0), "zone_computing_centre")
        b.sensor("door_computing_rear", "door", (250.0, 205.0), "zone_computing_centre")
        for i, x in enumerate((200.0, 300.0), start=1):
            b.sensor(f"pir_computing_{i}", "pir", (x, 170.0), "zone_computing_centre")
            b.sensor(f"smoke_computing_{i}", "smoke", (x, 180.0), "zone_computing_centre")
            b.sensor(f"water_computing_{i}", "water", (x, 145.0), "zone_computing_centre")
        b.sensor("tamper_substation_1", "tamper", (325.0, 40.0), "zone_substation")
        b.sensor("door_substation_1", "door", (300.0, 65.0), "zone_substation")
        b.sensor("smoke_canteen_1", "smoke", (-170.0, 170.0))
        b.sensor("smoke_apartments_1", "smoke", (-240.0, 72.0))
        b.sensor("door_security_room_main", "door", (20.0, -135.0))
        b.sensor("door_kindergarten_gate", "door", (60.0, 35.0), "zone_kindergarten")
        for side, points in (
            ("north", [(-300.0, 300.0), (-100.0, 300.0), (100.0, 300.0), (300.0, 300.0)]),
            ("south", [(-300.0, -300.0), (-100.0, -300.0), (100.0, -300.0), (300.0, -300.0)]),
            ("east", [(400.0, -200.0), (400.0, 0.0), (400.0, 200.0)]),
            ("west", [(-400.0, -200.0), (-400.0, 0.0), (-400.0, 200.0)]),
        ):
            for i, p in enumerate(points, start=1):
                b.sensor(f"fence_{side}_{i}", "fence", p)

    def cameras_and_checkpoints(self) -> None:
        b = self.b
        b.camera("cam_gate_north", (20.0, 295.0), 200.0, name="North gate")
        b.camera("cam_gate_south", (-20.0, -295.0), 20.0, name="South gate")
        b.camera("cam_data_labelling", (-240.0, 110.0), 290.0, name="Data labelling entrance")
        b.camera("cam_computing", (320.0, 110.0), 285.0, name="Computing centre entrance")
        b.camera("cam_substation", (370.0, 110.0), 225.0, name="Substation")
        b.camera("cam_parking_p1", (120.0, 110.0), 125.0, name="Car park P1")
        b.camera("cam_parking_p2", (-240.0, -75.0), 307.0, name="Car park P2")
        b.camera("cam_ebike", (-120.0, -70.0), 300.0, name="E-bike charging")
        b.camera("cam_main_avenue", (10.0, 10.0), 180.0, name="Central avenue")
        b.camera("cam_apartments", (-130.0, 10.0), 290.0, name="Talent apartments")
        for wid, revisit, priority in (
            ("gate_north", 600, 3), ("gate_south", 600, 3), ("e_data_labelling_centre", 600, 5),
            ("e_computing_centre", 600, 5), ("r_substation", 900, 4), ("e_parking_p1", 1200, 2),
            ("e_parking_p2", 1200, 2), ("e_ebike_charging", 900, 3), ("e_talent_apartments", 1800, 2),
            ("e_office_a1", 1800, 2), ("e_office_b4", 1800, 2), ("e_canteen", 1800, 1),
            ("e_kindergarten", 1200, 3), ("j_f1", 1800, 1), ("j_f3", 1800, 1),
        ):
            b.checkpoint(wid, revisit, priority)


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else Path(__file__).with_name("neijiang.geojson")
    Neijiang().build().write(out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
