"""`cachediag diagnose`: from a symptom (the guide's four Issues) to its ranked causes.

The pipeline, one module each:

    facts (cachediag.facts/v1, live or from a file)
      -> view.TargetView     derived readings of one target: rates over the window, churn
      -> symptoms/*.py       per cause, the evidence observed (ids) and what is missing
      -> engine.diagnose     weights (diagnoses.toml) -> scores, verdicts, ranking: Diagnosis
      -> render/diagnose.py  table, markdown, json (cachediag.diagnose/v1)

Everything here but `weights.load_weights` (which reads the TOML) is pure: a function of
the facts document and the weights, so a bundle's facts give the same diagnosis offline.
"""
