"""Record tests/data/recorded_cluster_facts.json: the facts of a 3-primary, 3-replica
cluster on loopback holding 3,000 keys written by redis-py's RedisCluster.

    .venv/bin/python tests/data/record_cluster_facts.py

INFO commandstats/errorstats and the key samples are left out (the cluster rules do not
read them), so the file stays small.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from servers import start_redis_cluster  # noqa: E402

from cachediag.backends import expand  # noqa: E402
from cachediag.probes.collect import collect_facts  # noqa: E402
from cachediag.targets.parse import parse_redis  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as workdir:
        cluster = start_redis_cluster(Path(workdir))
        try:
            app = cluster.client()
            pipe = app.pipeline()
            for i in range(3000):
                pipe.set(f"user:{i}", "x" * 20)
            pipe.execute()
            nodes = expand([parse_redis(cluster.seed.url, "flag")], 2.0)
            facts = collect_facts(nodes, 2.0, sample_keys=0, host=False, window=1.0)
        finally:
            cluster.stop()
    # Ports were free ones: renumber them 7000... so the file reads like a real layout.
    text = json.dumps(facts)
    for index, node in enumerate(cluster.nodes):
        text = text.replace(str(node.port), str(7000 + index))
    facts = json.loads(text)
    for target in facts["targets"]:
        for name in ("commandstats", "errorstats", "latencystats"):
            (target.get("info") or {}).pop(name, None)
        target["sample"]["keys"] = []
    (HERE / "recorded_cluster_facts.json").write_text(json.dumps(facts, indent=1) + "\n")


if __name__ == "__main__":
    main()
