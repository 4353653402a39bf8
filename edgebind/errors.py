"""One error hierarchy for edgebind; every message says what to do next."""
from __future__ import annotations

import copy


class EdgeBindError(Exception):
    """Base class of every error edgebind raises on purpose."""


class ConfigError(EdgeBindError, ValueError):
    """A model, transform or command configuration is invalid or unknown."""


class UnknownModelError(ConfigError):
    """A model name is neither a registered config nor a checkpoint directory."""


class ModalityError(EdgeBindError, ValueError):
    """A modality is unknown, or the model was not created with it."""


class InputError(EdgeBindError, ValueError):
    """Raw input data is empty, non-finite, of the wrong shape, dtype or rate.

    `reason` is the message without the input's name, so that many bad inputs of one kind can be
    counted together (see `naming`).
    """

    @property
    def reason(self) -> str:
        return self.__dict__.get("_reason", str(self))

    def naming(self, source: str) -> "InputError":
        """A copy of this error (same type) whose message starts with `source`: the file, sample
        or input index it is about, so one bad input in a thousand can be found."""
        named = copy.copy(self)
        named._reason = self.reason
        named.args = (f"{source}: {self}",)
        return named


class UnreadableFileError(InputError):
    """An input file is missing, unreadable or not in a supported format."""


class CheckpointError(EdgeBindError):
    """A checkpoint file is missing, truncated, or does not match its config."""


class EngineError(CheckpointError):
    """A TensorRT engine is missing, corrupt, or was built for another GPU, TensorRT version or ONNX
    graph; the message gives the command that rebuilds it."""


class RandomWeightsWarning(UserWarning):
    """Embeddings were asked of an encoder that still has its random initial weights."""


class MissingDependencyError(EdgeBindError, ImportError):
    """An optional package is needed for this feature but is not installed."""


def require(module: str, extra: str, feature: str):
    """Import an optional module, or raise MissingDependencyError naming the extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{feature} needs the '{module}' package: pip install 'edgebind[{extra}]'"
        ) from exc


class DeviceError(EdgeBindError):
    """A sensor could not be opened or read, or a recording could not be written."""


class DeviceNotConnectedError(DeviceError, ConnectionError):
    """A sensor is missing, unplugged or closed; reconnecting sources retry, others stop."""


class RecordingError(DeviceError):
    """A recording file cannot be written or read (full disk, not an MCAP file, foreign schema)."""


class StoreError(EdgeBindError):
    """The node's on-disk store is unreadable, foreign, made by another model, or cannot be written."""
