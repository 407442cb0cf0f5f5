"""A local Sinch simulator for development and tests (never deployed).

`SinchSimulator(port=0).start()` serves XMS under `{sim.url}/xms/v1/{service_plan_id}`, the MMS
JSON API at `{sim.url}/ep/v2/` and its control API under `{sim.url}/_sim/`; `sim.stop()` ends it.
With `project_id`, `key_id` and `key_secret` it also serves `POST /oauth2/token` and XMS under
`/xms/v1/{project_id}` (OAuth2).
"""

from .simulator import SinchSimulator

__all__ = ["SinchSimulator"]
