"""`ExternalBackend`: any local SR checkpoint spandrel recognises (ESRGAN, SwinIR, HAT, RCAN,
ATD, ...), loaded from disk only — spandrel never downloads anything.

Spandrel picks the architecture from the state-dict keys; we only check that the result is a
single-image SR model of the benchmark's scale, then run it through spandrel's descriptor
(which pads to the model's size requirements and clamps the output to [0, 1]).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from bench.errors import BenchError
from sr_backends.base import BackendSpec, SRBackend
from sr_backends.weights import sha256_file


class ExternalBackend(SRBackend):
    name = "external"
    needs_reference = False

    def __init__(self, weights: Path | str, device: str | torch.device = "cpu",
                 expected_scale: int = 4) -> None:
        import spandrel

        self.weights = Path(weights)
        if not self.weights.is_file():
            raise BenchError(f"{self.weights}: external SR weights file not found")
        self.device = torch.device(device)
        try:
            desc = spandrel.ModelLoader(device=self.device).load_from_file(self.weights)
        except spandrel.UnsupportedModelError:
            raise BenchError(f"{self.weights}: spandrel does not recognise this checkpoint's "
                             "architecture (see spandrel's list of supported models)") from None
        except Exception as e:  # unreadable / truncated / wrong extension
            raise BenchError(f"{self.weights}: cannot load checkpoint ({type(e).__name__}: "
                             f"{str(e).splitlines()[0] if str(e) else ''})") from None
        if not isinstance(desc, spandrel.ImageModelDescriptor):
            raise BenchError(f"{self.weights}: {desc.architecture.name} is not a single-image "
                             "model (inpainting / masked models are not SR backends)")
        if desc.scale != expected_scale:
            raise BenchError(f"{self.weights}: {desc.architecture.name} model is x{desc.scale}, "
                             f"the benchmark needs x{expected_scale}")
        self.descriptor = desc
        self.model = desc.model
        self.scale = desc.scale
        self.architecture = desc.architecture.name
        desc.model.eval().requires_grad_(False)
        self._sha256 = sha256_file(self.weights)

    def fingerprint(self) -> str:
        ident = {"arch": f"external:{self.architecture}", "scale": self.scale,
                 "weights": self._sha256}
        return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()

    def upscale(self, lr: torch.Tensor, ref: torch.Tensor | None = None,
                depth: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        if lr.ndim != 4 or lr.shape[1] != self.descriptor.input_channels:
            raise BenchError(f"LR must be (B,{self.descriptor.input_channels},H,W), "
                             f"got {tuple(lr.shape)}")
        # Clone: some spandrel architectures (RCAN) scale their input in place.
        x = lr.detach().to(self.device, torch.float32).clone()
        with torch.inference_mode():
            out = self.descriptor(x)
        return out.clamp(0.0, 1.0).to(lr.device)


SPEC = BackendSpec(arch="external", build=ExternalBackend, kind="file")
