"""`mmc prepare <overrides>`: build (and cache) the data set a config names, print its facts.

A data set whose YAML has a `prepare` node runs that (e.g. raw files -> cache); otherwise the
data set's `source` is built, which for cached data sets builds the cache as a side effect.
"""

from __future__ import annotations

import json
import logging
import sys

from mmc.config.build import build
from mmc.config.compose import compose_config
from mmc.data.batch import MultimodalDataset

USAGE = """usage: mmc prepare [-h] [OVERRIDE ...]

Build (and cache) the data set a config names and print its facts as JSON; the overrides are
those of `mmc train` (Hydra syntax), e.g.

  mmc prepare dataset=mimic dataset.root=/data/mimic-iv-2.2
  mmc prepare dataset=flickr30k dataset.root=/data/flickr30k

A data set whose YAML has a `prepare` node runs that (raw files -> cache); others build
their source, which for cached data sets writes the cache. Progress goes to stderr.
Data sets: mmc train --help lists the `dataset` options.
"""


class _CurrentStderr(logging.StreamHandler):
    """Writes to whatever sys.stderr is when a record is emitted, not the stream of the first
    call: `main` can run several times in one process (tests, notebooks) with stderr swapped."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def _log_to_stderr() -> None:
    """logging.basicConfig with a handler that follows sys.stderr (a no-op where the root
    logger already has handlers, as under pytest)."""
    root = logging.getLogger()
    if not root.handlers:
        handler = _CurrentStderr()
        handler.setFormatter(logging.Formatter("[%(asctime)s] %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)


def main(argv: list[str]) -> int:
    if any(a in ("-h", "--help") for a in argv):
        print(USAGE, end="")
        return 0
    # Progress of long preparations (stage timings) on stderr; the JSON facts go to stdout.
    _log_to_stderr()
    cfg = compose_config(argv)
    if cfg.dataset.get("prepare") is not None:
        result = build(cfg.dataset.prepare, "dataset.prepare")
    else:
        result = build(cfg.dataset.source, "dataset.source")
    info = result.info if isinstance(result, MultimodalDataset) else result
    print(json.dumps(info, indent=2, default=str))
    return 0
