"""Shape one network link: a TCP proxy adding delay, jitter, a bandwidth limit or stalls (no netem needed).

Put it between two nodes and point the client at it: the edge's --cloud-url (link edge-cloud) or a camera's
--edge-url (link camera-edge). Conditions: MEAN±SDms (or MEAN+-SDms), then optional rate=2mbit,
stall=2s/30s and both (also delay the answers). It logs `wan_link` (the configured conditions) at start
and `wan_stats` (how long chunks were really held) every --stats-interval seconds and at the end, so
`edgewatch report` shows the conditions next to the measured latencies.

Examples:
  edgewatch wan --link edge-cloud --listen 127.0.0.1:9080 --target 127.0.0.1:8080 --conditions '150±20ms'
  edgewatch wan --link camera-edge --listen 0.0.0.0:8000 --target site1-edge:8000 \\
      --conditions '40+-10ms,rate=4mbit,stall=2s/60s' --log-dir logs
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def configure(parser: argparse.ArgumentParser) -> None:
    from edgewatch.sim.wan import LINKS

    parser.add_argument("--link", required=True, choices=LINKS, help="which link this proxy shapes")
    parser.add_argument("--listen", type=_host_port, required=True, metavar="HOST:PORT",
                        help="where clients connect (port 0: any free port, printed at start)")
    parser.add_argument("--target", type=_host_port, required=True, metavar="HOST:PORT",
                        help="the real server behind the link")
    parser.add_argument("--conditions", required=True, help="e.g. 150±20ms or '150+-20ms,rate=2mbit'")
    parser.add_argument("--seed", type=int, default=None, help="random seed for the jitter (reproducible runs)")
    parser.add_argument("--log-dir", type=Path, default=None, help="also write wan-<link>.jsonl here")
    parser.add_argument("--stats-interval", type=float, default=10.0,
                        help="seconds between wan_stats log lines (default: 10)")


async def _serve(args: argparse.Namespace) -> int:
    import asyncio

    import structlog

    from edgewatch.sim.wan import WanProxy, parse_conditions

    log = structlog.get_logger("edgewatch.wan")
    proxy = WanProxy(args.target[0], args.target[1], parse_conditions(args.conditions),
                     listen_host=args.listen[0], listen_port=args.listen[1], seed=args.seed)
    await proxy.start()
    log.info("wan_link", link=args.link, listen=f"{args.listen[0]}:{proxy.port}",
             target=f"{args.target[0]}:{args.target[1]}", **proxy.conditions.to_json())
    sys.stdout.write(f"wan {args.link}: {proxy.conditions.describe()} on {args.listen[0]}:{proxy.port} -> "
                     f"{args.target[0]}:{args.target[1]}\n")
    sys.stdout.flush()
    try:
        while True:
            await asyncio.sleep(args.stats_interval)
            log.info("wan_stats", link=args.link, **proxy.stats())
    finally:
        log.info("wan_stats", link=args.link, final=True, **proxy.stats())
        await proxy.close()


def main(args: argparse.Namespace) -> int:
    import asyncio
    import signal

    from edgewatch.sim.wan import WanSpecError, parse_conditions
    from edgewatch.telemetry.logs import configure_logging

    try:
        parse_conditions(args.conditions)
    except WanSpecError as exc:
        sys.stderr.write(f"edgewatch wan: {exc}\n")
        return 2
    if args.stats_interval <= 0:
        sys.stderr.write("edgewatch wan: --stats-interval must be positive\n")
        return 2
    try:
        configure_logging(f"wan-{args.link}", args.log_dir)
    except OSError as exc:
        sys.stderr.write(f"edgewatch wan: --log-dir {args.log_dir}: {exc.strerror or exc}\n")
        return 2

    def stop(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)  # compose and the demo stop it with SIGTERM: log the final stats
    try:
        return asyncio.run(_serve(args))
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        sys.stderr.write(f"edgewatch wan: cannot listen on {args.listen[0]}:{args.listen[1]}: "
                         f"{exc.strerror or exc}\n")
        return 1
