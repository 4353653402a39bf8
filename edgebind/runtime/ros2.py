"""A ROS 2 bridge for the node: embeddings and events as messages, queries as a service.

Runs where rclpy and the `edgebind_msgs` interfaces (launch/ros2/edgebind_msgs, built with colcon)
exist; elsewhere creating it is a MissingDependencyError saying how to get them. Conventions
(REP 2003 / sensor QoS): embeddings go out best-effort with a shallow queue (`~/embeddings`,
like sensor data: a late one is worthless), events reliably (`~/events`, KEEP_LAST 50), and
`~/query` answers from the node's store. Stamps are wall-clock time. The field mapping lives in
plain functions (`embedding_fields`, `event_fields`) so it is checked without ROS.
"""
from __future__ import annotations

import threading
from typing import Any

from edgebind.errors import MissingDependencyError
from edgebind.runtime.detector import Detection
from edgebind.runtime.node import Node
from edgebind.runtime.node_config import Embedding


def stamp(seconds: float) -> dict[str, int]:
    """builtin_interfaces/Time fields of wall-clock `seconds`."""
    sec = int(seconds // 1)
    return {"sec": sec, "nanosec": min(int(round((seconds - sec) * 1e9)), 999_999_999)}


def embedding_fields(e: Embedding, model: str, wall_offset: float) -> dict[str, Any]:
    """edgebind_msgs/Embedding fields of an embedding (host times shifted by `wall_offset`)."""
    return {"header": {"stamp": stamp(e.t_end + wall_offset), "frame_id": e.source}, "model": model,
            "modality": e.modality, "t0": stamp(e.t_start + wall_offset), "t1": stamp(e.t_end + wall_offset),
            "data": [float(x) for x in e.vector]}


def event_fields(d: Detection, model: str, wall_offset: float) -> dict[str, Any]:
    """edgebind_msgs/Event fields of a detection."""
    return {"header": {"stamp": stamp(d.t + wall_offset), "frame_id": d.source}, "model": model, "kind": d.kind,
            "event": d.event, "modality": d.modality, "opened": stamp(d.t_open + wall_offset), "score": float(d.score)}


def _load_ros() -> tuple[Any, Any, Any]:
    try:
        import rclpy
        from edgebind_msgs import msg, srv
    except ImportError as exc:
        raise MissingDependencyError(
            f"the ROS 2 bridge needs rclpy and the edgebind_msgs interfaces ({exc.name} is missing): source your "
            "ROS 2 setup (e.g. /opt/ros/jazzy/setup.bash), build launch/ros2/edgebind_msgs with colcon and "
            "source its install/setup.bash") from None
    return rclpy, msg, srv


def _fill(message: Any, fields: dict[str, Any]) -> Any:
    """Set `fields` (nested dicts for nested messages) on a ROS message object."""
    for name, value in fields.items():
        if isinstance(value, dict):
            _fill(getattr(message, name), value)
        else:
            setattr(message, name, value)
    return message


class Ros2Bridge:
    """Publishes a running node's outputs (`publish(item)`) and serves `~/query`, spinning its own
    executor thread; `close()` stops it."""

    def __init__(self, node: Node, name: str = "edgebind", wall_offset: float = 0.0) -> None:
        rclpy, self._msg, self._srv = _load_ros()
        from rclpy.qos import QoSProfile, qos_profile_sensor_data

        if not rclpy.ok():
            rclpy.init()
        self._rclpy, self.node, self.wall_offset = rclpy, node, wall_offset
        self.model = node.backend.model_id
        self.ros = rclpy.create_node(name)
        self._embeddings = self.ros.create_publisher(self._msg.Embedding, "~/embeddings", qos_profile_sensor_data)
        self._events = self.ros.create_publisher(self._msg.Event, "~/events", QoSProfile(depth=50))
        self.ros.create_service(self._srv.Query, "~/query", self._query)
        self._executor = rclpy.executors.SingleThreadedExecutor()
        self._executor.add_node(self.ros)
        self._thread = threading.Thread(target=self._executor.spin, name="edgebind-ros2", daemon=True)
        self._thread.start()

    def publish(self, item: "Embedding | Detection") -> None:
        if isinstance(item, Detection):
            self._events.publish(_fill(self._msg.Event(), event_fields(item, self.model, self.wall_offset)))
        else:
            self._embeddings.publish(_fill(self._msg.Embedding(), embedding_fields(item, self.model, self.wall_offset)))

    def _query(self, request: Any, response: Any) -> Any:
        try:
            moments = self.node.query(*request.terms, k=request.k or 5, last_s=request.last_s or None,
                                      modalities=list(request.modalities) or None)
        except Exception as exc:  # noqa: BLE001  (answered to the caller, the node keeps running)
            response.error = str(exc)
            return response
        response.modalities = [m.modality for m in moments]
        response.sources = [m.source for m in moments]
        response.t0 = [_fill(self._msg_time(), stamp(m.t_start)) for m in moments]
        response.t1 = [_fill(self._msg_time(), stamp(m.t_end)) for m in moments]
        response.scores = [float(m.score) for m in moments]
        return response

    @staticmethod
    def _msg_time() -> Any:
        from builtin_interfaces.msg import Time

        return Time()

    def close(self) -> None:
        self._executor.shutdown()
        self._thread.join(5)
        self.ros.destroy_node()
