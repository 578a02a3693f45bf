"""The `sync` commands: enrol with the provincial server, send and pull, status, USB files."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from fieldapp.cli.common import Commands, command, group, print_json, workspace
from sync.protocol.i18n import say

if TYPE_CHECKING:
    from fieldapp.workspace import Workspace
    from sync.client import SyncClient, SyncResult


def _client(args: argparse.Namespace, ws: Workspace) -> SyncClient:
    from sync.client import SyncClient

    return SyncClient(
        ws,
        ca_file=getattr(args, "ca_file", None),
        allow_insecure=getattr(args, "allow_insecure", False),
    )


def _print_refused(refused: Sequence[Any]) -> None:
    for r in refused:
        print(f"  #{r.seq} {r.entity} {r.entity_id}: {say(r.vi, r.en)}")


def _print_errors(errors: Sequence[Any], prefix: str = "") -> None:
    for error in errors:
        print(prefix + say("Lỗi: ", "Error: ") + error.message(), file=sys.stderr)


def cmd_sync_enrol(args: argparse.Namespace) -> int:
    with workspace(args) as ws, _client(args, ws) as client:
        enrolment = client.enrol(args.server, args.code, device_name=args.device_name)
    communes = ", ".join(enrolment.communes)
    print(
        say(
            f"Đã đăng ký máy với {enrolment.server_url} cho nhân viên {enrolment.agent_name}; "
            f"địa bàn: {communes}.",
            f"Enrolled with {enrolment.server_url} for agent {enrolment.agent_name}; "
            f"communes: {communes}.",
        )
    )
    note = enrolment.restamped_note()
    if note is not None:
        print(note)
    return 0


def cmd_sync_run(args: argparse.Namespace) -> int:
    with workspace(args) as ws, _client(args, ws) as client:
        result = client.run()
        pending = client.status().pending
    if args.json:
        print_json({**result.as_dict(), "pending": pending})
        return 0 if result.ok else 1
    print(
        say(
            f"Đã gửi {result.sent} bản ghi: máy chủ nhận {result.accepted}, "
            f"từ chối {len(result.refused)}. Đã nhận về {result.pulled} thay đổi.",
            f"Sent {result.sent} record(s): the server accepted {result.accepted}, "
            f"refused {len(result.refused)}. Pulled {result.pulled} change(s).",
        )
    )
    if result.refused:
        print(say("Bản ghi bị từ chối:", "Refused records:"))
        _print_refused(result.refused)
    if result.cancelled:
        print(say("Đã huỷ giữa chừng.", "Cancelled part-way."))
    for note in result.moved_notes():
        print(note)
    _print_errors(result.errors)
    print(say(f"Còn chờ gửi: {pending}", f"Still pending: {pending}"))
    _print_kept_local(result)
    return 0 if result.ok else 1


def _print_kept_local(result: SyncResult) -> None:
    note = result.kept_local_note()
    if note is not None:
        print(note)


def cmd_sync_status(args: argparse.Namespace) -> int:
    with workspace(args) as ws, _client(args, ws) as client:
        state = client.status()
    if args.json:
        print_json(state.as_dict())
        return 0
    server = state.server_url or say("chưa đăng ký", "not enrolled")
    print(say(f"Máy chủ: {server}", f"Server: {server}"))
    if state.agent_name:
        print(say(f"Nhân viên: {state.agent_name}", f"Agent: {state.agent_name}"))
    print(say(f"Chờ gửi: {state.pending}", f"Pending: {state.pending}"))
    print(say(f"Bị từ chối: {len(state.refused)}", f"Refused: {len(state.refused)}"))
    _print_refused(state.refused)
    last = state.last_sync
    if last is None:
        print(say("Lần đồng bộ cuối: chưa có", "Last sync: never"))
    else:
        outcome = say("thành công", "ok") if last["ok"] else say("thất bại", "failed")
        run = f"{last['at']} ({last['kind']}) {outcome}"
        note = f" — {last['message']}" if last["message"] else ""
        print(say(f"Lần đồng bộ cuối: {run}{note}", f"Last sync: {run}{note}"))
    print(say(f"Vị trí đã nhận: {state.cursor}", f"Cursor: {state.cursor}"))
    return 0


def cmd_sync_export(args: argparse.Namespace) -> int:
    with workspace(args) as ws, _client(args, ws) as client:
        result = client.export_batches(args.out)
    _print_errors(result.errors)
    if not result.files and not result.errors:
        print(say("Không có gì chờ gửi.", "Nothing is pending."))
    for path in result.files:
        print(say(f"Đã ghi tệp lô: {path}", f"Batch file written: {path}"))
    if result.files:
        print(
            say(
                f"{result.sent} bản ghi. Mang tệp đến bưu điện hoặc văn phòng tỉnh để nhập, "
                "rồi chạy `fieldapp sync ack` với tệp xác nhận (.ack).",
                f"{result.sent} record(s). Take the file to be imported, then run "
                "`fieldapp sync ack` with the ack file (.ack).",
            )
        )
    _print_kept_local(result)
    return 0 if result.ok else 1


def cmd_sync_ack(args: argparse.Namespace) -> int:
    failed = False
    with workspace(args) as ws, _client(args, ws) as client:
        for path in args.files:
            result = client.apply_ack_file(path)
            failed = failed or not result.ok
            for error in result.errors:
                print(f"{path}: " + error.message(), file=sys.stderr)
            accepted, refused = result.accepted, len(result.refused)
            print(
                say(
                    f"{path}: máy chủ nhận {accepted}, từ chối {refused}.",
                    f"{path}: accepted {accepted}, refused {refused}.",
                )
            )
            _print_refused(result.refused)
        pending = client.status().pending
    print(say(f"Còn chờ gửi: {pending}", f"Still pending: {pending}"))
    return 1 if failed else 0


def register(commands: Commands) -> None:
    sync = group(commands, "sync", "đồng bộ với máy chủ tỉnh", "sync with the provincial server")
    ca_help = say(
        "tệp chứng chỉ CA tin cậy (mặc định: FIELDAPP_CA_FILE hoặc CA của hệ thống)",
        "trusted CA certificate file (default: FIELDAPP_CA_FILE or the system's CAs)",
    )
    insecure_help = say(
        "đồng ý dùng máy chủ http:// (không mã hoá) không phải máy này: mã đăng ký, khoá máy và "
        "dữ liệu đi qua mạng ai cũng đọc được; chỉ dùng trong mạng nội bộ tin cậy. Máy nhớ lựa "
        "chọn cho địa chỉ này",
        "agree to use a plain http:// (unencrypted) server that is not this machine: the code, "
        "the device key and the records cross the network readable by anyone; only on a trusted "
        "local network. Remembered for this address",
    )

    p = command(
        sync,
        "enrol",
        cmd_sync_enrol,
        "đăng ký máy này với máy chủ bằng mã dùng một lần",
        "enrol this laptop with a one-time code",
    )
    p.add_argument(
        "--server", required=True, metavar="URL", help=say("địa chỉ máy chủ", "server URL")
    )
    p.add_argument(
        "--code", required=True, help=say("mã đăng ký dùng một lần", "one-time enrolment code")
    )
    p.add_argument(
        "--device-name", help=say("tên máy (mặc định: tên máy tính)", "device name (hostname)")
    )
    p.add_argument("--ca-file", help=ca_help)
    p.add_argument("--allow-insecure", action="store_true", help=insecure_help)

    p = command(
        sync,
        "run",
        cmd_sync_run,
        "gửi dữ liệu chờ gửi rồi nhận thay đổi từ máy chủ",
        "upload pending records, then pull changes",
        json_flag=True,
    )
    p.add_argument("--ca-file", help=ca_help)
    p.add_argument("--allow-insecure", action="store_true", help=insecure_help)

    command(
        sync,
        "status",
        cmd_sync_status,
        "xem số bản ghi chờ gửi, bị từ chối và lần đồng bộ cuối",
        "show pending and refused records and the last sync",
        json_flag=True,
    )

    p = command(
        sync,
        "export",
        cmd_sync_export,
        "ghi dữ liệu chờ gửi ra tệp có chữ ký (để mang bằng USB)",
        "write pending records to a signed file (for a USB stick)",
    )
    p.add_argument(
        "--out", required=True, metavar="FILE", help=say("tệp lô cần ghi", "batch file to write")
    )

    p = command(
        sync,
        "ack",
        cmd_sync_ack,
        "nhận tệp xác nhận (.ack) của máy chủ cho tệp lô đã nhập",
        "apply the server's ack file (.ack) for an imported batch file",
    )
    p.add_argument(
        "files", nargs="+", metavar="FILE", help=say("tệp xác nhận .ack", "ack file(s) (.ack)")
    )
