"""The sharing tests use the PACS tests' fixtures: users, real servers (nginx in front of uvicorn), uploads."""

from tests.pacs.conftest import client, make_user  # noqa: F401
