"""marsad's Prefect flows and command line.

Prefect settings marsad relies on are defaulted here, before Prefect is imported anywhere: no
telemetry (no traffic beyond the machine), and a startup timeout long enough for the embedded
server's first start on a small machine.
"""

import os

for _name, _value in {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    "PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY": "false",
}.items():
    os.environ.setdefault(_name, _value)
