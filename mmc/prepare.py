"""`mmc prepare <overrides>`: build (and cache) the data set a config names, print its facts.

A data set whose YAML has a `prepare` node runs that (e.g. raw files -> cache); otherwise the
data set's `source` is built, which for cached data sets builds the cache as a side effect.
"""

from __future__ import annotations

import json
import logging

from mmc.config.build import build
from mmc.config.compose import compose_config
from mmc.data.batch import MultimodalDataset


def main(argv: list[str]) -> int:
    # Progress of long preparations (stage timings) on stderr; the JSON facts go to stdout.
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] %(message)s")
    cfg = compose_config(argv)
    if cfg.dataset.get("prepare") is not None:
        result = build(cfg.dataset.prepare, "dataset.prepare")
    else:
        result = build(cfg.dataset.source, "dataset.source")
    info = result.info if isinstance(result, MultimodalDataset) else result
    print(json.dumps(info, indent=2, default=str))
    return 0
