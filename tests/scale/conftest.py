"""The city layout's servers for the scale tests: a hot standby of the tests' PostgreSQL server,
and nginx and PgBouncer from Debian (a loud skip when missing, a failure under CI)."""

from __future__ import annotations

import pytest

from tests.conftest import unavailable
from tests.support.city import find_binary
from tests.support.postgres import Standby, find_bin_dir


@pytest.fixture(scope="session")
def standby(postgres_server_url):
    """A hot standby of the tests' server, streaming from it, for this worker."""
    server = Standby(find_bin_dir(), int(postgres_server_url.rsplit(":", 1)[1])).start()
    yield server
    server.stop()


def _binary(name: str, package: str) -> str:
    binary = find_binary(name)
    if binary is None:
        unavailable(f"{name} is not installed (apt-get install {package})")
    return binary


@pytest.fixture(scope="session")
def nginx_binary() -> str:
    """nginx's path, or a loud skip (a failure under CI)."""
    return _binary("nginx", "nginx-light")


@pytest.fixture(scope="session")
def pgbouncer_binary() -> str:
    """pgbouncer's path, or a loud skip (a failure under CI)."""
    return _binary("pgbouncer", "pgbouncer")
