"""Manage the known persons of a cloud: add (enrol photos), list, remove.

Talks to a running cloud (--url, default $EDGEWATCH_CLOUD_URL or http://127.0.0.1:8080; the token comes
from $EDGEWATCH_TOKEN) or, with --db PATH, works directly on a local-backend store file without a server
(a cloud serving that file picks the change up at its next request). `add` creates the person or adds the
photos to an existing one; a photo in which no face is found is refused, naming the file, and nothing is
stored. Exit status: 0 done, 1 refused or failed, 2 bad usage.

Examples:
  edgewatch persons --db faces.db add alice alice1.jpg alice2.png
  EDGEWATCH_TOKEN=s3cret edgewatch persons --url http://cloud:8080 list
  edgewatch persons --db faces.db remove alice
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edgewatch.cloud.access import AccessError, add_access_options, open_access


def _shared_options(parser: argparse.ArgumentParser, *, repeat: bool) -> None:
    add_access_options(parser, repeat=repeat)
    parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS if repeat else False,
                        help="print the answer as JSON")


def configure(parser: argparse.ArgumentParser) -> None:
    # The shared options are accepted before or after the action (`persons --db f.db add ...` and
    # `persons add --db f.db ...`): each action's parser repeats them with SUPPRESS defaults.
    _shared_options(parser, repeat=False)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="enrol a person from one or more photos (creates or adds)")
    _shared_options(add, repeat=True)
    add.add_argument("name", metavar="NAME")
    add.add_argument("photos", metavar="PHOTO", nargs="+", type=Path, help="JPEG or PNG photo(s)")
    listing = actions.add_parser("list", help="list known persons and their number of faces")
    _shared_options(listing, repeat=True)
    remove = actions.add_parser("remove", help="forget a person and all their faces")
    _shared_options(remove, repeat=True)
    remove.add_argument("name", metavar="NAME")


def main(args: argparse.Namespace) -> int:
    out = sys.stdout
    access = open_access(args, create=args.action == "add")
    try:
        if args.action == "add":
            result = access.add_person(args.name, list(args.photos))
            text = (f"{'enrolled new' if result['created'] else 'updated'} person {result['name']!r}: "
                    f"{result['added']} face(s) added, {result['faces']} in total")
        elif args.action == "list":
            persons = access.list_persons()
            result = {"persons": persons}
            text = "\n".join(f"{p['name']}\t{p['faces']} face(s)" for p in persons) or "(no known persons)"
        else:
            result = access.remove_person(args.name)
            text = f"removed person {result['name']!r} ({result['removed_faces']} face(s))"
    except AccessError as exc:
        if args.json:
            out.write(json.dumps({"error": exc.code, "detail": exc.detail}) + "\n")
        sys.stderr.write(f"edgewatch persons: {exc.code}: {exc.detail}\n")
        return 1
    finally:
        access.close()
    out.write((json.dumps(result) if args.json else text) + "\n")
    return 0
