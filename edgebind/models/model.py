"""The joint model: one encoder per modality, all mapping into one shared embedding space."""
from __future__ import annotations

import dataclasses
import warnings
from typing import Any, Iterable, Mapping, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from edgebind.errors import InputError, ModalityError, RandomWeightsWarning
from edgebind.models.anchor import anchor_transforms, create_anchor
from edgebind.models.config import ModelConfig
from edgebind.models.encoders import EncoderParts, build_encoder
from edgebind.models.heads import LogitScale
from edgebind.modality import Modality
from edgebind.transforms import Transform, build_transform, transform_config

CLIP_NDIM = 5  # inputs with this many dims or more are [B, S, ...]: S clips averaged per sample


class EdgeBindModel(nn.Module):
    """ImageBind-style model; `forward` takes preprocessed tensors, `embed` takes raw data.

    Parameters are grouped as ImageBind groups them (modality_preprocessors/trunks/heads/
    postprocessors, keyed by modality), so the official checkpoint maps key for key.
    """

    def __init__(
        self,
        config: ModelConfig,
        modalities: Optional[Iterable["Modality | str"]] = None,
        anchor_weights: Optional[str] = None,
    ):
        super().__init__()
        if isinstance(modalities, (str, Modality)):
            modalities = [modalities]  # one modality, not the letters of its name
        if modalities is not None and not list(modalities):
            raise ModalityError("modalities is empty; name at least one, or pass None for all of them")
        wanted = {Modality.parse(m) for m in (modalities or config.modalities)}
        for modality in wanted:
            if modality.value not in config.modalities:
                raise ModalityError(
                    f"model {config.name!r} has no {modality.value} encoder; "
                    f"it has: {', '.join(config.modalities)}"
                )
        chosen = [m for m in Modality if m in wanted]  # ImageBind's key order
        anchored = [m for m in chosen if config.encoder(m).source == "anchor"]
        anchor = create_anchor(config.anchor, anchor_weights) if anchored else None
        derived = anchor_transforms(anchor, config.anchor.arch) if anchor is not None else {}
        # Spell out every built modality's transform (a config may leave the anchor's to the anchor).
        filled = {m.value: config.transforms.get(m.value) or transform_config(m, derived.get(m.value))
                  for m in chosen}
        config = dataclasses.replace(config, transforms={**config.transforms, **filled})
        self.config = config
        self.modality_preprocessors = nn.ModuleDict()
        self.modality_trunks = nn.ModuleDict()
        self.modality_heads = nn.ModuleDict()
        self.modality_postprocessors = nn.ModuleDict()
        for modality in chosen:
            parts = build_encoder(modality, config, anchor)
            self.modality_preprocessors[modality.value] = parts.preprocessor
            self.modality_trunks[modality.value] = parts.trunk
            self.modality_heads[modality.value] = parts.head
            self.modality_postprocessors[modality.value] = parts.postprocessor
        self._modalities = tuple(chosen)
        self._transforms: dict[Modality, Transform] = {}
        # Encoders whose weights are still their random initialisation (see `embed`'s warning);
        # loading a checkpoint or training them clears this.
        has_anchor_weights = bool(anchor_weights or (config.anchor and config.anchor.weights))
        self.random_weights: set[Modality] = {
            m for m in chosen if not (config.encoder(m).source == "anchor" and has_anchor_weights)
        }

    @property
    def modalities(self) -> tuple[Modality, ...]:
        """The modalities this instance holds encoders for."""
        return self._modalities

    @property
    def embed_dim(self) -> int:
        return self.config.embed_dim

    def _check(self, modality: "Modality | str") -> Modality:
        modality = Modality.parse(modality)
        if modality not in self._modalities:
            loaded = ", ".join(m.value for m in self._modalities)
            raise ModalityError(
                f"this model was created without {modality.value} (loaded: {loaded}); create it "
                f"with {modality.value} among its modalities"
            )
        return modality

    def transform(self, modality: "Modality | str", **options: Any) -> Transform:
        """The raw-data transform of `modality`, built from this model's config; `options` replace
        config fields for this use (e.g. `camera="realsense_d435"`, `units="celsius"`)."""
        modality = self._check(modality)
        if modality not in self._transforms:
            self._transforms[modality] = build_transform(modality, self.config.transform(modality))
        return self._transforms[modality].with_options(**options)

    def parts(self, modality: "Modality | str") -> EncoderParts:
        """`modality`'s encoder: stem ("preprocessor"), trunk, head, postprocessor."""
        key = self._check(modality).value
        return EncoderParts(self.modality_preprocessors[key], self.modality_trunks[key],
                            self.modality_heads[key], self.modality_postprocessors[key])

    def logit_scale(self, modality: "Modality | str") -> Optional[LogitScale]:
        """The scale `modality`'s postprocessor multiplies unit vectors by (its InfoNCE inverse
        temperature), or None for an encoder without one (the vision tower)."""
        post = self.parts(modality).postprocessor
        return next((m for m in post.modules() if isinstance(m, LogitScale)), None)

    def set_trainable(self, modalities: Iterable["Modality | str"]) -> None:
        """Train `modalities`' encoders (gradients on, train mode), freeze the rest (eval mode)."""
        trained = {self._check(m) for m in modalities}
        for modality in self._modalities:
            for part in self.parts(modality):
                part.requires_grad_(modality in trained)
                part.train(modality in trained)

    def param_groups(self, weight_decay: float) -> list[dict]:
        """Trainable parameters for an optimizer: matrices decayed, norms, biases, tokens and
        scales (fewer than 2 dims) not."""
        params = [p for p in self.parameters() if p.requires_grad]
        return [{"params": [p for p in params if p.ndim >= 2], "weight_decay": weight_decay},
                {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]

    def encoder_tensors(self, modality: "Modality | str") -> list[torch.Tensor]:
        """Every weight and buffer of `modality`'s encoder, e.g. to key a cache by the frozen tower."""
        return [t for part in self.parts(modality) for t in (*part.parameters(), *part.buffers())]

    def _warn_random(self, modalities: set[Modality]) -> None:
        random = sorted(m.value for m in modalities & self.random_weights)
        if random:
            warnings.warn(RandomWeightsWarning(
                f"model {self.config.name!r}: the {', '.join(random)} encoder(s) have random, untrained "
                "weights (a config, not a trained checkpoint), so these embeddings mean nothing and differ "
                "from run to run; use a trained checkpoint: edgebind-tiny-synthetic, a directory written "
                "by `edgebind train`, or official weights converted by `edgebind convert`"), stacklevel=3)

    def encode(self, modality: "Modality | str", x: torch.Tensor) -> torch.Tensor:
        """One modality's preprocessed batch -> its postprocessed (normalised, scaled) embedding."""
        stem, trunk, head, post = self.parts(modality)
        clips = x.shape[1] if x.ndim >= CLIP_NDIM else 0
        if clips:
            x = x.flatten(0, 1)
        tokens = stem(x)
        h = trunk(tokens.x) if tokens.attn_mask is None else trunk(tokens.x, attn_mask=tokens.attn_mask)
        out = post(head(h, tokens.pool_index))
        if clips:
            out = out.unflatten(0, (-1, clips)).mean(dim=1)
        return out

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """{modality: preprocessed tensor} -> {modality: embedding}, as ImageBind's forward."""
        return {str(Modality.parse(m)): self.encode(m, x) for m, x in inputs.items()}

    @torch.no_grad()
    def embed(
        self, inputs: Mapping[str, Sequence[Any]], batch_size: int = 32,
        options: Optional[Mapping[str, Mapping[str, Any]]] = None,
    ) -> dict[str, torch.Tensor]:
        """{modality: list of raw inputs} -> {modality: unit-norm embeddings [N, embed_dim]}.

        Inputs are what the modality's transform reads: paths, arrays, strings, or frames that carry
        their own settings (DepthFrame, ThermalFrame). `options` replace transform settings for this
        call, per modality: `{"depth": {"camera": "realsense_d435"}, "thermal": {"units": "celsius"}}`.
        """
        self._warn_random({Modality.parse(name) for name in inputs})
        options = {Modality.parse(k).value: v for k, v in (options or {}).items()}
        unused = set(options) - {Modality.parse(k).value for k in inputs}
        if unused:
            raise InputError(f"options for {sorted(unused)} but no such inputs; options apply per modality")
        if batch_size < 1:
            raise InputError(f"batch_size must be >= 1, got {batch_size}")
        out = {}
        for name, items in inputs.items():
            modality = self._check(name)
            if not isinstance(items, list):
                items = [items]  # one sample: a string, a path, an array or an (array, rate) tuple
            transform = self.transform(modality, **options.get(modality.value, {}))
            chunks = [
                self.embed_tensors(modality, transform.batch(items[i : i + batch_size], start=i))
                for i in range(0, len(items), batch_size)
            ]
            if not chunks:
                raise InputError(f"{modality.value}: the input list is empty")
            out[modality.value] = torch.cat(chunks)
        return out

    @torch.no_grad()
    def embed_tensors(self, modality: "Modality | str", x: torch.Tensor, batch_size: int = 32) -> torch.Tensor:
        """Preprocessed tensors [N, ...] (what `transform(modality)` makes) -> unit-norm embeddings
        [N, embed_dim], encoded `batch_size` at a time on the model's device."""
        device = next(self.parameters()).device
        chunks = [self.encode(modality, x[i : i + batch_size].to(device)) for i in range(0, len(x), batch_size)]
        return F.normalize(torch.cat(chunks), dim=-1)
