"""The sim LLM provider: deterministic OpenAI- and Anthropic-compatible models for the demo.

Public surface: `create_sim_app` (the ASGI app), the model catalogue and the brain's `answer`.
The document and context-block format the sim reads is `drillkit.demo.context`, shared with the
demo service.
"""

from drillkit.demo.sim.app import create_sim_app
from drillkit.demo.sim.brain import answer, count_tokens
from drillkit.demo.sim.models import LITE, MODELS, NEWER, PINNED, SimModel, get_model

__all__ = [
    "LITE",
    "MODELS",
    "NEWER",
    "PINNED",
    "SimModel",
    "answer",
    "count_tokens",
    "create_sim_app",
    "get_model",
]
