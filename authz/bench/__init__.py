"""Load benchmarks for authz: a gRPC load generator that always measures an echo baseline.

Modules, one step each: ``histogram`` (log-linear latency buckets), ``driver`` (request
threads of one client process), ``loadgen`` (load shapes, client processes, ``run_load``),
``scenarios`` (the plug-in registry and built-in scenarios), ``spawn`` (servers to run
against), ``moto`` (the boto3 side of the moto comparison), ``report`` (ratios, JSON,
Markdown) and ``cli`` (``authz bench``). Traffic goes to loopback addresses only.
"""

from authz.bench.histogram import Histogram
from authz.bench.loadgen import LoadConfig, LoadResult, check_loopback, run_load
from authz.bench.scenarios import Scenario, get_scenario, register_scenario, scenario_names

__all__ = [
    "Histogram",
    "LoadConfig",
    "LoadResult",
    "Scenario",
    "check_loopback",
    "get_scenario",
    "register_scenario",
    "run_load",
    "scenario_names",
]
