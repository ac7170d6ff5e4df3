"""The guide's four Issues, one module each: the symptom's signal and its causes' readers.

Importing this package registers them all (symptoms/registry.py), in the guide's order.
"""

from __future__ import annotations

from cachediag.diagnose.symptoms import low_hit_rate as low_hit_rate
from cachediag.diagnose.symptoms.registry import CAUSES, SYMPTOMS, causes_of

__all__ = ["CAUSES", "SYMPTOMS", "causes_of"]
