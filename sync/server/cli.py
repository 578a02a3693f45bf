"""The fieldapp-server command: run the API and do the supervisor's chores."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import ssl
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import platformdirs
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from sync.protocol import signing, wire
from sync.protocol.clock import Clock, SystemClock
from sync.protocol.errors import FieldappError
from sync.protocol.frozen import frozen
from sync.protocol.i18n import language, say
from sync.protocol.loopback import is_loopback
from sync.server import admin, batches, devices
from sync.server.errors import ServerError
from sync.server.schema import database_url_for, migrate, open_engine
from sync.server.web import auth
from sync.server.web import conflicts as field_conflicts

T = TypeVar("T")


def _out(text: str) -> None:
    print(text)


class _Command:
    """What a sub-command needs: the database, a clock and the parsed arguments."""

    def __init__(self, args: argparse.Namespace, clock: Clock) -> None:
        self.args = args
        self.clock = clock
        self._engine: Engine | None = None

    @property
    def url(self) -> str:
        """The database: --database-url, else the SQLite file in --data-dir."""
        url: str = self.args.database_url or database_url_for(Path(self.args.data_dir))
        return url

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = open_engine(self.url)
            migrate(self._engine)
        return self._engine

    def db(self, work: Callable[[Connection], T]) -> T:
        """Run work in one transaction."""
        with self.engine.begin() as conn:
            return work(conn)

    def call(self, operation: Callable[..., T], *arguments: str, **more: Any) -> T:
        """operation(conn, clock=…) in one transaction, given the named command-line arguments
        (their names are the operation's) and `more`."""
        given = {name: getattr(self.args, name) for name in arguments}
        return self.db(lambda conn: operation(conn, clock=self.clock, **given, **more))

    def printed_as_json(self, value: object) -> bool:
        """With --json, print value as JSON and say so; the caller prints text otherwise."""
        if not getattr(self.args, "json", False):
            return False
        _out(json.dumps(value, ensure_ascii=False, indent=2))
        return True

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


Handler = Callable[[_Command], None]


def _tls_files(keyfile: str | None, certfile: str | None) -> dict[str, str]:
    """uvicorn's TLS arguments, once the key and certificate are known to be usable together;
    none without either. Checked here so a wrong file is one clear line, not a traceback."""
    if not keyfile and not certfile:
        return {}
    if not keyfile or not certfile:
        raise ServerError(
            "Cần cả --ssl-keyfile và --ssl-certfile (hoặc không dùng cái nào)",
            "Give both --ssl-keyfile and --ssl-certfile (or neither)",
            code="bad_tls",
        )
    for path in (keyfile, certfile):
        with open(path, "rb"):  # an unreadable file: main names it with the system's reason
            pass
    try:
        # A key protected by a password would make OpenSSL prompt on the terminal: refuse it.
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
            certfile, keyfile, password=lambda: b""
        )
    except ssl.SSLError as exc:
        raise ServerError(
            f"Không dùng được chứng chỉ {certfile} với khoá {keyfile}: {exc.reason or exc}. "
            "Chứng chỉ (cả chuỗi) và khoá phải ở dạng PEM, khớp nhau, khoá không đặt mật khẩu.",
            f"The certificate {certfile} cannot be used with the key {keyfile}: "
            f"{exc.reason or exc}. Both must be PEM and match (the certificate with its chain), "
            "and the key must not have a password.",
            code="bad_tls",
        ) from None
    return {"ssl_keyfile": keyfile, "ssl_certfile": certfile}


def plain_http_warning(host: str, port: int) -> str:
    """What the server says, in both languages, when it listens beyond this machine without
    TLS: tokens, enrolment codes, supervisors' passwords and residents' records in clear."""
    return (
        f"CẢNH BÁO: máy chủ nghe trên {host}:{port} bằng HTTP không mã hoá. Mã thiết bị, mã "
        "đăng ký, mật khẩu giám sát và dữ liệu người dân sẽ đi qua mạng ở dạng ai cũng đọc "
        "được. Hãy dùng --ssl-keyfile và --ssl-certfile, hoặc chạy sau nginx có TLS với "
        "--host 127.0.0.1.\n"
        f"WARNING: the server listens on {host}:{port} over plain HTTP (no encryption). Device "
        "tokens, enrolment codes, supervisors' passwords and residents' records will cross the "
        "network readable by anyone. Use --ssl-keyfile and --ssl-certfile, or run behind nginx "
        "with TLS and --host 127.0.0.1."
    )


def _check_workers(database_url: str | None, workers: int) -> None:
    """Several workers need a database that takes writers from several processes at once;
    no --database-url means the SQLite file in --data-dir."""
    if workers > 1 and (database_url is None or database_url.startswith("sqlite")):
        raise ServerError(
            f"Không chạy được {workers} tiến trình với SQLite: SQLite chỉ cho một tiến trình "
            "ghi tại một thời điểm, nên thêm tiến trình không nhanh hơn mà chỉ phải chờ nhau. "
            "Dùng --workers 1, hoặc PostgreSQL (--database-url postgresql+psycopg://…).",
            f"Cannot run {workers} workers on SQLite: SQLite has one writer at a time, so more "
            "workers only wait for each other. Use --workers 1, or PostgreSQL "
            "(--database-url postgresql+psycopg://…).",
            code="bad_workers",
        )


def _run(cmd: _Command) -> None:
    import uvicorn

    from sync.server.app import DATABASE_URL_ENV, create_app, ready_to_serve

    a = cmd.args
    _check_workers(a.database_url, a.workers)
    tls = _tls_files(a.ssl_keyfile, a.ssl_certfile)
    if not tls and not is_loopback(a.host):
        print(plain_http_warning(a.host, a.port), file=sys.stderr, flush=True)
    if a.workers == 1:
        app = ready_to_serve(create_app(cmd.engine, clock=cmd.clock))
        uvicorn.run(app, host=a.host, port=a.port, log_level="info", **tls)
        return
    # Opening cmd.engine migrates the database here, once, before any worker starts: the
    # workers find the newest schema and have nothing to change. Each worker is a new process
    # (uvicorn spawns them) that builds its own app and engine from the URL in the
    # environment, on the system clock.
    cmd.engine.dispose()
    os.environ[DATABASE_URL_ENV] = cmd.url
    uvicorn.run(
        "sync.server.app:app_from_env",
        factory=True,
        workers=a.workers,
        host=a.host,
        port=a.port,
        log_level="info",
        **tls,
    )


def _agent_add(cmd: _Command) -> None:
    _out(cmd.call(admin.add_agent, "name", communes=cmd.args.commune))


def _agent_list(cmd: _Command) -> None:
    rows = cmd.db(admin.list_agents)
    if not cmd.printed_as_json(rows):
        for row in rows:
            _out(f"{row['id']}  {row['name']}  {' '.join(row['communes'])}")


def _enrol_code(cmd: _Command) -> None:
    _out(cmd.call(devices.new_enrol_code, "agent_id", "valid_hours"))


def _receipt_book_add(cmd: _Command) -> None:
    _out(cmd.call(admin.add_receipt_book, "agent_id", "series", "first", "last"))


def _target_set(cmd: _Command) -> None:
    cmd.call(admin.set_target, "agent_id", "scheme", "month", "count")
    a = cmd.args
    _out(
        say(
            f"Đã đặt chỉ tiêu {a.scheme} tháng {a.month}: {a.count}",
            f"Target set: {a.scheme} {a.month}: {a.count}",
        )
    )


def _policy_publish(cmd: _Command) -> None:
    document = wire.parse_json(Path(cmd.args.file).read_bytes(), max_depth=64)
    version, new = cmd.call(admin.publish_policy, document=document)
    if new:
        _out(say(f"Đã công bố chính sách phiên bản {version}", f"Published policy {version}"))
    else:
        _out(
            say(
                f"Chính sách phiên bản {version} đã được công bố trước đó",
                f"Policy {version} was already published",
            )
        )


def _revoke(cmd: _Command) -> None:
    cmd.call(devices.revoke, "device_id", actor=_operator())
    device_id = cmd.args.device_id
    _out(say(f"Đã thu hồi thiết bị {device_id}", f"Revoked device {device_id}"))


def _conflicts_list(cmd: _Command) -> None:
    rows = cmd.db(lambda conn: admin.list_conflicts(conn, include_resolved=cmd.args.all))
    if cmd.printed_as_json(rows):
        return
    if not rows:
        _out(say("Không có xung đột nào cần xử lý", "No conflicts to settle"))
    for row in rows:
        _out(
            f"#{row['id']} {row['entity']} {row['entity_id']} {row['field']}: "
            f"{say('máy chủ', 'server')}={json.dumps(row['server_value'], ensure_ascii=False)} "
            f"({row['server_hlc']}) / "
            f"{say('gửi lên', 'incoming')}={json.dumps(row['incoming_value'], ensure_ascii=False)} "
            f"({row['incoming_hlc']}) → {say('đang dùng', 'current')}: {row['winner']}"
        )


def _conflicts_resolve(cmd: _Command) -> None:
    """Settle a field as the supervisor pages do: every open conflict over it is closed."""
    a = cmd.args
    settled = cmd.call(
        field_conflicts.resolve,
        "conflict_id",
        choice="server" if a.pick == "server" else "incoming",
        communes=None,
        supervisor=a.by or _operator(),
    )
    shown = {
        "entity": settled.entity,
        "id": settled.entity_id,
        "field": settled.field,
        "value": settled.value,
        "hlc": settled.hlc,
        "cursor": settled.cursor,
        "closed": list(settled.closed),
    }
    if cmd.printed_as_json(shown):
        return
    value = json.dumps(settled.value, ensure_ascii=False)
    ids = ", ".join(f"#{i}" for i in settled.closed)
    _out(
        say(
            f"Đã chốt {settled.entity} {settled.entity_id} {settled.field} = {value}; "
            f"đã đóng {len(settled.closed)} xung đột ({ids})",
            f"Settled {settled.entity} {settled.entity_id} {settled.field} = {value}; "
            f"closed {len(settled.closed)} conflict(s) ({ids})",
        )
    )


def _operator() -> str:
    """Who runs the command, recorded as the one who settled (when --by is not given)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "cli"


def _import(cmd: _Command) -> None:
    path = Path(cmd.args.file)
    raw = path.read_bytes()
    with cmd.engine.connect() as conn:
        known: dict[str, devices.Device] = {}

        def key_lookup(device_id: str) -> bytes | None:
            device = devices.get(conn, device_id)
            if device is not None:
                known[device_id] = device
            return None if device is None else device.device_key

        batch = signing.read_batch_file(raw, key_lookup)
        conn.rollback()
    device = known[batch["device_id"]]
    if device.revoked_at is not None:
        raise ServerError(
            f"Thiết bị {device.id} đã bị thu hồi; tệp không được nhập",
            f"Device {device.id} is revoked; the file was not imported",
            code="unauthorized",
        )
    ack = batches.receive(cmd.engine, device=device, batch=batch, clock=cmd.clock, via="file")
    ack_path = Path(cmd.args.ack_out) if cmd.args.ack_out else path.with_name(path.name + ".ack")
    ack_path.write_bytes(signing.write_ack_file(ack, device.id, device.device_key))
    _out(
        say(
            f"Lô {ack['batch_id']} của thiết bị {device.name}: nhận {len(ack['accepted'])}, "
            f"từ chối {len(ack['refused'])}, xung đột {ack['conflicts']}",
            f"Batch {ack['batch_id']} from {device.name}: accepted {len(ack['accepted'])}, "
            f"refused {len(ack['refused'])}, conflicts {ack['conflicts']}",
        )
    )
    for refusal in ack["refused"]:
        reason = refusal["en"] if language() == "en" else refusal["vi"]
        _out(f"  seq {refusal['seq']} {refusal['entity']} {refusal['id']}: {reason}")
    _out(say(f"Tệp xác nhận: {ack_path}", f"Ack file: {ack_path}"))


def _stats(cmd: _Command) -> None:
    data = cmd.db(admin.stats)
    if cmd.printed_as_json(data):
        return
    for entity, count in data["entities"].items():
        _out(f"{entity:16} {count}")
    for agent in data["agents"]:
        counts = ", ".join(f"{k} {v}" for k, v in agent["counts"].items())
        _out(
            f"{agent['name']} ({agent['id']}): {say('thiết bị', 'devices')} "
            f"{agent['active_devices']}/{agent['devices']}; {counts}"
        )


PASSWORD_ENV = "FIELDAPP_SUPERVISOR_PASSWORD"


def _supervisor_password() -> str:
    password = os.environ.get(PASSWORD_ENV)
    if password:
        return password
    first = getpass.getpass(say("Mật khẩu: ", "Password: "))
    if getpass.getpass(say("Nhập lại mật khẩu: ", "Repeat the password: ")) != first:
        raise ServerError(
            "Hai lần nhập mật khẩu không khớp", "The passwords differ", code="bad_value"
        )
    return first


def _supervisor_add(cmd: _Command) -> None:
    password = _supervisor_password()
    communes = cmd.args.commune or []
    _out(cmd.call(auth.add_supervisor, "username", "role", password=password, communes=communes))


def _worker_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(say("phải là số nguyên", "must be an integer")) from None
    if value < 1:
        raise argparse.ArgumentTypeError(say("ít nhất là 1", "must be at least 1"))
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(say("phải là số nguyên", "must be an integer")) from None
    if value < 0:
        raise argparse.ArgumentTypeError(say("không được âm", "must not be negative"))
    return value


# -- the command line, declared: each command with its help and arguments ---------------------


@frozen
class _Arg:
    """One argument: its name or flags, help as (Vietnamese, English), argparse's options."""

    names: tuple[str, ...]
    help: tuple[str, str]
    options: dict[str, Any]


def _arg(*names: str, help: tuple[str, str], **options: Any) -> _Arg:
    return _Arg(names, help, options)


@frozen
class _Cmd:
    """A command (or, with a group, a command of that group) and what it says it does."""

    name: str
    handler: Handler
    help: tuple[str, str]
    args: tuple[_Arg, ...] = ()
    group: str | None = None


_JSON = _arg("--json", action="store_true", help=("xuất JSON", "print JSON"))
_AGENT_ID = _arg("agent_id", metavar="AGENT_ID", help=("mã nhân viên", "agent id"))
_NUMBER = {"type": _positive_int, "required": True}

# Groups of commands, as `fieldapp-server --help` lists them.
_GROUPS = {
    "agent": ("quản lý nhân viên thu", "manage collection agents"),
    "receipt-book": ("quản lý quyển biên lai", "manage receipt books"),
    "target": ("quản lý chỉ tiêu", "manage targets"),
    "policy": ("quản lý chính sách (mức đóng)", "manage policy tables"),
    "conflicts": ("xung đột chỉnh sửa", "edit conflicts"),
    "supervisor": ("tài khoản trang giám sát", "supervisor web accounts"),
}

_COMMANDS = (
    _Cmd(
        "run",
        _run,
        ("chạy máy chủ HTTP", "run the HTTP server"),
        (
            _arg("--host", default="127.0.0.1", help=("địa chỉ lắng nghe", "listen address")),
            _arg("--port", type=int, default=8080, help=("cổng", "port")),
            _arg(
                "--workers",
                type=_worker_count,
                default=1,
                metavar="N",
                help=(
                    "số tiến trình phục vụ (mặc định 1); trên 1 cần PostgreSQL: SQLite chỉ có "
                    "một tiến trình ghi nên bị từ chối; giới hạn yêu cầu theo thiết bị dùng "
                    "chung qua cơ sở dữ liệu",
                    "worker processes (default 1); more than 1 needs PostgreSQL: SQLite has one "
                    "writer, so it is refused; per-device request limits are shared through "
                    "the database",
                ),
            ),
            _arg(
                "--ssl-keyfile",
                metavar="KEY.pem",
                help=(
                    "khoá riêng TLS (PEM); dùng cùng --ssl-certfile để phục vụ HTTPS",
                    "TLS private key (PEM); with --ssl-certfile, serve HTTPS",
                ),
            ),
            _arg(
                "--ssl-certfile",
                metavar="CERT.pem",
                help=(
                    "chứng chỉ TLS kèm chuỗi trung gian (PEM)",
                    "TLS certificate with its intermediates (PEM)",
                ),
            ),
        ),
    ),
    _Cmd(
        "add",
        _agent_add,
        ("thêm nhân viên thu", "add an agent"),
        (
            _arg("name", metavar="NAME", help=("họ tên", "full name")),
            _arg(
                "--commune",
                action="append",
                required=True,
                metavar="CODE",
                help=("mã xã 5 chữ số (lặp lại được)", "5-digit commune code (repeatable)"),
            ),
        ),
        group="agent",
    ),
    _Cmd("list", _agent_list, ("liệt kê nhân viên thu", "list agents"), (_JSON,), group="agent"),
    _Cmd(
        "enrol-code",
        _enrol_code,
        ("tạo mã đăng ký thiết bị dùng một lần", "make a one-time device enrolment code"),
        (
            _AGENT_ID,
            _arg(
                "--valid-hours",
                type=float,
                default=72.0,
                help=("hiệu lực (giờ, mặc định 72)", "hours the code is valid (default 72)"),
            ),
        ),
    ),
    _Cmd(
        "add",
        _receipt_book_add,
        ("cấp quyển biên lai cho nhân viên", "allocate a receipt book to an agent"),
        (
            _AGENT_ID,
            _arg("--series", required=True, help=("ký hiệu", "series")),
            _arg("--from", dest="first", metavar="N", help=("số đầu", "first number"), **_NUMBER),
            _arg("--to", dest="last", metavar="M", help=("số cuối", "last number"), **_NUMBER),
        ),
        group="receipt-book",
    ),
    _Cmd(
        "set",
        _target_set,
        ("đặt chỉ tiêu tháng cho nhân viên", "set an agent's monthly target"),
        (
            _AGENT_ID,
            _arg(
                "--scheme",
                choices=sorted(admin.SCHEMES),
                required=True,
                help=("chế độ: bhyt hoặc bhxh", "scheme: bhyt or bhxh"),
            ),
            _arg("--month", required=True, metavar="YYYY-MM", help=("tháng", "month")),
            _arg(
                "--count",
                metavar="N",
                help=("số người tham gia mới", "number of new participants"),
                **_NUMBER,
            ),
        ),
        group="target",
    ),
    _Cmd(
        "publish",
        _policy_publish,
        ("công bố một tệp chính sách JSON", "publish a policy JSON file"),
        (_arg("file", metavar="FILE", help=("tệp JSON có khoá version", "JSON file")),),
        group="policy",
    ),
    _Cmd(
        "revoke",
        _revoke,
        ("thu hồi một thiết bị", "revoke a device's access"),
        (_arg("device_id", metavar="DEVICE_ID", help=("mã thiết bị", "device id")),),
    ),
    _Cmd(
        "list",
        _conflicts_list,
        ("liệt kê xung đột chưa xử lý", "list open conflicts"),
        (
            _JSON,
            _arg("--all", action="store_true", help=("gồm cả đã xử lý", "include settled ones")),
        ),
        group="conflicts",
    ),
    _Cmd(
        "resolve",
        _conflicts_resolve,
        (
            "chốt giá trị của một xung đột; đóng mọi xung đột đang mở của cùng thông tin đó",
            "settle a conflict's value; closes every open conflict over the same field",
        ),
        (
            _arg("conflict_id", type=int, metavar="ID", help=("số xung đột", "conflict number")),
            _arg(
                "--pick",
                choices=("server", "incoming"),
                required=True,
                help=(
                    "giá trị chọn: server (trên máy chủ) hoặc incoming (gửi lên), "
                    "như trang giám sát",
                    "value to keep: server or incoming, as on the supervisor page",
                ),
            ),
            _arg(
                "--by",
                metavar="NAME",
                help=(
                    "người xử lý (mặc định: người dùng hệ thống)",
                    "who settles it (default: OS user)",
                ),
            ),
            _JSON,
        ),
        group="conflicts",
    ),
    _Cmd(
        "import",
        _import,
        ("nhập một tệp lô dữ liệu từ USB", "import a batch file carried on a USB stick"),
        (
            _arg("file", metavar="FILE", help=("tệp lô dữ liệu", "batch file")),
            _arg(
                "--ack-out",
                metavar="PATH",
                help=(
                    "nơi ghi tệp xác nhận (mặc định FILE.ack)",
                    "where to write the ack (FILE.ack)",
                ),
            ),
        ),
    ),
    _Cmd("stats", _stats, ("thống kê số liệu", "counts per entity and agent"), (_JSON,)),
    _Cmd(
        "add",
        _supervisor_add,
        (
            f"thêm tài khoản giám sát (mật khẩu hỏi khi chạy hoặc lấy từ {PASSWORD_ENV})",
            f"add a supervisor account (password prompted, or from {PASSWORD_ENV})",
        ),
        (
            _arg("username", metavar="USERNAME", help=("tên đăng nhập", "user name")),
            _arg(
                "--role",
                choices=auth.ROLES,
                required=True,
                help=(
                    "admin: toàn tỉnh; commune: theo xã",
                    "admin: whole province; commune: by commune",
                ),
            ),
            _arg(
                "--commune",
                action="extend",
                nargs="+",
                metavar="CODE",
                help=(
                    "mã xã 5 chữ số (cho vai trò commune)",
                    "5-digit commune codes (role commune)",
                ),
            ),
        ),
        group="supervisor",
    ),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fieldapp-server",
        description=say("Máy chủ đồng bộ cấp tỉnh của fieldapp", "fieldapp provincial sync server"),
    )
    parser.add_argument(
        "--data-dir",
        default=platformdirs.user_data_dir("fieldapp-server"),
        help=say("thư mục dữ liệu (chứa server.sqlite3)", "data directory (holds server.sqlite3)"),
    )
    parser.add_argument(
        "--database-url",
        help=say(
            "URL cơ sở dữ liệu, ví dụ postgresql+psycopg://…; thay cho --data-dir",
            "database URL, e.g. postgresql+psycopg://…; instead of --data-dir",
        ),
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    groups: dict[str, Any] = {}
    for command in _COMMANDS:
        where = commands
        if command.group is not None:
            if command.group not in groups:
                text = say(*_GROUPS[command.group])
                group = commands.add_parser(command.group, help=text, description=text)
                groups[command.group] = group.add_subparsers(
                    dest="action", required=True, metavar="ACTION"
                )
            where = groups[command.group]
        text = say(*command.help)
        sub = where.add_parser(command.name, help=text, description=text)
        sub.set_defaults(handler=command.handler)
        for arg in command.args:
            sub.add_argument(*arg.names, help=say(*arg.help), **arg.options)
    return parser


def main(argv: Sequence[str] | None = None, *, clock: Clock | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    cmd = _Command(args, clock or SystemClock())
    try:
        handler: Handler = args.handler
        handler(cmd)
        return 0
    except FieldappError as exc:
        print(say("Lỗi: ", "Error: ") + exc.message(), file=sys.stderr)
        return 1
    except OSError as exc:
        # A file that cannot be read or written: which one, and the system's reason.
        where = f" {exc.filename}" if exc.filename else ""
        reason = exc.strerror or str(exc)
        print(say(f"Lỗi tệp{where}: ", f"File error{where}: ") + reason, file=sys.stderr)
        return 1
    except SQLAlchemyError as exc:
        print(
            say("Lỗi cơ sở dữ liệu: ", "Database error: ") + str(exc).splitlines()[0],
            file=sys.stderr,
        )
        return 1
    finally:
        cmd.close()


if __name__ == "__main__":
    sys.exit(main())
