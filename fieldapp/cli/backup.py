"""The `backup`, `restore` and `pin` commands: copies of the store, restoring one, the PIN."""

from __future__ import annotations

import argparse
import getpass
import os
from pathlib import Path

from fieldapp.cli.common import Commands, command, data_dir, group, workspace
from sync.protocol.errors import FieldappError
from sync.protocol.i18n import say

PIN_ENV = "FIELDAPP_PIN"
CURRENT_PIN_ENV = "FIELDAPP_CURRENT_PIN"


def _ask_pin(prompt_vi: str, prompt_en: str, *, env: str = PIN_ENV) -> str:
    """The PIN from the environment (for scripts) or typed without echo."""
    from_env = os.environ.get(env)
    if from_env is not None:
        return from_env
    try:
        return getpass.getpass(say(prompt_vi, prompt_en))
    except (EOFError, KeyboardInterrupt) as exc:
        raise FieldappError(
            "Chưa nhập mã PIN.", "No PIN was entered.", code="pin_not_entered"
        ) from exc


def cmd_backup(args: argparse.Namespace) -> int:
    with workspace(args) as ws:
        key = ws.lock.derive_key(_ask_pin("Mã PIN: ", "PIN: ")) if args.pin else None
        path = ws.backups.make(to_dir=args.to, key=key, keep=args.keep)
    print(say(f"Đã sao lưu: {path}", f"Backed up: {path}"))
    if args.to is not None:
        print(say(f"Đã chép vào: {args.to / path.name}", f"Copied to: {args.to / path.name}"))
    if key is None:
        print(
            say(
                "Lưu ý: bản sao lưu không được mã hoá; dùng --pin khi chép ra USB.",
                "Note: the backup is not encrypted; use --pin when copying to a USB stick.",
            )
        )
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from fieldapp.backup import MAGIC, restore

    pin = None
    if args.pin or _starts_with(args.file, MAGIC):
        pin = _ask_pin("Mã PIN của bản sao lưu: ", "The backup's PIN: ")
    kept = restore(args.file, data_dir=data_dir(args), pin=pin)
    print(say(f"Đã khôi phục dữ liệu từ {args.file}.", f"Restored the data from {args.file}."))
    if kept is not None:
        print(say(f"Dữ liệu cũ được giữ tại: {kept}", f"The previous data is kept at: {kept}"))
    return 0


def _starts_with(path: Path, magic: bytes) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(len(magic)) == magic
    except OSError:
        return False  # restore() reports the unreadable file


def cmd_pin_set(args: argparse.Namespace) -> int:
    with workspace(args) as ws:
        current = None
        if ws.lock.has_pin():
            current = _ask_pin("Mã PIN hiện tại: ", "Current PIN: ", env=CURRENT_PIN_ENV)
        pin = _ask_pin("Mã PIN mới (4–8 chữ số): ", "New PIN (4–8 digits): ")
        if os.environ.get(PIN_ENV) is None:
            again = _ask_pin("Nhập lại mã PIN mới: ", "New PIN again: ")
            if again != pin:
                raise FieldappError(
                    "Hai lần nhập mã PIN không khớp; mã PIN chưa được đổi.",
                    "The two PINs do not match; the PIN was not changed.",
                    code="pin_mismatch",
                )
        ws.lock.set_pin(pin, current=current)
    print(say("Đã đặt mã PIN.", "The PIN is set."))
    return 0


def register(commands: Commands) -> None:
    p = command(commands, "backup", cmd_backup, "sao lưu dữ liệu", "back up the data")
    p.add_argument(
        "--to",
        type=Path,
        metavar="DIR",
        help=say("chép thêm vào thư mục này (USB)", "also copy into this folder (a USB stick)"),
    )
    p.add_argument(
        "--pin",
        action="store_true",
        help=say(
            f"mã hoá bằng mã PIN (hỏi khi chạy, hoặc lấy từ {PIN_ENV})",
            f"encrypt with the PIN (asked for, or taken from {PIN_ENV})",
        ),
    )
    p.add_argument(
        "--keep",
        type=int,
        metavar="N",
        default=10,
        help=say("số bản sao lưu giữ lại mỗi thư mục", "backups kept in each folder"),
    )

    p = command(
        commands,
        "restore",
        cmd_restore,
        "khôi phục dữ liệu từ tệp sao lưu (dữ liệu hiện tại được giữ lại)",
        "restore the data from a backup file (the current data is kept)",
    )
    p.add_argument("file", type=Path, help=say("tệp sao lưu .fabak", "backup file (.fabak)"))
    p.add_argument(
        "--pin",
        action="store_true",
        help=say(
            f"tệp được mã hoá bằng mã PIN (hỏi khi chạy, hoặc lấy từ {PIN_ENV})",
            f"the file is encrypted with a PIN (asked for, or taken from {PIN_ENV})",
        ),
    )

    pin = group(commands, "pin", "mã PIN mở khoá ứng dụng", "the PIN that unlocks the app")
    command(
        pin,
        "set",
        cmd_pin_set,
        f"đặt hoặc đổi mã PIN (hỏi hai lần, hoặc lấy từ {PIN_ENV}; mã cũ từ {CURRENT_PIN_ENV})",
        f"set or change the PIN (asked twice, or {PIN_ENV}; the old one from {CURRENT_PIN_ENV})",
    )
