"""Pure motion and battery models shared by the MQTT simulator and the fast benchmark mode.

A robot body is a unicycle on the ground plane: it turns in place towards its next target at a
bounded turning rate, then drives with bounded acceleration and deceleration, braking so it
stops on the target. Battery charge falls per metre driven and per second awake, and rises at
a dock. Everything here is a plain function of state and `dt`; no clocks, no I/O.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class MotionProfile:
    """Speed limits of one kind of robot (SI units)."""

    max_speed: float  # m/s
    accel: float  # m/s^2
    decel: float  # m/s^2
    turn_rate: float  # rad/s
    heading_tolerance: float = 0.35  # rad: drive while the heading error is below this

    def __post_init__(self) -> None:
        for name in ("max_speed", "accel", "decel", "turn_rate"):
            if getattr(self, name) <= 0:
                raise ValueError(f"MotionProfile.{name} must be > 0, got {getattr(self, name)}")


@dataclass(frozen=True)
class BatteryModel:
    """Charge in percent; drain per metre and per second, charge per second at a dock."""

    drain_per_m: float = 0.004  # % per metre (≈ 25 km per charge)
    drain_idle_per_s: float = 0.0006  # % per second awake (≈ 46 h idle)
    charge_per_s: float = 0.05  # % per second docked (0 -> 100 in ≈ 33 min)
    nominal_voltage: float = 48.0
    capacity_wh: float = 864.0

    def drain(self, charge: float, metres: float, seconds: float) -> float:
        return max(0.0, charge - metres * self.drain_per_m - seconds * self.drain_idle_per_s)

    def charge(self, charge: float, seconds: float) -> float:
        return min(100.0, charge + seconds * self.charge_per_s)

    def voltage(self, charge: float) -> float:
        """A plausible Li-ion pack curve: 0 % ≈ 0.84 x nominal, 100 % ≈ 1.09 x nominal."""
        return round(self.nominal_voltage * (0.84 + 0.25 * charge / 100.0), 2)

    def reach_m(self, charge: float) -> float:
        return charge / self.drain_per_m if self.drain_per_m > 0 else math.inf


@dataclass(frozen=True)
class BodyState:
    """Where a body is and how fast it moves."""

    x: float
    y: float
    theta: float
    speed: float = 0.0
    omega: float = 0.0


def wrap_angle(a: float) -> float:
    """`a` in (-pi, pi]."""
    a = math.fmod(a + math.pi, 2.0 * math.pi)
    if a <= 0.0:
        a += 2.0 * math.pi
    return a - math.pi


def distance(ax: float, ay: float, bx: float, by: float) -> float:
    return math.hypot(bx - ax, by - ay)


def turn_towards(state: BodyState, heading: float, profile: MotionProfile, dt: float) -> BodyState:
    """Rotate in place towards `heading` at the profile's turning rate."""
    err = wrap_angle(heading - state.theta)
    step = profile.turn_rate * dt
    if abs(err) <= step:
        return replace(state, theta=wrap_angle(heading), speed=0.0, omega=err / dt if dt > 0 else 0.0)
    sign = 1.0 if err > 0 else -1.0
    return replace(state, theta=wrap_angle(state.theta + sign * step), speed=0.0,
                   omega=sign * profile.turn_rate)


def step_towards(
    state: BodyState,
    tx: float,
    ty: float,
    profile: MotionProfile,
    dt: float,
    *,
    speed_limit: float | None = None,
    stop_at_target: bool = True,
) -> tuple[BodyState, float]:
    """Advance `state` by `dt` towards (tx, ty); return the new state and metres travelled.

    Turns first when the heading error is large (a legged robot turns on the spot), then
    accelerates up to the lower of the profile's and the edge's speed limit, braking so it
    stops at the target when `stop_at_target` (otherwise it keeps its speed through it).
    """
    dx, dy = tx - state.x, ty - state.y
    dist = math.hypot(dx, dy)
    if dist < 1e-9:
        return replace(state, speed=0.0, omega=0.0), 0.0
    heading = math.atan2(dy, dx)
    err = wrap_angle(heading - state.theta)
    if abs(err) > profile.heading_tolerance:
        # slow down to a stop, then turn on the spot
        if state.speed > 0.0:
            v = max(0.0, state.speed - profile.decel * dt)
            travelled = min(dist, 0.5 * (state.speed + v) * dt)
            nx = state.x + math.cos(state.theta) * travelled
            ny = state.y + math.sin(state.theta) * travelled
            return replace(state, x=nx, y=ny, speed=v, omega=0.0), travelled
        return turn_towards(state, heading, profile, dt), 0.0
    vmax = profile.max_speed if speed_limit is None else max(0.05, min(profile.max_speed, speed_limit))
    if stop_at_target:
        vmax = min(vmax, math.sqrt(2.0 * profile.decel * dist))
    v0 = state.speed
    v = min(vmax, v0 + profile.accel * dt) if v0 <= vmax else max(vmax, v0 - profile.decel * dt)
    travelled = 0.5 * (v0 + v) * dt
    # steer while driving: correct the small heading error at the turning rate
    turn = max(-profile.turn_rate * dt, min(profile.turn_rate * dt, err))
    theta = wrap_angle(state.theta + turn)
    omega = turn / dt if dt > 0 else 0.0
    if travelled >= dist:
        return BodyState(tx, ty, heading, v if not stop_at_target else 0.0, omega), dist
    nx = state.x + dx / dist * travelled
    ny = state.y + dy / dist * travelled
    return BodyState(nx, ny, theta, v, omega), travelled


def polyline_length(points: list[tuple[float, float]]) -> float:
    return sum(distance(*a, *b) for a, b in itertools.pairwise(points))


def travel_time(length_m: float, profile: MotionProfile, speed_limit: float | None = None) -> float:
    """Seconds to drive `length_m` from standstill to standstill (trapezoidal profile)."""
    v = profile.max_speed if speed_limit is None else min(profile.max_speed, speed_limit)
    d_acc = v * v / (2 * profile.accel)
    d_dec = v * v / (2 * profile.decel)
    if d_acc + d_dec >= length_m:
        # triangular: peak speed below v
        vp = math.sqrt(2 * length_m * profile.accel * profile.decel / (profile.accel + profile.decel))
        return vp / profile.accel + vp / profile.decel
    return v / profile.accel + v / profile.decel + (length_m - d_acc - d_dec) / v
