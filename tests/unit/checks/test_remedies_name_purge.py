"""A remedy that tells the reader to delete entries names the command that does it."""

from __future__ import annotations

import re

from cachediag.checks.checklist import load_checklist


def test_every_delete_remedy_names_cachediag_purge() -> None:
    remedies = [
        (spec.id, text)
        for spec in load_checklist().checks
        for text in (spec.remedy, *spec.remedies.values())
    ]
    deleting = [(check, text) for check, text in remedies if re.search(r"\bdelete\b", text, re.I)]
    assert {check for check, _ in deleting} >= {
        "redis.serialization",
        "memcached.serialization",
        "app.schema_change",
        "app.error_logs",
    }
    assert [check for check, text in deleting if "cachediag purge" not in text] == []
    assert not any("redis-cli UNLINK KEY" in text for _, text in remedies)


def test_every_diagnosis_fix_that_deletes_names_cachediag_purge() -> None:
    from cachediag.diagnose.weights import load_weights

    fixes = {cause: spec.fix for cause, spec in load_weights().causes.items()}
    deleting = {cause for cause, fix in fixes.items() if re.search(r"\bdelete\b", fix, re.I)}
    assert deleting >= {
        "serialization.schema-mismatch",
        "serialization.corrupt-entries",
        "serialization.mixed-serializers",
    }
    # "then delete the entries written before" names no entries to match: the others do.
    named = deleting - {"serialization.unsupported-types"}
    assert [cause for cause in sorted(named) if "cachediag purge" not in fixes[cause]] == []
    assert not any("redis-cli UNLINK" in fix for fix in fixes.values())
