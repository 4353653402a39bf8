"""The ROS 2 bridge's field mapping matches the message definitions in launch/ros2 (checked
without ROS), and without rclpy the bridge is a clear error saying how to get it."""
from pathlib import Path

import numpy as np
import pytest

from edgebind.errors import MissingDependencyError
from edgebind.runtime import Detection, Embedding
from edgebind.runtime.ros2 import Ros2Bridge, embedding_fields, event_fields, stamp

MSGS = Path(__file__).resolve().parent.parent / "launch" / "ros2" / "edgebind_msgs"
PY_TYPES = {"string": str, "float32": float, "float32[]": list, "std_msgs/Header": dict,
            "builtin_interfaces/Time": dict}


def _fields(text: str) -> dict[str, str]:
    """name -> type of the fields of a .msg definition (or one half of a .srv)."""
    fields = {}
    for line in text.splitlines():
        line = line.split("#")[0].strip()
        if line:
            kind, name = line.split()[:2]
            fields[name] = kind
    return fields


@pytest.mark.parametrize("msg, fields", [
    ("Embedding.msg", lambda: embedding_fields(
        Embedding("mic", "audio", 10.0, 12.0, np.array([0.6, 0.8], np.float32)), "edgebind-tiny", 1000.25)),
    ("Event.msg", lambda: event_fields(
        Detection("start", "glass breaking", "mic", "audio", 12.0, 0.93, 12.0), "edgebind-tiny", 1000.25)),
])
def test_message_fields_match_the_definitions(msg, fields):
    definition, values = _fields((MSGS / "msg" / msg).read_text()), fields()
    assert set(values) == set(definition)
    for name, kind in definition.items():
        assert isinstance(values[name], PY_TYPES[kind]), (name, kind, values[name])
    assert values["header"] == {"stamp": {"sec": 1012, "nanosec": 250_000_000}, "frame_id": "mic"}


def test_stamps_split_seconds_and_the_service_definition_is_complete():
    assert stamp(1.999999999999) == {"sec": 1, "nanosec": 999_999_999}
    request, response = (MSGS / "srv" / "Query.srv").read_text().split("---")
    assert list(_fields(request)) == ["terms", "k", "last_s", "modalities"]
    assert list(_fields(response)) == ["modalities", "sources", "t0", "t1", "scores", "error"]


def test_without_ros_the_bridge_says_how_to_get_it():
    pytest.importorskip("numpy")
    try:
        import rclpy  # noqa: F401
        pytest.skip("rclpy is installed here: the bridge would run")
    except ImportError:
        pass
    with pytest.raises(MissingDependencyError, match="build launch/ros2/edgebind_msgs with colcon"):
        Ros2Bridge(node=None)
