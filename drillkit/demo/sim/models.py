"""The sim provider's model catalogue: names, fingerprints, behaviour and latency profiles.

Latency contract: a response's first byte waits `ttft_ms`, then the text flows at
`tokens_per_s`; both are multiplied by a latency scale (0 disables every sleep).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Behaviour = Literal["reference", "drift", "lite"]


@dataclass(frozen=True)
class SimModel:
    """One servable model.

    `behaviour` selects how the brain phrases answers: `reference` is the pinned baseline,
    `drift` is "newer weights" (new phrasing, some answers lose citations or facts), `lite` is
    the cheap fallback (one sentence, rare dropped citation).
    """

    id: str
    behaviour: Behaviour
    system_fingerprint: str
    ttft_ms: float
    tokens_per_s: float
    owned_by: str
    created: int
    display_name: str

    def ttft_s(self, scale: float) -> float:
        """Seconds to wait before the first byte, at latency `scale`."""
        return max(0.0, self.ttft_ms * scale / 1000.0)

    def generation_s(self, tokens: int, scale: float) -> float:
        """Seconds needed to emit `tokens` output tokens, at latency `scale`."""
        if tokens <= 0 or scale <= 0:
            return 0.0
        return tokens / self.tokens_per_s * scale

    def total_s(self, tokens: int, scale: float) -> float:
        """Seconds a non-streaming response with `tokens` output tokens takes."""
        return self.ttft_s(scale) + self.generation_s(tokens, scale)


PINNED = "sim-pro-2025-06"
NEWER = "sim-pro-2025-11"
LITE = "sim-lite-2025-03"
#: The undated name, as providers offer ("latest"): today the 2025-06 weights. The demo calls the
#: provider by this alias until a version is pinned, which is why pinning the dated snapshot is a
#: real rollback when the provider moves the alias to other weights (the silent swap).
ALIAS = "sim-pro"

MODELS: dict[str, SimModel] = {
    m.id: m
    for m in (
        SimModel(
            id=PINNED,
            behaviour="reference",
            system_fingerprint="fp_simpro_2506a",
            ttft_ms=180.0,
            tokens_per_s=120.0,
            owned_by="drillkit-sim",
            created=1748736000,  # 2025-06-01
            display_name="Sim Pro (2025-06)",
        ),
        SimModel(
            id=ALIAS,
            behaviour="reference",
            system_fingerprint="fp_simpro_2506a",
            ttft_ms=180.0,
            tokens_per_s=120.0,
            owned_by="drillkit-sim",
            created=1748736000,
            display_name="Sim Pro (latest: 2025-06)",
        ),
        SimModel(
            id=NEWER,
            behaviour="drift",
            system_fingerprint="fp_simpro_2511c",
            ttft_ms=170.0,
            tokens_per_s=125.0,
            owned_by="drillkit-sim",
            created=1761955200,  # 2025-11-01
            display_name="Sim Pro (2025-11)",
        ),
        SimModel(
            id=LITE,
            behaviour="lite",
            system_fingerprint="fp_simlite_2503b",
            ttft_ms=60.0,
            tokens_per_s=300.0,
            owned_by="drillkit-sim",
            created=1740787200,  # 2025-03-01
            display_name="Sim Lite (2025-03)",
        ),
    )
}


def get_model(name: str) -> SimModel | None:
    """The catalogue entry for `name`, or None when the sim does not serve it."""
    return MODELS.get(name)
