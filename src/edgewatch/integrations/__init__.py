"""Bridges from edgewatch to the tools people already run: MQTT brokers, Home Assistant, signed webhooks.

A neutral package: the edge publishes into MQTT and the alarm node consumes from it and signs its webhooks,
so nothing here belongs to one layer. Each module talks to the rest of edgewatch only through
:mod:`edgewatch.protocol` and the settings models.
"""
