"""A local Sinch XMS simulator for development and tests (never deployed).

`SinchSimulator(port=0).start()` serves XMS under `{sim.url}/xms/v1/{service_plan_id}` and its
control API under `{sim.url}/_sim/`; `sim.stop()` ends it.
"""

from .simulator import SinchSimulator

__all__ = ["SinchSimulator"]
