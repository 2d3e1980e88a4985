"""Run an alarm node: receive the site's alarms from its edge and sound them.

Stays connected to the edge (reconnecting with backoff), acknowledges every alarm by event id and acts on
each once: a line on standard output, plus a JSON POST to a webhook when one is configured (the snapshot
bytes are left out of the webhook body; ``snapshot_bytes`` gives their size).

Examples:
  edgewatch alarm --edge-url http://edge:8000 --site-id site1 --node-id hall
  edgewatch alarm --webhook-url http://127.0.0.1:9000/alarms --webhook-timeout 3
  EDGEWATCH_WEBHOOK_SECRET="$KEY" edgewatch alarm --webhook-url https://hooks.example/alarm   (signed POSTs)
  EDGEWATCH_MQTT_PASSWORD="$PW" edgewatch alarm --mqtt-url mqtt://broker:1883 --mqtt-username alarm \\
      --site-id site1 --node-id siren   (the site's alarms from MQTT instead of the edge)
"""

from __future__ import annotations

import argparse
from typing import Any

from edgewatch.cli_support import add_settings_options, settings_from_args
from edgewatch.config import AlarmSettings


def configure(parser: argparse.ArgumentParser) -> None:
    add_settings_options(parser, AlarmSettings)


def main(args: argparse.Namespace) -> int:
    settings = settings_from_args(AlarmSettings, args)
    import asyncio
    import sys

    from edgewatch.alarm.node import AlarmNode
    from edgewatch.camera.link import EXIT_REFUSED, EdgeRefused
    from edgewatch.camera.supervise import run_until_signalled
    from edgewatch.integrations.mqtt.broker import broker_config
    from edgewatch.telemetry.logs import configure_logging, get_logger

    configure_logging(f"alarm-{settings.node_id}", settings.log_dir, settings.log_level)

    async def serve(node: Any) -> Any:
        await run_until_signalled(node.run(), node.stop)
        return node

    try:
        broker = broker_config(settings)
        if broker is None:
            node: Any = AlarmNode(settings)
        else:
            from edgewatch.alarm.mqtt_node import MqttAlarmNode

            node = MqttAlarmNode(settings, broker)
    except ValueError as exc:  # a webhook URL, secret file or broker setting that cannot be used
        sys.stderr.write(f"edgewatch: invalid alarm settings: {exc}\n")
        return 2
    try:
        asyncio.run(serve(node))
    except EdgeRefused as exc:  # cannot heal by retrying: say so once and exit non-zero
        get_logger("edgewatch.alarm").error("alarm_node_refused", code=exc.code.value, error=exc.message)
        sys.stderr.write(f"edgewatch alarm: {exc}\n")
        return EXIT_REFUSED
    except OSError as exc:  # e.g. the metrics port is taken
        get_logger("edgewatch.alarm").error("alarm_node_failed", error=str(exc))
        sys.stderr.write(f"edgewatch alarm: {exc}\n")
        return 1
    if getattr(node, "fatal", None):
        sys.stderr.write(f"edgewatch alarm: MQTT broker {broker.address if broker else ''}: {node.fatal}\n")
        return 1
    sys.stdout.write(f"alarm node {settings.node_id}: {len(node.received)} alarm(s) received\n")
    return 0
