"""MQTT for edgewatch: the edge publishes alarms (from its durable outbox), tracks and camera state, plus Home
Assistant discovery; alarm nodes can listen for their site's alarms on the same broker.

Modules: :mod:`.broker` (connection settings, TLS, one-line errors), :mod:`.topics` (the topic layout),
:mod:`.messages` (JSON payloads), :mod:`.discovery` (Home Assistant configs), :mod:`.outbox` (per-alarm
delivery state in SQLite), :mod:`.publisher` (the edge's publishing task).
"""
