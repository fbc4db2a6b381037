"""The Orthanc client against a server that drops connections the way Orthanc drops an idle kept-alive one:
the request is sent once more on a new connection, and only once."""

from __future__ import annotations

import socket
import threading

import pytest

from medcloud.core.orthanc import OrthancClient, OrthancError

BODY = b'["dicom-web"]'
ANSWER = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
          b"Connection: close\r\n\r\n%s" % (len(BODY), BODY))


class DroppingServer:
    """Reads each request, then closes the first `drops` connections without a word; answers the others."""

    def __init__(self, drops: int) -> None:
        self.drops, self.requests = drops, 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                self.requests += 1
                if self.requests > self.drops:
                    conn.sendall(ANSWER)

    def close(self) -> None:
        self.sock.close()


@pytest.mark.parametrize(("drops", "succeeds"), [(0, True), (1, True), (2, False)])
def test_a_dropped_connection_is_retried_once(drops: int, succeeds: bool) -> None:
    server = DroppingServer(drops)
    try:
        with OrthancClient(server.url, "u", "p", timeout=5) as client:
            if succeeds:
                assert client.plugins() == ["dicom-web"]
            else:
                with pytest.raises(OrthancError, match="unreachable: RemoteProtocolError"):
                    client.plugins()
        assert server.requests == min(drops + 1, 2)
    finally:
        server.close()
