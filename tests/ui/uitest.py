"""Shared by the ui tests: documents, questions, a free port, a browser page wrapper."""

from __future__ import annotations

import socket

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
VIEWPORT = {"width": 1400, "height": 1000}

AIIB_QUESTION = "How much capital does the Asian Infrastructure Investment Bank have?"
AIIB_ANSWER = "100 billion US dollars"
# Far from anything the article says: the reply abstains.
OFF_TOPIC = "What is the boiling point of mercury on Jupiter?"

# A document that tries to run script and render markup: all of it must show as text.
XSS_DOC = (
    "# Vault notes <b>bold?</b>\n\n"
    "The secret code is <script>window.__xss = 1; alert(1)</script> kept in the vault.\n\n"
    'The picture <img src=x onerror="window.__xss = 2"> was taken in Paris in 1999.\n\n'
    "See [the bank](http://evil.example/phish) and **not bold** and $$x^2$$ and "
    "${window.__xss = 3} and {{value}}.\n"
)

GARDEN_DOC = (
    "# Garden notes\n\n"
    "The apple tree in the north corner was planted by Margaret Okafor in 1987.\n\n"
    "Tomatoes are watered every morning at six, and the greenhouse heater is set to 12 degrees.\n\n"
    "The pond holds about 4,000 litres of water and eleven goldfish.\n"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Page:
    """A Playwright page on the app, with the requests it tried outside 127.0.0.1."""

    def __init__(self, page, url: str):
        self.page = page
        self.outside: list[str] = []
        self.dialogs: list[str] = []
        page.route("**/*", self._route)
        page.on("dialog", self._dialog)
        page.goto(url)
        self.question.wait_for()

    def _route(self, route):
        url = route.request.url
        if url.startswith(("http://127.0.0.1:", "data:", "blob:")):
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()

    def _dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    @property
    def question(self):
        return self.page.locator("#docqa-question textarea")

    def bot_messages(self):
        return self.page.locator("#docqa-chat .docqa-reply")

    def ask(self, text: str, *, timeout: float = 30_000):
        """Type ``text``, press Enter, wait for a new assistant message; return it."""
        before = self.bot_messages().count()
        self.question.fill(text)
        self.question.press("Enter")
        self.page.wait_for_function(
            "n => document.querySelectorAll('#docqa-chat .docqa-reply').length > n",
            arg=before, timeout=timeout)
        return self.bot_messages().nth(before)
