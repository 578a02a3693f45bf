"""The fieldapp-server command: run the API and do the supervisor's chores."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import platformdirs
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from sync.protocol import signing, wire
from sync.protocol.clock import Clock, SystemClock
from sync.protocol.errors import FieldappError
from sync.protocol.i18n import language, say
from sync.server import admin, batches, devices
from sync.server.errors import ServerError
from sync.server.schema import database_url_for, migrate, open_engine
from sync.server.web import auth
from sync.server.web import conflicts as field_conflicts


def _out(text: str) -> None:
    print(text)


class _Command:
    """What a sub-command needs: the database, a clock and the parsed arguments."""

    def __init__(self, args: argparse.Namespace, clock: Clock) -> None:
        self.args = args
        self.clock = clock
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            url = self.args.database_url or database_url_for(Path(self.args.data_dir))
            self._engine = open_engine(url)
            migrate(self._engine)
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


Handler = Callable[[_Command], int]


def _run(cmd: _Command) -> int:
    import uvicorn

    from sync.server.app import create_app

    app = create_app(cmd.engine, clock=cmd.clock)
    uvicorn.run(app, host=cmd.args.host, port=cmd.args.port, log_level="info")
    return 0


def _agent_add(cmd: _Command) -> int:
    with cmd.engine.begin() as conn:
        agent_id = admin.add_agent(
            conn, name=cmd.args.name, communes=cmd.args.commune, clock=cmd.clock
        )
    _out(agent_id)
    return 0


def _agent_list(cmd: _Command) -> int:
    with cmd.engine.begin() as conn:
        rows = admin.list_agents(conn)
    if cmd.args.json:
        _out(json.dumps(rows, ensure_ascii=False, indent=2))
    for row in [] if cmd.args.json else rows:
        _out(f"{row['id']}  {row['name']}  {' '.join(row['communes'])}")
    return 0


def _enrol_code(cmd: _Command) -> int:
    with cmd.engine.begin() as conn:
        code = devices.new_enrol_code(
            conn, agent_id=cmd.args.agent_id, clock=cmd.clock, valid_hours=cmd.args.valid_hours
        )
    _out(code)
    return 0


def _receipt_book_add(cmd: _Command) -> int:
    a = cmd.args
    with cmd.engine.begin() as conn:
        book_id = admin.add_receipt_book(
            conn, agent_id=a.agent_id, series=a.series, first=a.first, last=a.last, clock=cmd.clock
        )
    _out(book_id)
    return 0


def _target_set(cmd: _Command) -> int:
    a = cmd.args
    with cmd.engine.begin() as conn:
        admin.set_target(
            conn,
            agent_id=a.agent_id,
            scheme=a.scheme,
            month=a.month,
            count=a.count,
            clock=cmd.clock,
        )
    _out(
        say(
            f"Đã đặt chỉ tiêu {a.scheme} tháng {a.month}: {a.count}",
            f"Target set: {a.scheme} {a.month}: {a.count}",
        )
    )
    return 0


def _read_file(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ServerError(
            f"Không đọc được tệp {path}: {exc.strerror}",
            f"Cannot read {path}: {exc.strerror}",
            code="file_error",
        ) from None


def _policy_publish(cmd: _Command) -> int:
    document = wire.parse_json(_read_file(cmd.args.file), max_depth=64)
    with cmd.engine.begin() as conn:
        version, new = admin.publish_policy(conn, document=document, clock=cmd.clock)
    if new:
        _out(say(f"Đã công bố chính sách phiên bản {version}", f"Published policy {version}"))
    else:
        _out(
            say(
                f"Chính sách phiên bản {version} đã được công bố trước đó",
                f"Policy {version} was already published",
            )
        )
    return 0


def _revoke(cmd: _Command) -> int:
    with cmd.engine.begin() as conn:
        devices.revoke(conn, device_id=cmd.args.device_id, clock=cmd.clock)
    _out(say(f"Đã thu hồi thiết bị {cmd.args.device_id}", f"Revoked device {cmd.args.device_id}"))
    return 0


def _conflicts_list(cmd: _Command) -> int:
    with cmd.engine.begin() as conn:
        rows = admin.list_conflicts(conn, include_resolved=cmd.args.all)
    if cmd.args.json:
        _out(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
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
    return 0


def _conflicts_resolve(cmd: _Command) -> int:
    """Settle a field as the supervisor pages do: every open conflict over it is closed."""
    a = cmd.args
    with cmd.engine.begin() as conn:
        settled = field_conflicts.resolve(
            conn,
            conflict_id=a.conflict_id,
            choice="server" if a.pick == "server" else "incoming",
            communes=None,
            supervisor=a.by or _operator(),
            clock=cmd.clock,
        )
    if a.json:
        _out(
            json.dumps(
                {
                    "entity": settled.entity,
                    "id": settled.entity_id,
                    "field": settled.field,
                    "value": settled.value,
                    "hlc": settled.hlc,
                    "cursor": settled.cursor,
                    "closed": list(settled.closed),
                },
                ensure_ascii=False,
                indent=2,
            )
        )
        return 0
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
    return 0


def _operator() -> str:
    """Who runs the command, recorded as the one who settled (when --by is not given)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "cli"


def _import(cmd: _Command) -> int:
    path = Path(cmd.args.file)
    raw = _read_file(str(path))
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
    return 0


def _stats(cmd: _Command) -> int:
    with cmd.engine.begin() as conn:
        data = admin.stats(conn)
    if cmd.args.json:
        _out(json.dumps(data, ensure_ascii=False, indent=2))
        return 0
    for entity, count in data["entities"].items():
        _out(f"{entity:16} {count}")
    for agent in data["agents"]:
        counts = ", ".join(f"{k} {v}" for k, v in agent["counts"].items())
        _out(
            f"{agent['name']} ({agent['id']}): {say('thiết bị', 'devices')} "
            f"{agent['active_devices']}/{agent['devices']}; {counts}"
        )
    return 0


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


def _supervisor_add(cmd: _Command) -> int:
    a = cmd.args
    password = _supervisor_password()
    with cmd.engine.begin() as conn:
        supervisor_id = auth.add_supervisor(
            conn,
            username=a.username,
            password=password,
            role=a.role,
            communes=a.commune or [],
            clock=cmd.clock,
        )
    _out(supervisor_id)
    return 0


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(say("phải là số nguyên", "must be an integer")) from None
    if value < 0:
        raise argparse.ArgumentTypeError(say("không được âm", "must not be negative"))
    return value


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

    def command(
        group: Any, name: str, handler: Handler, vi: str, en: str
    ) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = group.add_parser(
            name, help=say(vi, en), description=say(vi, en)
        )
        sub.set_defaults(handler=handler)
        return sub

    def group(name: str, vi: str, en: str) -> Any:
        sub = commands.add_parser(name, help=say(vi, en), description=say(vi, en))
        return sub.add_subparsers(dest="action", required=True, metavar="ACTION")

    run = command(commands, "run", _run, "chạy máy chủ HTTP", "run the HTTP server")
    run.add_argument("--host", default="127.0.0.1", help=say("địa chỉ lắng nghe", "listen address"))
    run.add_argument("--port", type=int, default=8080, help=say("cổng", "port"))

    agent = group("agent", "quản lý nhân viên thu", "manage collection agents")
    add = command(agent, "add", _agent_add, "thêm nhân viên thu", "add an agent")
    add.add_argument("name", metavar="NAME", help=say("họ tên", "full name"))
    add.add_argument(
        "--commune",
        action="append",
        required=True,
        metavar="CODE",
        help=say("mã xã 5 chữ số (lặp lại được)", "5-digit commune code (repeatable)"),
    )
    listing = command(agent, "list", _agent_list, "liệt kê nhân viên thu", "list agents")
    listing.add_argument("--json", action="store_true", help=say("xuất JSON", "print JSON"))

    code = command(
        commands,
        "enrol-code",
        _enrol_code,
        "tạo mã đăng ký thiết bị dùng một lần",
        "make a one-time device enrolment code",
    )
    code.add_argument("agent_id", metavar="AGENT_ID", help=say("mã nhân viên", "agent id"))
    code.add_argument(
        "--valid-hours",
        type=float,
        default=72.0,
        help=say("hiệu lực (giờ, mặc định 72)", "hours the code is valid (default 72)"),
    )

    book = group("receipt-book", "quản lý quyển biên lai", "manage receipt books")
    book_add = command(
        book,
        "add",
        _receipt_book_add,
        "cấp quyển biên lai cho nhân viên",
        "allocate a receipt book to an agent",
    )
    book_add.add_argument("agent_id", metavar="AGENT_ID", help=say("mã nhân viên", "agent id"))
    book_add.add_argument("--series", required=True, help=say("ký hiệu", "series"))
    book_add.add_argument(
        "--from",
        dest="first",
        type=_positive_int,
        required=True,
        metavar="N",
        help=say("số đầu", "first number"),
    )
    book_add.add_argument(
        "--to",
        dest="last",
        type=_positive_int,
        required=True,
        metavar="M",
        help=say("số cuối", "last number"),
    )

    target = group("target", "quản lý chỉ tiêu", "manage targets")
    target_set = command(
        target,
        "set",
        _target_set,
        "đặt chỉ tiêu tháng cho nhân viên",
        "set an agent's monthly target",
    )
    target_set.add_argument("agent_id", metavar="AGENT_ID", help=say("mã nhân viên", "agent id"))
    target_set.add_argument(
        "--scheme",
        choices=sorted(admin.SCHEMES),
        required=True,
        help=say("chế độ: bhyt hoặc bhxh", "scheme: bhyt or bhxh"),
    )
    target_set.add_argument("--month", required=True, metavar="YYYY-MM", help=say("tháng", "month"))
    target_set.add_argument(
        "--count",
        type=_positive_int,
        required=True,
        metavar="N",
        help=say("số người tham gia mới", "number of new participants"),
    )

    policy = group("policy", "quản lý chính sách (mức đóng)", "manage policy tables")
    publish = command(
        policy,
        "publish",
        _policy_publish,
        "công bố một tệp chính sách JSON",
        "publish a policy JSON file",
    )
    publish.add_argument("file", metavar="FILE", help=say("tệp JSON có khoá version", "JSON file"))

    revoke = command(
        commands, "revoke", _revoke, "thu hồi một thiết bị", "revoke a device's access"
    )
    revoke.add_argument("device_id", metavar="DEVICE_ID", help=say("mã thiết bị", "device id"))

    conflicts = group("conflicts", "xung đột chỉnh sửa", "edit conflicts")
    conflicts_list = command(
        conflicts, "list", _conflicts_list, "liệt kê xung đột chưa xử lý", "list open conflicts"
    )
    conflicts_list.add_argument("--json", action="store_true", help=say("xuất JSON", "print JSON"))
    conflicts_list.add_argument(
        "--all", action="store_true", help=say("gồm cả đã xử lý", "include settled ones")
    )
    conflicts_resolve = command(
        conflicts,
        "resolve",
        _conflicts_resolve,
        "chốt giá trị của một xung đột; đóng mọi xung đột đang mở của cùng thông tin đó",
        "settle a conflict's value; closes every open conflict over the same field",
    )
    conflicts_resolve.add_argument(
        "conflict_id", type=int, metavar="ID", help=say("số xung đột", "conflict number")
    )
    conflicts_resolve.add_argument(
        "--pick",
        choices=("server", "incoming"),
        required=True,
        help=say(
            "giá trị chọn: server (trên máy chủ) hoặc incoming (gửi lên), như trang giám sát",
            "value to keep: server or incoming, as on the supervisor page",
        ),
    )
    conflicts_resolve.add_argument(
        "--by",
        metavar="NAME",
        help=say(
            "người xử lý (mặc định: người dùng hệ thống)", "who settles it (default: OS user)"
        ),
    )
    conflicts_resolve.add_argument(
        "--json", action="store_true", help=say("xuất JSON", "print JSON")
    )

    imp = command(
        commands,
        "import",
        _import,
        "nhập một tệp lô dữ liệu từ USB",
        "import a batch file carried on a USB stick",
    )
    imp.add_argument("file", metavar="FILE", help=say("tệp lô dữ liệu", "batch file"))
    imp.add_argument(
        "--ack-out",
        metavar="PATH",
        help=say("nơi ghi tệp xác nhận (mặc định FILE.ack)", "where to write the ack (FILE.ack)"),
    )

    stats = command(commands, "stats", _stats, "thống kê số liệu", "counts per entity and agent")
    stats.add_argument("--json", action="store_true", help=say("xuất JSON", "print JSON"))

    supervisor = group("supervisor", "tài khoản trang giám sát", "supervisor web accounts")
    supervisor_add = command(
        supervisor,
        "add",
        _supervisor_add,
        f"thêm tài khoản giám sát (mật khẩu hỏi khi chạy hoặc lấy từ {PASSWORD_ENV})",
        f"add a supervisor account (password prompted, or from {PASSWORD_ENV})",
    )
    supervisor_add.add_argument(
        "username", metavar="USERNAME", help=say("tên đăng nhập", "user name")
    )
    supervisor_add.add_argument(
        "--role",
        choices=auth.ROLES,
        required=True,
        help=say(
            "admin: toàn tỉnh; commune: theo xã", "admin: whole province; commune: by commune"
        ),
    )
    supervisor_add.add_argument(
        "--commune",
        action="extend",
        nargs="+",
        metavar="CODE",
        help=say("mã xã 5 chữ số (cho vai trò commune)", "5-digit commune codes (role commune)"),
    )
    return parser


def main(argv: Sequence[str] | None = None, *, clock: Clock | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    cmd = _Command(args, clock or SystemClock())
    try:
        handler: Handler = args.handler
        return handler(cmd)
    except FieldappError as exc:
        print(say("Lỗi: ", "Error: ") + exc.message(), file=sys.stderr)
        return 1
    except OSError as exc:
        print(say("Lỗi tệp: ", "File error: ") + str(exc), file=sys.stderr)
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
