"""An event's snapshot as the store keeps it: the numeric arrays of the windows that opened it,
size-capped, in one compressed .npz blob (numpy's own format: no pickle, readable without edgebind)."""
from __future__ import annotations

import dataclasses
import io
from typing import Any, Mapping

import numpy as np


def snapshot_arrays(snapshot: Mapping[str, Any], max_bytes: int) -> dict[str, np.ndarray]:
    """The numeric arrays of a Detection's snapshot (stream -> window, frame, array or tuple, walked
    through dataclass fields and tuple items) named "stream.field.0", copied; the largest are left
    out until the rest fit `max_bytes`."""
    arrays: dict[str, np.ndarray] = {}

    def walk(name: str, value: Any) -> None:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            for f in dataclasses.fields(value):
                walk(f"{name}.{f.name}", getattr(value, f.name))
        elif isinstance(value, (tuple, list)):
            for i, item in enumerate(value):
                walk(f"{name}.{i}", item)
        elif isinstance(value, (np.ndarray, np.number, int, float)):
            array = np.array(value)  # a copy: the caller may reuse its buffers
            if array.dtype.kind in "biuf":
                arrays[name] = array

    for stream, value in snapshot.items():
        walk(stream, value)
    total = sum(a.nbytes for a in arrays.values())
    for name in sorted(arrays, key=lambda n: arrays[n].nbytes, reverse=True):
        if total <= max_bytes:
            break
        total -= arrays.pop(name).nbytes
    return arrays


def npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    """`arrays` as the bytes of a compressed .npz file."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def npz_arrays(data: bytes) -> dict[str, np.ndarray]:
    """The arrays of .npz bytes, by name (pickled objects refused)."""
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}
