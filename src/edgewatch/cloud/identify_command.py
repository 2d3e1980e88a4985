"""Ask the cloud who is in each image: known person, intruder, or no face.

Talks to a running cloud (--url, default $EDGEWATCH_CLOUD_URL or http://127.0.0.1:8080; token from
$EDGEWATCH_TOKEN) or, with --db PATH, runs the local backend on that store file in this process.
With --json, one JSON line per image:
  {"image": PATH, "verdict": "known"|"intruder"|"no_face",
   "faces": [{"box": [x1, y1, x2, y2], "match": NAME or null, "similarity": S}]}
and for an image that could not be identified {"image": PATH, "error": CODE, "detail": TEXT} (its error is
also written to stderr, where it goes alone without --json).
Exit status: 0 every image answered, 1 some could not be, 2 bad usage.

Examples:
  edgewatch identify --db faces.db frame1.jpg frame2.jpg
  EDGEWATCH_TOKEN=s3cret edgewatch identify --url http://cloud:8080 --json crops/*.jpg
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from edgewatch.cloud.access import AccessError, add_access_options, open_access


def configure(parser: argparse.ArgumentParser) -> None:
    add_access_options(parser)
    parser.add_argument("--json", action="store_true", help="one JSON line per image")
    parser.add_argument("--threshold", type=float, default=None,
                        help="with --db: cosine similarity for a match (default: 0.363, SFace's)")
    parser.add_argument("images", metavar="IMAGE", nargs="+", type=Path, help="JPEG or PNG image(s)")


def summarise(path: Path, answer: dict[str, Any]) -> dict[str, Any]:
    """The command's JSON line for one answered image."""
    faces = []
    for face in answer.get("faces", []):
        match = face.get("match")
        faces.append({"box": list(face["box"]), "match": match["name"] if match else None,
                      "similarity": face.get("similarity")})
    return {"image": str(path), "verdict": answer["verdict"], "faces": faces}


def describe(line: dict[str, Any]) -> str:
    if "error" in line:
        return f"{line['image']}: ERROR {line['error']}: {line['detail']}"
    parts = []
    for face in line["faces"]:
        similarity = "n/a" if face["similarity"] is None else f"{face['similarity']:.3f}"
        who = face["match"] or "unknown"
        parts.append(f"{who} ({similarity})")
    return f"{line['image']}: {line['verdict']}" + (f" - {', '.join(parts)}" if parts else "")


def main(args: argparse.Namespace) -> int:
    if args.threshold is not None and not 0 < args.threshold < 1:
        sys.stderr.write("edgewatch identify: --threshold must be between 0 and 1\n")
        return 2
    access = open_access(args, args.threshold)
    failed = 0
    try:
        for path in args.images:
            try:
                line = summarise(path, access.identify(path))
            except AccessError as exc:
                failed += 1
                line = {"image": str(path), "error": exc.code, "detail": exc.detail}
                # An image that could not be identified is also said on stderr, as every command's errors are.
                sys.stderr.write(f"edgewatch identify: {describe(line)}\n")
                if not args.json:
                    continue
            sys.stdout.write((json.dumps(line) if args.json else describe(line)) + "\n")
            sys.stdout.flush()
    finally:
        access.close()
    return 1 if failed else 0
