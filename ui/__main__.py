"""``python -m ui``: load the documents once, then serve the chat on loopback.

    python -m ui [--docs PATH ...] [--index-dir DIR] [--host 127.0.0.1] [--port 7860]
                 [--max-upload-mb 10] [--max-storage-mb 500] [--state-dir DIR] [-q]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from qa.cli import EXIT_USAGE, backend_flags, backend_options, bounded, error_line, setup_logging


def build_parser() -> argparse.ArgumentParser:
    from ui.config import DEFAULT_HOST, DEFAULT_MAX_STORAGE_MB, DEFAULT_MAX_UPLOAD_MB, DEFAULT_PORT

    parser = argparse.ArgumentParser(
        prog="python -m ui",
        description="Chat with your documents in the browser; every answer is a verbatim, cited span.")
    parser.add_argument("--docs", nargs="+", metavar="PATH",
                        help="documents (.pdf .html .htm .docx .epub .txt .md) or folders of them "
                             "(default: the bundled article)")
    parser.add_argument("--index-dir", metavar="DIR",
                        help="where the index lives; without --docs, answer from the index already "
                             "there, as it is (default: $QA_INDEX_DIR, else a per-user cache)")
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=_port, default=DEFAULT_PORT,
                        help=f"port to serve on (default {DEFAULT_PORT})")
    parser.add_argument("--max-upload-mb", type=_positive_float, default=DEFAULT_MAX_UPLOAD_MB,
                        metavar="MB",
                        help=f"largest file a user may upload (default {DEFAULT_MAX_UPLOAD_MB})")
    parser.add_argument("--max-storage-mb", type=_positive_float, default=DEFAULT_MAX_STORAGE_MB,
                        metavar="MB",
                        help="disk space for uploaded documents and their indexes; the least "
                             f"recently used sets are deleted past it (default {DEFAULT_MAX_STORAGE_MB})")
    parser.add_argument("--state-dir", metavar="DIR",
                        help="where uploads and their indexes are kept (default: beside the "
                             "per-user index cache)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bars or log lines")
    backend_flags(parser)
    return parser


_port = bounded(int, lambda n: 0 < n < 65536, "a port number 1-65535")
_positive_float = bounded(float, lambda x: x > 0, "a number > 0")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Before gradio is imported: it reads these when it loads.
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ.setdefault("GRADIO_RUN_HISTORY", "False")
    setup_logging(quiet=args.quiet)
    from index.memory import limit_arenas

    limit_arenas()   # before any thread starts: freed memory goes back to the system (index.memory)
    from qa import QA, USER_ERRORS
    from ui.app import build_app, launch

    try:
        backend = backend_options(args)
        opened = args.index_dir is not None and not args.docs and not backend   # the index as it is
        if opened:
            bot = QA.open(args.index_dir)
        else:
            bot = QA.load(args.docs, index_dir=args.index_dir, progress=not args.quiet, **backend)
    except USER_ERRORS as exc:
        print(error_line(exc), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    bot.encoder.embed_texts(["warm up"])   # load the model now, not on the first question
    app = build_app(bot, bundled=not args.docs and not opened, max_upload_mb=args.max_upload_mb,
                    max_storage_mb=args.max_storage_mb, state_dir=args.state_dir)
    try:
        url = launch(app, host=args.host, port=args.port, block=False)
    except OSError as exc:   # e.g. the port is taken
        print(f"error: cannot serve on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from ui.render import list_names, plural

    print(f"docqa is ready at {url} ({list_names(bot.index.documents)}, "
          f"{plural(len(bot.index.chunks), 'passage')}). Press Ctrl+C to stop.", flush=True)
    try:
        while app.is_running:
            time.sleep(0.2)
    except KeyboardInterrupt:
        print("Stopping.", file=sys.stderr)
    finally:
        app.close(verbose=False)   # stops the queue and the heartbeats first, then the server
        app.docqa_handlers.library.indexer.close()   # and any indexing worker
    return 0


if __name__ == "__main__":
    sys.exit(main())
