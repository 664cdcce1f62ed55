"""The registered benchmarks: one module each, found and imported here, so adding a benchmark is adding one file.

A module declares one :class:`~rm_mlflow.data.benchmark.Benchmark` (loader, correctness rule and
aggregation) and calls :func:`~rm_mlflow.data.benchmark.register_benchmark`. Other packages add
benchmarks without editing this one through the ``rm_mlflow.benchmarks`` entry-point group, whose
entries name a module to import (``my_bench = "my_package.my_benchmark"``).
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from importlib.metadata import entry_points

logger = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "rm_mlflow.benchmarks"


def _import_all() -> None:
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            entry.load()
        except Exception as error:  # noqa: BLE001 - a broken plug-in must not take the built-in benchmarks down
            logger.warning("could not load benchmark plug-in %s (%s): %s", entry.name, entry.value, error)


_import_all()
