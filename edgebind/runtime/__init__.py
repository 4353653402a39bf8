"""edgebind.runtime: the live perception node (windows, backends, detector, node).

Imports no training code: a robot installs no training stack.
"""
from edgebind.runtime.backend import BACKENDS, Backend, BackendConfig, build_backend
from edgebind.runtime.detector import Detection, DetectorConfig, EventConfig
from edgebind.runtime.node import Node
from edgebind.runtime.node_config import Embedding, NodeConfig

__all__ = ["BACKENDS", "Backend", "BackendConfig", "Detection", "DetectorConfig", "Embedding", "EventConfig",
           "Node", "NodeConfig", "build_backend"]
