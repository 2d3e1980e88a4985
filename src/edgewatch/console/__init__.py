"""Shared parts of the web consoles the edge and the cloud serve at ``/console``: operator accounts
(:mod:`operators`), sessions and CSRF tokens (:mod:`sessions`), login pages and request guards (:mod:`web`),
the base templates and the stylesheet. Neutral on purpose: both layers use it, neither owns it.

Imports only the standard library at package level; Starlette and Jinja2 are imported by :mod:`web`.
"""
