"""edgebind.drivers: live sensor sources with one interface (see `Source`), created by name.

    from edgebind.drivers import build_source
    with build_source({"type": "sim", "modality": "audio"}) as mic:
        for item in mic:          # Chunk (data as model.transform takes it) or Gap
            ...

Importing this package registers the built-in drivers in SOURCES; optional libraries (pyserial,
sounddevice, pyrealsense2, OpenCV) are imported only when a driver that needs them is opened.
"""
from edgebind.drivers import imu, mic, mlx90640, realsense, replay, sim, thermal  # noqa: F401  (registers their drivers)
from edgebind.drivers.chunks import Chunk, Gap, Item, SourceInfo, SourceStatus, State, StreamInfo
from edgebind.drivers.merge import merge
from edgebind.drivers.source import SOURCES, Source, SourceConfig, build_source, source_config

__all__ = ["SOURCES", "Chunk", "Gap", "Item", "Source", "SourceConfig", "SourceInfo", "SourceStatus",
           "State", "StreamInfo", "build_source", "merge", "source_config"]
