"""Fixtures for ui/: the real model over the bundled article, a served app, a browser.

Servers bind 127.0.0.1 on a free port, in this process (sharing the loaded
model) or, for the launcher itself, in a subprocess; each is shut down by its
fixture. The browser is Debian's Chromium driven by Playwright, with every
request that is not for 127.0.0.1 refused and recorded.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

# Gradio reads these when it is imported (its upload folder) or launched.
_GRADIO_TMP = tempfile.mkdtemp(prefix="docqa-ui-gradio-")
os.environ["GRADIO_TEMP_DIR"] = _GRADIO_TMP
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["GRADIO_RUN_HISTORY"] = "False"

from uitest import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, Page, free_port  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _gradio_tmp():
    yield
    shutil.rmtree(_GRADIO_TMP, ignore_errors=True)


@pytest.fixture(scope="session")
def bundled_index_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("ui-index") / "bundled"


@pytest.fixture(scope="session")
def ui_bot(bundled_index_dir):
    """The bundled article with the real model, indexed once into a temp folder."""
    from qa import QA

    bot = QA.load(index_dir=bundled_index_dir, progress=False)
    bot.embedder.embed_texts(["warm up"])
    return bot


@pytest.fixture(scope="session")
def serve(tmp_path_factory):
    """``serve(bot, bundled=...) -> url``: build and launch the app in this
    process on a free loopback port; every server is closed at the end of the session."""
    from ui.app import build_app, launch

    apps = []

    def start(bot, *, bundled: bool = True, max_upload_mb: float = 10):
        app = build_app(bot, bundled=bundled, max_upload_mb=max_upload_mb,
                        state_dir=tmp_path_factory.mktemp("ui-state"))
        url = launch(app, port=free_port(), block=False)
        apps.append(app)
        assert url.startswith("http://127.0.0.1:"), url
        return url

    yield start
    for app in apps:
        app.close()


@pytest.fixture(scope="session")
def bundled_url(serve, ui_bot) -> str:
    return serve(ui_bot, bundled=True)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def open_page(browser):
    """``open_page(url) -> Page`` in a fresh browser context (closed after the test)."""
    contexts = []

    def open_(url: str) -> Page:
        context = browser.new_context(viewport=VIEWPORT)
        contexts.append(context)
        return Page(context.new_page(), url)

    yield open_
    for context in contexts:
        context.close()


def pytest_configure(config):
    # Gradio's queue calls pandas in ways pandas 3 deprecates; not ours to fix.
    for message in ("'future.no_silent_downcasting' is deprecated", "The copy keyword is deprecated"):
        config.addinivalue_line("filterwarnings", f"ignore:{message}")
