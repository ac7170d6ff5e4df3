"""The guide's four Issues, one module each: the symptom's signal and its causes' readers.

Importing this package registers them all (symptoms/registry.py); SYMPTOMS is in the
guide's order, whatever order the modules were imported in.
"""

from __future__ import annotations

from cachediag.diagnose.symptoms import low_hit_rate as low_hit_rate
from cachediag.diagnose.symptoms import memory as memory
from cachediag.diagnose.symptoms import serialization as serialization
from cachediag.diagnose.symptoms import timeouts as timeouts
from cachediag.diagnose.symptoms.registry import CAUSES, causes_of
from cachediag.diagnose.symptoms.registry import SYMPTOMS as _REGISTERED

GUIDE_ORDER = ("low-hit-rate", "timeouts", "memory", "serialization")
SYMPTOMS = {name: _REGISTERED[name] for name in GUIDE_ORDER if name in _REGISTERED}

__all__ = ["CAUSES", "GUIDE_ORDER", "SYMPTOMS", "causes_of"]
