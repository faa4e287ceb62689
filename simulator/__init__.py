"""ParkPatrol simulator: the park's hardware, speaking MQTT and HTTP exactly like the real devices.

- `simulator.runner.Simulation`: robots (VDA 5050 via `robots.agent` + `SimDriver`), Zigbee2MQTT sensors,
  people, MJPEG cameras and a scenario timeline, on a wall or simulated clock;
- `simulator.robot.SimDriver`, `simulator.kinematics`: robot bodies (speed, acceleration, turning, battery);
- `simulator.sensors.SensorNetwork`, `simulator.people.Crowd`, `simulator.cameras.CameraServer`;
- `simulator.render.render_frame(camera, people, t)`: a camera frame with real person imagery;
- `simulator.scenario`: YAML scenarios (`simulator/scenarios/*.yaml`); `simulator.scale`: scale mode;
- `simulator.cli.add_commands`: `parkpatrol sim`.

Only tests, benchmarks and the `demo` command import this package; it imports `robots` and `maps` only.
"""
