"""TLS and plain HTTP: `fieldapp-server run` serves HTTPS with a key and certificate and warns
when it listens beyond this machine without them; the laptop sends nothing to a plain-HTTP
server beyond this machine until the agent agrees, and remembers the agreement."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fieldapp.cli import main as fieldapp_main
from fieldapp.workspace import Workspace
from sync.client import (
    PLAIN_HTTP_KEY,
    PLAIN_HTTP_REFUSED,
    SyncClient,
    SyncError,
    needs_plain_http_consent,
)
from sync.protocol import wire
from sync.protocol.clock import FixedClock
from sync.protocol.loopback import is_loopback
from sync.server import cli as server_cli
from tests.sync.client_fixtures import COMMUNE, ForwardingTransport
from tests.sync.conftest import START, Server

ROOT = Path(__file__).resolve().parents[2]
# A name that is not this machine; a transport carries its requests to the test server, as a
# provincial server on the office network would be reached.
REMOTE = "bhxh-tinh.test"


# -- what counts as this machine ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.3.2.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST.", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.10", False),
        ("10.0.0.1", False),
        ("localhost.example.vn", False),
        ("bhxh-tinh.example.vn", False),
        ("", False),
    ],
)
def test_what_is_loopback(host: str, loopback: bool) -> None:
    """Loopback is 127.0.0.0/8, ::1 and the name localhost; nothing else."""
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("url", "asks"),
    [
        ("http://127.0.0.1:8080", False),
        ("http://127.0.0.2", False),
        ("http://[::1]:8080/", False),
        ("http://localhost:8080", False),
        ("HTTP://LocalHost", False),
        ("https://bhxh-tinh.example.vn", False),
        ("https://192.168.1.10:8443", False),
        ("http://bhxh-tinh.example.vn", True),
        ("http://192.168.1.10:8080", True),
        ("http://0.0.0.0:8080", True),
        ("http://[fe80::1]:8080", True),
    ],
)
def test_which_servers_need_the_agents_consent(url: str, asks: bool) -> None:
    """Only plain http:// to a host beyond this machine asks; https:// and loopback never do."""
    assert needs_plain_http_consent(url) is asks


# -- the laptop's side, against the real server ---------------------------------------------------


@dataclass
class Remote:
    """The test server as reached under a name that is not this machine."""

    url: str
    transport: ForwardingTransport


def as_remote(server: Server, name: str = REMOTE) -> Remote:
    """The test server under a plain http:// address that is not this machine."""
    real = httpx.URL(server.base_url)

    def to_server(request: httpx.Request, forward: Callable[[], httpx.Response]) -> httpx.Response:
        request.url = request.url.copy_with(host=real.host, port=real.port)
        return forward()

    return Remote(f"http://{name}:{real.port}", ForwardingTransport(to_server))


@pytest.fixture
def laptop(tmp_path: Path) -> Iterator[Workspace]:
    """An empty laptop store whose clock sits an hour after the test server's."""
    ws = Workspace.open(tmp_path / "laptop", clock=FixedClock(START + dt.timedelta(hours=1)))
    yield ws
    ws.close()


def _enrolment_meta(ws: Workspace) -> dict[str, str | None]:
    keys = ("server_url", "device_token", "device_key", "server_device_id", PLAIN_HTTP_KEY)
    return {key: ws.store.meta(key) for key in keys}


def test_plain_http_beyond_this_machine_is_refused_before_anything_is_sent(
    server: Server, laptop: Workspace
) -> None:
    """Without the agent's consent the enrolment stops at once with a reason in both
    languages: no request leaves the laptop, nothing is stored, the code stays unused."""
    remote = as_remote(server)
    code = server.enrol_code(server.add_agent("Lò Thị Mai", [COMMUNE]))
    with (
        SyncClient(laptop, transport=remote.transport) as client,
        pytest.raises(SyncError) as refused,
    ):
        client.enrol(remote.url, code)
    assert refused.value.code == PLAIN_HTTP_REFUSED
    assert remote.url in refused.value.vi and "không mã hoá" in refused.value.vi
    assert "https://" in refused.value.vi and "--allow-insecure" in refused.value.vi
    assert "plain http://" in refused.value.en and "https://" in refused.value.en
    assert remote.transport.requests == []
    assert set(_enrolment_meta(laptop).values()) == {None}
    assert server.count("devices") == 0


def test_with_consent_it_enrols_and_later_syncs_do_not_ask(
    server: Server, laptop: Workspace
) -> None:
    """Agreed to once at enrolment, the address is remembered: a later sync without the flag
    goes through; another plain-HTTP address asks again."""
    remote = as_remote(server)
    code = server.enrol_code(server.add_agent("Lò Thị Mai", [COMMUNE]))
    with SyncClient(laptop, transport=remote.transport) as client:
        enrolment = client.enrol(remote.url, code, allow_insecure=True)
    assert enrolment.server_url == remote.url
    assert laptop.store.meta(PLAIN_HTTP_KEY) == remote.url
    assert laptop.store.meta("server_url") == remote.url
    laptop.households.add(
        province_code="04", commune_code=COMMUNE, village="Bản Phố", head_name="Nguyễn Văn An"
    )
    with SyncClient(laptop, transport=remote.transport) as client:
        result = client.run()
    assert result.ok and result.sent > 0 and result.accepted == result.sent
    assert server.count("households") == 1

    other = as_remote(server, "may-chu-khac.test")
    with SyncClient(laptop, server_url=other.url, transport=other.transport) as client:
        result = client.run()
    assert [getattr(e, "code", None) for e in result.errors] == [PLAIN_HTTP_REFUSED]
    assert other.transport.requests == []
    assert laptop.store.meta(PLAIN_HTTP_KEY) == remote.url


def test_a_sync_with_consent_remembers_it(server: Server, laptop: Workspace) -> None:
    """A laptop enrolled over plain HTTP before it was asked: the sync refuses until the agent
    agrees (`sync run --allow-insecure`), and then no longer asks."""
    remote = as_remote(server)
    code = server.enrol_code(server.add_agent("Lò Thị Mai", [COMMUNE]))
    with SyncClient(laptop, transport=remote.transport) as client:
        client.enrol(remote.url, code, allow_insecure=True)
    laptop.store.set_meta(PLAIN_HTTP_KEY, "")  # as a store enrolled before the question existed
    with SyncClient(laptop, transport=remote.transport) as client:
        refused = client.run()
    assert [getattr(e, "code", None) for e in refused.errors] == [PLAIN_HTTP_REFUSED]
    sent = len(remote.transport.requests)
    with SyncClient(laptop, transport=remote.transport, allow_insecure=True) as client:
        assert client.run().ok
    assert len(remote.transport.requests) > sent
    with SyncClient(laptop, transport=remote.transport) as client:
        assert client.run().ok
    assert laptop.store.meta(PLAIN_HTTP_KEY) == remote.url


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_loopback_never_asks(server: Server, laptop: Workspace, host: str) -> None:
    """A server on this machine over plain HTTP enrols and syncs without a question, and no
    consent is stored."""
    port = httpx.URL(server.base_url).port
    code = server.enrol_code(server.add_agent("Lò Thị Mai", [COMMUNE]))
    with SyncClient(laptop) as client:
        client.enrol(f"http://{host}:{port}", code)
        assert client.run().ok
    assert laptop.store.meta(PLAIN_HTTP_KEY) is None


# -- the server command: a real uvicorn process --------------------------------------------------


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@dataclass
class Running:
    """A `fieldapp-server run` process and what it wrote to stderr so far."""

    process: subprocess.Popen[bytes]
    port: int
    stderr_path: Path

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")


@contextmanager
def server_process(
    data_dir: Path, host: str, *options: str, health: Callable[[int], bool]
) -> Iterator[Running]:
    """`fieldapp-server --data-dir DIR run --host HOST --port P OPTIONS` until the block ends;
    ready once health(port) holds. The process is stopped by its own id."""
    port = _free_port(host)
    stderr_path = data_dir / f"server-{port}.err"
    command = [sys.executable, "-m", "sync.server.cli", "--data-dir", str(data_dir), "run"]
    with stderr_path.open("wb") as err:
        process = subprocess.Popen(
            [*command, "--host", host, "--port", str(port), *options],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env={**os.environ, "FIELDAPP_LANG": "vi"},
        )
    running = Running(process, port, stderr_path)
    try:
        deadline = time.monotonic() + 30
        while not health(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the server did not start:\n{running.stderr}")
            time.sleep(0.1)
        yield running
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _answers(url: str, verify: ssl.SSLContext | bool = True) -> bool:
    """Whether the server's health check answers 200 at url, verifying TLS with verify."""
    try:
        return httpx.get(url + wire.HEALTH_PATH, timeout=2, verify=verify).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass(frozen=True)
class Tls:
    ca: Path
    key: Path
    cert: Path


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def make_tls(folder: Path) -> Tls:
    """A provincial CA and a server certificate it signed for localhost and 127.0.0.1."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("CA BHXH tỉnh (thử)"))
        .issuer_name(_name("CA BHXH tỉnh (thử)"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    tls = Tls(folder / "province-ca.pem", folder / "privkey.pem", folder / "fullchain.pem")
    tls.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    tls.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    tls.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return tls


def _server_cli(capsys: pytest.CaptureFixture[str], data_dir: Path, *args: str) -> str:
    capsys.readouterr()
    assert server_cli.main(["--data-dir", str(data_dir), *args]) == 0
    return capsys.readouterr().out.strip()


def _agent_code(capsys: pytest.CaptureFixture[str], data_dir: Path) -> str:
    """An agent on the server's own database and a one-time code for the laptop."""
    agent = _server_cli(capsys, data_dir, "agent", "add", "Lò Thị Mai", "--commune", COMMUNE)
    return _server_cli(capsys, data_dir, "enrol-code", agent)


def _fieldapp(capsys: pytest.CaptureFixture[str], laptop: Path, *args: str) -> tuple[int, str]:
    """`fieldapp --data-dir LAPTOP ARGS`: its exit status and stderr."""
    capsys.readouterr()
    status = fieldapp_main(["--data-dir", str(laptop), *args])
    return status, capsys.readouterr().err


def test_the_server_serves_https_with_its_key_and_certificate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`run --ssl-keyfile --ssl-certfile` speaks HTTPS: a client that pins the province's CA
    (FIELDAPP_CA_FILE) enrols and syncs; one that trusts only the system's roots, or plain HTTP,
    gets nowhere; and no warning is printed."""
    tls = make_tls(tmp_path)
    data = tmp_path / "server"
    code = _agent_code(capsys, data)
    pinned = ssl.create_default_context(cafile=str(tls.ca))

    def healthy(port: int) -> bool:
        return _answers(f"https://127.0.0.1:{port}", verify=pinned)

    options = ("--ssl-keyfile", str(tls.key), "--ssl-certfile", str(tls.cert))
    with server_process(data, "127.0.0.1", *options, health=healthy) as running:
        url = f"https://localhost:{running.port}"
        assert not _answers(url)  # the system's roots do not know the province's CA
        assert not _answers(f"http://127.0.0.1:{running.port}")

        laptop = tmp_path / "laptop"
        monkeypatch.setenv("FIELDAPP_CA_FILE", str(tls.ca))
        status, err = _fieldapp(capsys, laptop, "sync", "enrol", "--server", url, "--code", code)
        assert status == 0, err
        status, err = _fieldapp(capsys, laptop, "sync", "run")
        assert status == 0, err
        with Workspace.open(laptop) as ws, SyncClient(ws, ca_file=tls.ca) as client:
            assert client.reachable()
            assert ws.store.meta(PLAIN_HTTP_KEY) is None
        monkeypatch.delenv("FIELDAPP_CA_FILE")
        with Workspace.open(laptop) as ws, SyncClient(ws) as client:
            assert not client.reachable()
            unverified = client.run()
        assert unverified.errors and not unverified.ok
    assert "CẢNH BÁO" not in running.stderr and "WARNING" not in running.stderr


def _non_loopback_address() -> str | None:
    """This machine's address on its network (the one a route out would use), if any."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a route
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if is_loopback(address) or address == "0.0.0.0" else address


def test_a_plain_http_listener_beyond_this_machine_is_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Listening on this machine's network address without TLS, the server warns on stderr in
    both languages; the laptop's `sync enrol` refuses it (nothing stored) until
    --allow-insecure, and then `sync run` goes through without asking again."""
    address = _non_loopback_address()
    if address is None:
        pytest.skip("this machine has no network address besides loopback")
    data = tmp_path / "server"
    code = _agent_code(capsys, data)
    with server_process(
        data, address, health=lambda port: _answers(f"http://{address}:{port}")
    ) as running:
        stderr = running.stderr
        assert f"CẢNH BÁO: máy chủ nghe trên {address}:{running.port} bằng HTTP không mã hoá" in (
            stderr
        )
        assert f"WARNING: the server listens on {address}:{running.port} over plain HTTP" in (
            stderr
        )
        assert "--ssl-keyfile" in stderr

        url = f"http://{address}:{running.port}"
        laptop = tmp_path / "laptop"
        enrol = ("sync", "enrol", "--server", url, "--code", code)
        status, err = _fieldapp(capsys, laptop, *enrol)
        assert status == 1
        assert "không mã hoá" in err and "--allow-insecure" in err and "Traceback" not in err
        with Workspace.open(laptop) as ws:
            assert set(_enrolment_meta(ws).values()) == {None}

        status, err = _fieldapp(capsys, laptop, *enrol, "--allow-insecure")
        assert status == 0, err
        status, err = _fieldapp(capsys, laptop, "sync", "run")
        assert status == 0, err
        with Workspace.open(laptop) as ws:
            assert ws.store.meta(PLAIN_HTTP_KEY) == url


def test_a_loopback_listener_is_not_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """On 127.0.0.1 (behind nginx, say) plain HTTP is fine: no warning."""
    with server_process(
        tmp_path, "127.0.0.1", health=lambda port: _answers(f"http://127.0.0.1:{port}")
    ) as running:
        pass
    assert "CẢNH BÁO" not in running.stderr and "WARNING" not in running.stderr


def test_tls_options_are_checked_before_the_server_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only one of the two files, a file that cannot be read, or a key that does not match the
    certificate: one clear line on stderr, exit status 1, no traceback and no server."""
    tls = make_tls(tmp_path)
    (tmp_path / "other").mkdir()
    other = make_tls(tmp_path / "other")

    def run(*options: str) -> str:
        capsys.readouterr()
        argv = ["--data-dir", str(tmp_path / "server"), "run", "--port", "9", *options]
        assert server_cli.main(argv) == 1
        err = capsys.readouterr().err
        assert "Traceback" not in err and err.count("\n") == 1, err
        return err

    assert "Cần cả --ssl-keyfile và --ssl-certfile" in run("--ssl-keyfile", str(tls.key))
    assert "Cần cả --ssl-keyfile và --ssl-certfile" in run("--ssl-certfile", str(tls.cert))
    missing = tmp_path / "khong-co.pem"
    err = run("--ssl-keyfile", str(missing), "--ssl-certfile", str(tls.cert))
    assert str(missing) in err and "Lỗi tệp" in err
    err = run("--ssl-keyfile", str(other.key), "--ssl-certfile", str(tls.cert))
    assert "Không dùng được chứng chỉ" in err and str(tls.cert) in err
    err = run("--ssl-keyfile", str(tls.cert), "--ssl-certfile", str(tls.key))
    assert "Không dùng được chứng chỉ" in err
    assert not (tmp_path / "server").exists()
