"""ParkPatrol vision: cameras -> motion gate -> YOLO detector -> tracks -> zone rules -> events.

Modules (nothing heavy is imported here; ultralytics/OpenVINO load lazily):

- `vision.detector`  `Detector.open(data_dir, model=None, backend="auto")`, `.detect(frames)`
- `vision.backends`  OpenVINO (INT8: `vision.quantize`), ONNX Runtime, PyTorch;  `vision.yolo_io` pre/post
- `vision.sources`   `CameraReader` (OpenCV; newest frame only, reconnect with backoff, health)
- `vision.motion`    `MotionGate`;  `vision.tracking` `ObjectTracker`;  `vision.rules` `RuleEngine`
- `vision.pipeline`  one camera's processing;  `vision.runtime` `VisionRuntime` (in-process or worker)
- `vision.events`    Frigate-shaped event models;  `vision.snapshots` `SnapshotStore`
- `vision.config`    `CameraSpec` and the cameras JSON file;  `vision.geometry` homographies
- `vision.cli`       `parkpatrol detect`, `parkpatrol vision`, `parkpatrol bench vision`

This package never imports `patrol` and never touches the database.
"""
