"""Record live sensors to an MCAP file that Foxglove opens and `replay` plays back.

--sensors is a comma-separated list: `sim` (simulated audio, depth, thermal and IMU), one of
sim_audio, sim_depth, sim_thermal, sim_imu, or a driver (mic, depth, thermal, mlx90640, imu,
replay); --set NAME.KEY=VALUE sets a key of a sensor's config (see README, "Live sensors"). The
file is flushed and fsynced every --flush-interval seconds, so a killed recorder loses at most that
much; Ctrl-C or SIGTERM stops recording and finishes the file. Without --duration it records
until stopped.

examples:
  edgebind record --sensors sim --duration 10 sim.mcap
  edgebind record --sensors sim_audio,sim_imu --set sim.speed=0 --set sim.duration_s=60 fast.mcap
  edgebind record --sensors imu --set imu.port=/dev/ttyUSB0 --set imu.protocol=witmotion --set imu.baudrate=9600 imu.mcap
  edgebind record --sensors replay --set replay.path=sim.mcap --set replay.speed=0 copy.mcap
"""
from __future__ import annotations

import signal
import threading

from edgebind.cli.common import add_command, output_file
from edgebind.errors import ConfigError


def run(args) -> int:
    from edgebind.drivers import build_source
    from edgebind.drivers.recording import record
    from edgebind.drivers.sensors import sensor_configs

    if args.duration is not None and not args.duration > 0:
        raise ConfigError(f"--duration must be > 0 seconds, got {args.duration}")
    out = output_file(args.out, "OUT", ".mcap")
    sources = [build_source(c) for c in sensor_configs(args.sensors, args.set)]
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        recorder = record(sources, out, args.duration, stop, args.flush_interval)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    for source in sources:
        s = source.status
        print(f"{source.name:<14} chunks={s.chunks} gaps={s.gaps} drops={s.drops} overflows={s.overflows} "
              f"reconnects={s.reconnects}")
    print(f"wrote {out} ({recorder.messages} messages, {out.stat().st_size / 1e6:.1f} MB)")
    return 0


def add_parser(sub) -> None:
    parser = add_command(sub, "record", __doc__, run)
    parser.add_argument("out", metavar="OUT.mcap", help="the recording to write")
    parser.add_argument("--sensors", default="sim", help="comma-separated sensors (default: sim)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME.KEY=VALUE",
                        help="set a sensor config key (repeatable)")
    parser.add_argument("--duration", type=float, help="seconds to record (default: until Ctrl-C / SIGTERM)")
    parser.add_argument("--flush-interval", type=float, default=0.5, metavar="S",
                        help="seconds between flushes to disk: the most a crash can lose (default 0.5)")
