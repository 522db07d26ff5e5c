"""A stand-in for ``python -m ui.worker`` (same arguments, same JSON lines), for
``ui.jobs`` tests: what it does is named by its first path, e.g. ``slow.txt``."""

import json
import sys
import time
from pathlib import Path


def say(**fields):
    print(json.dumps(fields), flush=True)


args = sys.argv[1:]
paths = args[args.index("--") + 1:] if "--" in args else []
name = Path(paths[0]).stem if paths else "bundled"
say(stage="Loading the language model")
if name == "fail":
    say(error=f"{paths[0]!r} is empty")
    sys.exit(2)
if name == "crash":
    print("Traceback: something broke", file=sys.stderr)
    sys.exit(1)
say(stage="Embedding chunks", done=1, total=4, rate=2.0)
if name.startswith("slow"):
    time.sleep(60)
Path(args[args.index("--index-dir") + 1]).mkdir(parents=True, exist_ok=True)
say(ok=True)
