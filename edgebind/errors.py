"""One error hierarchy for edgebind; every message says what to do next."""
from __future__ import annotations


class EdgeBindError(Exception):
    """Base class of every error edgebind raises on purpose."""


class ConfigError(EdgeBindError, ValueError):
    """A model, transform or command configuration is invalid or unknown."""


class UnknownModelError(ConfigError):
    """A model name is neither a registered config nor a checkpoint directory."""


class ModalityError(EdgeBindError, ValueError):
    """A modality is unknown, or the model was not created with it."""


class InputError(EdgeBindError, ValueError):
    """Raw input data is empty, non-finite, of the wrong shape, dtype or rate."""


class UnreadableFileError(InputError):
    """An input file is missing, unreadable or not in a supported format."""


class CheckpointError(EdgeBindError):
    """A checkpoint file is missing, truncated, or does not match its config."""


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
