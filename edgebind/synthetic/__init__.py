"""A deterministic paired synthetic world (image, text, audio, depth, thermal, IMU) for tests, demos and training."""
from edgebind.synthetic.world import (
    ATTRIBUTES,
    CLASS_NAMES,
    NAME_POOL,
    SHOWS,
    ClassSpec,
    Scene,
    WorldConfig,
    class_spec,
    drawn_specs,
    make_world,
    prompt_ensemble,
    render_sample,
    sample_scene,
)

__all__ = [
    "ATTRIBUTES",
    "CLASS_NAMES",
    "NAME_POOL",
    "SHOWS",
    "ClassSpec",
    "Scene",
    "WorldConfig",
    "class_spec",
    "drawn_specs",
    "make_world",
    "prompt_ensemble",
    "render_sample",
    "sample_scene",
]
