"""WAN conditions on demand: a TCP proxy that adds delay, jitter, a bandwidth limit and stalls to one link.

This kernel has no ``netem`` (``tc qdisc ... netem delay 150ms 20ms distribution normal``), so the link is
simulated one level up, in a TCP proxy put between two nodes (camera → edge, edge → cloud): every chunk of
bytes read from one side is held back before it is written to the other. Its model, per direction:

- **delay and jitter**: each chunk waits ``N(delay, jitter)`` ms (clipped at 0) after it arrived, like netem's
  ``distribution normal``. A chunk never overtakes the one before it (TCP keeps order; netem reorders only
  with ``reorder``), so a chunk whose draw is shorter than the previous chunk's remaining wait leaves with it.
- **bandwidth**: chunks are serialised at ``rate`` bytes per second before the delay (a token-free FIFO link).
- **stall**: for ``stall_s`` seconds out of every ``stall_every_s`` nothing leaves (a link that freezes with
  its connections open; what a stalled WAN or a congested uplink looks like to TCP).

By default the conditions apply to the *upstream* direction only (client → server), as netem on the client's
interface would; ``both`` applies them to the answers too, so a round trip then pays the delay twice.
Memory is bounded: at most :data:`MAX_QUEUED_CHUNKS` chunks wait per direction, then reading stops (TCP
backpressure reaches the sender).
"""

from __future__ import annotations

import asyncio
import math
import random
import re
import time
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from typing import Any

#: Links the demo and the compose topology can shape.
LINKS: tuple[str, ...] = ("camera-edge", "edge-cloud")
#: Chunks read per ``read()`` call at most (bytes).
CHUNK_BYTES = 64 * 1024
#: Chunks waiting per direction at most: 64 x 64 KiB = 4 MiB, whatever the sender does.
MAX_QUEUED_CHUNKS = 64
#: Seconds a connection may stay half-closed (one direction ended) before the proxy closes it.
HALF_CLOSE_GRACE_S = 30.0


class WanSpecError(ValueError):
    """A WAN condition string that cannot be parsed; the message names the part and the expected form."""


@dataclass(frozen=True, slots=True)
class LinkConditions:
    """What one link adds. Times in milliseconds/seconds as named; ``rate_bps`` in bytes per second."""

    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    rate_bps: float | None = None
    stall_s: float = 0.0
    stall_every_s: float = 0.0
    both: bool = False

    def describe(self) -> str:
        """The condition in the form it is written: ``150±20ms``, ``150±20ms, 1mbit, stall 2s/30s``."""
        parts = [f"{self.delay_ms:g}±{self.jitter_ms:g}ms"]
        if self.rate_bps:
            parts.append(f"{self.rate_bps * 8 / 1e6:g}mbit")
        if self.stall_s:
            parts.append(f"stall {self.stall_s:g}s/{self.stall_every_s:g}s")
        if self.both:
            parts.append("both directions")
        return ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "text": self.describe()}


_DELAY = re.compile(r"^(?P<mean>\d+(?:\.\d+)?)\s*(?:(?:±|\+-|\+/-)\s*(?P<sd>\d+(?:\.\d+)?))?\s*(?P<unit>ms|s)?$")
_RATE = re.compile(r"^(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>kbit|mbit|gbit|kb|mb)$", re.IGNORECASE)
_STALL = re.compile(r"^stall=(?P<len>\d+(?:\.\d+)?)s?/(?P<every>\d+(?:\.\d+)?)s?$")
_RATE_BYTES = {"kbit": 1e3 / 8, "mbit": 1e6 / 8, "gbit": 1e9 / 8, "kb": 1e3, "mb": 1e6}


def parse_conditions(text: str) -> LinkConditions:
    """``150±20ms`` (or ``150+-20ms``, ``150ms``, ``0.15s``), then optional comma-separated parts:
    ``rate=2mbit`` (kbit, mbit, gbit, kb, mb), ``stall=2s/30s`` (2 s frozen every 30 s), ``both``.
    Raises :class:`WanSpecError` on anything else."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise WanSpecError("empty WAN condition: expected e.g. 150±20ms")
    match = _DELAY.match(parts[0])
    if match is None:
        raise WanSpecError(f"bad delay {parts[0]!r}: expected MEAN±SDms, e.g. 150±20ms or 150+-20ms")
    scale = 1000.0 if match["unit"] == "s" else 1.0
    values: dict[str, Any] = {"delay_ms": float(match["mean"]) * scale, "jitter_ms": float(match["sd"] or 0) * scale}
    for part in parts[1:]:
        if part == "both":
            values["both"] = True
        elif part.startswith("rate="):
            rate = _RATE.match(part.removeprefix("rate="))
            if rate is None or float(rate["n"]) <= 0:
                raise WanSpecError(f"bad rate {part!r}: expected e.g. rate=2mbit")
            values["rate_bps"] = float(rate["n"]) * _RATE_BYTES[rate["unit"].lower()]
        elif (stall := _STALL.match(part)) is not None:
            length, every = float(stall["len"]), float(stall["every"])
            if not 0 < length < every:
                raise WanSpecError(f"bad stall {part!r}: the stall must be shorter than its period")
            values.update(stall_s=length, stall_every_s=every)
        else:
            raise WanSpecError(f"unknown WAN condition part {part!r}: expected rate=..., stall=S/EVERY or both")
    return LinkConditions(**values)


def parse_wan_option(text: str) -> tuple[str, LinkConditions]:
    """``LINK=CONDITIONS`` as given to ``edgewatch demo --wan``, e.g. ``edge-cloud=150±20ms``."""
    link, sep, spec = text.partition("=")
    if not sep or link.strip() not in LINKS:
        raise WanSpecError(f"--wan expects LINK=CONDITIONS with LINK one of {', '.join(LINKS)}, got {text!r}")
    return link.strip(), parse_conditions(spec)


@dataclass
class DelayStats:
    """Running count, mean and spread (Welford) of the delay each chunk was actually held, in ms."""

    n: int = 0
    mean: float = 0.0
    _m2: float = 0.0
    max: float = 0.0
    bytes: int = 0

    def add(self, held_ms: float, size: int) -> None:
        self.n += 1
        self.bytes += size
        step = held_ms - self.mean
        self.mean += step / self.n
        self._m2 += step * (held_ms - self.mean)
        self.max = max(self.max, held_ms)

    @property
    def sd(self) -> float:
        return math.sqrt(self._m2 / (self.n - 1)) if self.n > 1 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"chunks": self.n, "bytes": self.bytes, "held_ms_mean": round(self.mean, 3),
                "held_ms_sd": round(self.sd, 3), "held_ms_max": round(self.max, 3)}


@dataclass
class Shaper:
    """The schedule of one direction: when may each chunk leave (``time.monotonic()`` seconds).

    ``drawn`` collects the delays drawn (the configured distribution, clipped at 0); what a chunk is really
    held can be longer: it never leaves before the chunk ahead of it, so a message of several chunks arrives
    with the largest of its chunks' draws (as with netem, where TCP delivers a message with its last packet).
    """

    conditions: LinkConditions
    rng: random.Random = field(default_factory=random.Random)
    epoch: float = field(default_factory=time.monotonic)
    drawn: DelayStats = field(default_factory=DelayStats)
    _line_free_at: float = 0.0  # when the (rate-limited) line has sent everything before
    _last_due: float = 0.0  # order: nothing leaves before the chunk ahead of it

    def due(self, arrived: float, size: int) -> float:
        c = self.conditions
        on_line = arrived
        if c.rate_bps:
            on_line = max(arrived, self._line_free_at) + size / c.rate_bps
            self._line_free_at = on_line
        delay = max(0.0, self.rng.gauss(c.delay_ms, c.jitter_ms)) / 1000.0 if c.jitter_ms else c.delay_ms / 1000.0
        self.drawn.add(delay * 1000.0, size)
        due = max(on_line + delay, self._last_due)
        if c.stall_s:
            phase = (due - self.epoch) % c.stall_every_s
            if phase < c.stall_s:  # frozen window: leaves when the stall ends
                due += c.stall_s - phase
        self._last_due = due
        return due


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, shaper: Shaper | None,
                stats: DelayStats) -> None:
    """Copy one direction, holding each chunk until its due time; EOF is passed on after the last chunk."""
    queue: asyncio.Queue[tuple[float, float, bytes] | None] = asyncio.Queue(MAX_QUEUED_CHUNKS)

    async def read() -> None:
        try:
            while chunk := await reader.read(CHUNK_BYTES):
                now = time.monotonic()
                await queue.put((now, shaper.due(now, len(chunk)) if shaper else now, chunk))
        except (ConnectionError, OSError):
            pass
        finally:
            await queue.put(None)

    reading = asyncio.create_task(read())
    try:
        while (item := await queue.get()) is not None:
            arrived, due, chunk = item
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(chunk)
            await writer.drain()
            stats.add((time.monotonic() - arrived) * 1000.0, len(chunk))
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass
    finally:
        reading.cancel()
        with suppress(asyncio.CancelledError):
            await reading


class WanProxy:
    """``listen`` → ``target`` TCP proxy applying ``conditions``; ``stats`` per direction for the report."""

    def __init__(self, target_host: str, target_port: int, conditions: LinkConditions,
                 listen_host: str = "127.0.0.1", listen_port: int = 0, seed: int | None = None) -> None:
        self.target = (target_host, target_port)
        self.listen = (listen_host, listen_port)
        self.conditions = conditions
        self.rng = random.Random(seed)
        self.upstream = DelayStats()
        self.downstream = DelayStats()
        self.drawn_upstream = DelayStats()
        self.drawn_downstream = DelayStats()
        self.connections = 0
        self.failed_connects = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        assert self._server is not None, "start() first"
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> WanProxy:
        self._server = await asyncio.start_server(self._serve, *self.listen)
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            try:
                server_reader, server_writer = await asyncio.open_connection(*self.target)
            except OSError:
                self.failed_connects += 1  # the far side is down: the client sees its connection close
                client_writer.close()
                return
            self.connections += 1
            up = Shaper(self.conditions, random.Random(self.rng.random()), drawn=self.drawn_upstream)
            down = (Shaper(self.conditions, random.Random(self.rng.random()), drawn=self.drawn_downstream)
                    if self.conditions.both else None)
            pumps = {
                asyncio.create_task(_pump(client_reader, server_writer, up, self.upstream)),
                asyncio.create_task(_pump(server_reader, client_writer, down, self.downstream)),
            }
            try:
                # One side finished: the other gets a grace period to drain (a half-closed peer that never
                # closes its side must not hold a task and two sockets for ever).
                _done, pending = await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
                if pending:
                    await asyncio.wait(pending, timeout=HALF_CLOSE_GRACE_S)
            finally:
                for pump in pumps:
                    pump.cancel()
                with suppress(asyncio.CancelledError):
                    await asyncio.gather(*pumps, return_exceptions=True)
                for writer in (server_writer, client_writer):
                    writer.close()
        except asyncio.CancelledError:
            # close(): the connection ends with the proxy (asyncio's stream callback would log a
            # cancelled handler as an error)
            pass
        finally:
            client_writer.close()
            self._tasks.discard(task)

    def stats(self) -> dict[str, Any]:
        """Per direction: how long chunks were held (``held_ms_*``) and the delays drawn (``drawn_ms_*``)."""
        def direction(held: DelayStats, drawn: DelayStats) -> dict[str, Any]:
            return {**held.to_json(), "drawn_ms_mean": round(drawn.mean, 3), "drawn_ms_sd": round(drawn.sd, 3)}

        return {"connections": self.connections, "failed_connects": self.failed_connects,
                "upstream": direction(self.upstream, self.drawn_upstream),
                "downstream": direction(self.downstream, self.drawn_downstream)}
