"""The Milvus tests' server: the one ``.ci/run`` started (its URI in
``$DOCQA_MILVUS_URI``), else one started here for the session. A URI that
does not answer fails every test that needs it, saying so: these tests are
never skipped."""

from __future__ import annotations

import itertools
import os

import pytest

from tests.milvus_server import URI_ENV, MilvusServer, reachable

_names = itertools.count()


@pytest.fixture(scope="session")
def milvus_uri(tmp_path_factory) -> str:
    uri = os.environ.get(URI_ENV)
    if uri:
        why = reachable(uri)
        if why is not None:
            pytest.fail(f"${URI_ENV} is {uri!r}, and no Milvus server answers there: {why}. "
                        "Start one (milvus-lite server --data-dir DIR --host 127.0.0.1 --port PORT) "
                        f"or unset {URI_ENV} to let the tests start their own.", pytrace=False)
        yield uri
        return
    try:
        server = MilvusServer(tmp_path_factory.mktemp("milvus") / "data").start()
    except RuntimeError as exc:
        pytest.fail(f"cannot start a milvus-lite server for the Milvus tests: {exc}", pytrace=False)
    yield server.uri
    server.stop()


@pytest.fixture
def collection() -> str:
    """A collection name no other test uses."""
    return f"t{os.getpid()}_{next(_names)}"


@pytest.fixture
def own_server(tmp_path):
    """A server of the test's own, to stop, kill and restart."""
    server = MilvusServer(tmp_path / "milvus-data").start()
    yield server
    server.kill()

