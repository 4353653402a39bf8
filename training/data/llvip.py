"""LLVIP (visible-infrared paired pedestrian images), as released in `LLVIP.zip`.

Layout under `root` (the `LLVIP` folder, or its parent): `visible/{train,test}/NNNNNN.jpg`,
`infrared/{train,test}/NNNNNN.jpg` (same names; the infrared frames are 8-bit, stored as
greyscale-looking JPEGs), and `Annotations/NNNNNN.xml` (Pascal VOC, one `<object><name>person`
per pedestrian). The label is "person" when the XML has at least one object named person, else
"background" (this makes LLVIP a 2-class set; ImageBind's paper uses it for person detection).

Records: inputs["vision"] = visible JPEG path, inputs["thermal"] = H x W uint8 infrared frame.
A visible image without its infrared twin or annotation, or with an unparsable XML, is skipped.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

from edgebind.transforms.io import read_thermal_file

from edgebind.sample import Sample
from .skip import DATASETS, DEFAULT_MAX_SKIP_FRACTION, SkippingDataset

PERSON, BACKGROUND = "person", "background"


@dataclass(frozen=True)
class PairEntry:
    """One visible/infrared pair with its label."""

    id: str
    labels: tuple[str, ...]
    visible: Path
    infrared: Path


@DATASETS.register("llvip")
class LLVIP(SkippingDataset[PairEntry]):
    """LLVIP pairs of one split ("train", "test"), or both with split=None."""

    name = "llvip"
    layout = "visible/<split>/*.jpg, infrared/<split>/*.jpg and Annotations/*.xml"

    def __init__(
        self,
        root: "str | Path",
        split: Optional[str] = "train",
        max_skip_fraction: float = DEFAULT_MAX_SKIP_FRACTION,
    ) -> None:
        root = Path(root)
        self.root = root / "LLVIP" if (root / "LLVIP" / "visible").is_dir() else root
        self.split = split
        super().__init__(max_skip_fraction)

    def _scan(self) -> Iterator[PairEntry]:
        splits = (self.split,) if self.split else ("train", "test")
        for split in splits:
            for visible in sorted((self.root / "visible" / split).glob("*.jpg")):
                infrared = self.root / "infrared" / split / visible.name
                annotation = self.root / "Annotations" / f"{visible.stem}.xml"
                if not (self._require(infrared, "missing infrared image")
                        and self._require(annotation, "missing annotation")):
                    continue
                try:
                    objects = ET.parse(annotation).getroot().iter("object")
                    names = [obj.findtext("name", "").strip() for obj in objects]
                except (ET.ParseError, OSError) as exc:
                    self._skip("bad annotation", f"{annotation}: {exc}")
                    continue
                label = PERSON if PERSON in names else BACKGROUND
                yield PairEntry(f"{split}/{visible.stem}", (label,), visible, infrared)

    def _load(self, entry: PairEntry) -> Sample:
        inputs = {"vision": entry.visible, "thermal": read_thermal_file(entry.infrared)}
        return Sample(entry.id, entry.labels, None, inputs)
