"""Receipts, flyers and receipt QR codes: every PDF is parsed back and checked as printed."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import shutil
import time
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import resources
from fieldapp.documents import (
    AUDIENCE_GROUPS,
    BhxhOption,
    Cancelled,
    TemplateError,
    load_flyer_templates,
    render_flyers,
    render_receipt,
)
from fieldapp.documents.flyer import UNREVIEWED_NOTICE
from fieldapp.documents.fonts import missing_glyphs
from fieldapp.documents.receipt import vietnamese_date
from sync.protocol.money import format_vnd
from sync.protocol.receipt_qr import (
    CODE_ALPHABET,
    normalize_verification_code,
    parse_receipt_qr,
    receipt_signature,
    verification_code,
    verify_receipt_qr,
)
from tests.fieldapp.conftest import check_imports_without_qt
from tests.fieldapp.pdfcheck import (
    decode_qr,
    flat,
    page_sizes_mm,
    page_texts,
    render_png,
    word_boxes,
)
from tests.fieldapp.samples import (
    BHYT_3_MEMBERS,
    DEVICE_KEY,
    RECEIPT_ID,
    RECEIPT_QR,
    make_flyer,
    make_receipt,
    qr_payload,
)

LAYOUTS = ("a5", "a6", "roll80")


def receipt_text(pdf: bytes) -> str:
    """The text of a one-page receipt PDF, white space folded."""
    pages = page_texts(pdf)
    assert len(pages) == 1
    return flat(pages[0])


# --- receipts ---------------------------------------------------------------------------


@pytest.mark.parametrize("layout", LAYOUTS)
def test_receipt_carries_every_field_with_diacritics(layout: str) -> None:
    """Each layout prints the C45-BB content of DOMAIN §4, Vietnamese letters intact."""
    text = receipt_text(render_receipt(make_receipt(), layout=layout))  # type: ignore[arg-type]
    assert unicodedata.is_normalized("NFC", text)
    for expected in (
        "BẢO HIỂM XÃ HỘI TỈNH LÀO CAI",
        "Bưu điện xã Nậm Tha — được Bảo hiểm xã hội uỷ quyền thu",
        "Mẫu số: C45-BB",
        "BIÊN LAI THU TIỀN",
        "Ngày 23 tháng 11 năm 2026",
        "Ký hiệu: LC-NTA-24",
        "Số: 0000123",
        "Họ tên người nộp tiền: Giàng Thị Mỷ",
        "Mã số BHXH: 1523456789",
        "Địa chỉ: Thôn Nậm Tha, xã Nậm Tha, tỉnh Lào Cai",
        "Nội dung thu: Tiền đóng BHYT hộ gia đình, phương thức đóng 12 tháng, "
        "từ ngày 01/12/2026 đến ngày 30/11/2027",
        "Số tiền: 1.366.200 đ",
        "Viết bằng chữ: Một triệu ba trăm sáu mươi sáu nghìn hai trăm đồng.",
        "Người nộp tiền",
        "Người thu tiền",
        "(Ký, ghi rõ họ tên)",
        "Lò Văn Thắng",
        f"Mã tra cứu: {make_receipt().verification_code}",
    ):
        assert expected in text, expected
    assert "BẢN SAO" not in text
    assert "ĐÃ HUỶ" not in text


@pytest.mark.parametrize(
    ("layout", "width_mm", "height_mm"),
    [("a5", 148, 210), ("a6", 105, 148), ("roll80", 80, None)],
)
def test_receipt_page_sizes(layout: str, width_mm: float, height_mm: float | None) -> None:
    """A5 and A6 are portrait sheets; the roll is 80 mm wide and cut where the content ends."""
    ((width, height),) = page_sizes_mm(render_receipt(make_receipt(), layout=layout))  # type: ignore[arg-type]
    assert width == pytest.approx(width_mm, abs=0.1)
    if height_mm is not None:
        assert height == pytest.approx(height_mm, abs=0.1)
    else:
        assert 100 < height < 250


def test_amount_in_words_keeps_inner_zero_groups() -> None:
    """A receipt for 1.053.000 đ says "không trăm" as the receipt convention wants."""
    text = receipt_text(render_receipt(make_receipt(amount=1_053_000)))
    assert "Số tiền: 1.053.000 đ" in text
    assert "Viết bằng chữ: Một triệu không trăm năm mươi ba nghìn đồng." in text


@pytest.mark.parametrize("layout", LAYOUTS)
def test_reprint_says_copy(layout: str) -> None:
    """A reprint carries BẢN SAO; the original does not."""
    text = receipt_text(render_receipt(make_receipt(), layout=layout, copy=True))  # type: ignore[arg-type]
    assert "BẢN SAO" in text
    assert "Số: 0000123" in text


@pytest.mark.parametrize("layout", LAYOUTS)
def test_voided_receipt_says_cancelled_and_why(layout: str) -> None:
    """A voided receipt carries ĐÃ HUỶ and the reason, and can be a copy at the same time."""
    pdf = render_receipt(
        make_receipt(),
        layout=layout,  # type: ignore[arg-type]
        copy=True,
        voided_reason="Viết sai tên người nộp tiền",
    )
    text = receipt_text(pdf)
    assert "ĐÃ HUỶ — Lý do: Viết sai tên người nộp tiền" in text
    assert "BẢN SAO" in text


def test_void_needs_a_reason() -> None:
    """An empty reason is refused: a spoiled receipt stays on record with why."""
    with pytest.raises(ValueError, match="reason"):
        render_receipt(make_receipt(), voided_reason="  ")


def test_unknown_layout_is_refused() -> None:
    with pytest.raises(ValueError, match="a5, a6 or roll80"):
        render_receipt(make_receipt(), layout="letter")  # type: ignore[arg-type]


def test_nfd_input_is_drawn_as_nfc() -> None:
    """Text typed in Unikey's "tổ hợp" mode (NFD) comes out of the PDF as precomposed NFC."""
    name = "Nguyễn Thị Hương Hoà"
    address = "Bản Phìn Hồ, xã Tả Phìn, tỉnh Lào Cai"
    doc = make_receipt(
        payer_name=unicodedata.normalize("NFD", name),
        payer_address=unicodedata.normalize("NFD", address),
        description=unicodedata.normalize("NFD", make_receipt().description),
    )
    raw = page_texts(render_receipt(doc))[0]  # not normalised here on purpose
    assert name in raw
    assert unicodedata.normalize("NFD", name) not in raw
    assert "\u0300" not in raw and "\u0303" not in raw  # no loose combining marks
    assert address in flat(raw)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_long_name_and_address_wrap_inside_the_page(layout: str, tmp_path: Path) -> None:
    """Long values wrap onto more lines: every word is printed and stays inside the page."""
    name = "Hoàng Thị Phương Thảo Nguyễn Ngọc Bích Liên Hương " * 2
    address = (
        "Tổ dân phố số 12, thôn Khuổi Khoang Trên Cùng Phía Bên Kia Suối, xã Tả Van Chư, "
        "tỉnh Lào Cai, gần nhà văn hoá cũ, đối diện cửa hàng tạp hoá ông Sùng A Chư"
    )
    pdf = render_receipt(
        make_receipt(payer_name=name.strip(), payer_address=address, series="LC-NTA-24-XYZ"),
        layout=layout,  # type: ignore[arg-type]
    )
    text = receipt_text(pdf)
    assert name.strip() in text
    assert address in text
    words = word_boxes(pdf, tmp_path)
    assert words
    for word in words:
        assert word.x_min >= 0 and word.x_max <= word.page_width, word
        assert word.y_min >= 0 and word.y_max <= word.page_height, word


def test_receipt_date_is_the_day_in_vietnam() -> None:
    """18:30 UTC on 23 November is already 24 November in Vietnam."""
    late = dt.datetime(2026, 11, 23, 18, 30, tzinfo=dt.UTC)
    text = receipt_text(render_receipt(make_receipt(issued_at=late), layout="a6"))
    assert "Ngày 24 tháng 11 năm 2026" in text


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (dt.date(2026, 11, 23), "Ngày 23 tháng 11 năm 2026"),
        (dt.date(2027, 1, 5), "Ngày 05 tháng 01 năm 2027"),
        (dt.date(2027, 2, 14), "Ngày 14 tháng 02 năm 2027"),
        (dt.date(2027, 3, 9), "Ngày 09 tháng 3 năm 2027"),
    ],
)
def test_vietnamese_date(day: dt.date, expected: str) -> None:
    """Administrative dates pad days below 10 and months 1 and 2 only."""
    assert vietnamese_date(day) == expected


@pytest.mark.parametrize("layout", LAYOUTS)
def test_printed_qr_decodes_and_verifies(layout: str, tmp_path: Path) -> None:
    """The QR on the page, scanned from a 200 dpi render, carries a valid signed payload."""
    doc = make_receipt()
    pdf = render_receipt(doc, layout=layout, copy=True)  # type: ignore[arg-type]
    png = render_png(pdf, tmp_path / layout, dpi=200)
    payloads = decode_qr(png)
    assert payloads == [doc.qr_payload]
    assert verify_receipt_qr(payloads[0], DEVICE_KEY)
    assert not verify_receipt_qr(payloads[0], b"another device's key")
    fields = parse_receipt_qr(payloads[0])
    assert (fields["series"], fields["number"], fields["amount"]) == ("LC-NTA-24", 123, 1_366_200)
    assert fields["issued_on"] == dt.date(2026, 11, 23)
    assert verification_code(fields["sig"]) == doc.verification_code


# --- QR payloads ------------------------------------------------------------------------


def test_qr_payload_format() -> None:
    """FA1|id|series|number|amount|YYYYMMDD|sig with a 16-hex HMAC-SHA256 prefix."""
    payload = make_receipt().qr_payload
    parts = payload.split("|")
    assert parts[:6] == ["FA1", RECEIPT_ID, "LC-NTA-24", "123", "1366200", "20261123"]
    assert len(parts[6]) == 16 and int(parts[6], 16) >= 0
    assert parts[6] == receipt_signature(**RECEIPT_QR)


def test_tampered_payload_fails_verification() -> None:
    """Changing the amount (or any field) breaks the signature."""
    payload = make_receipt().qr_payload
    assert verify_receipt_qr(payload, DEVICE_KEY)
    assert not verify_receipt_qr(payload.replace("|1366200|", "|1866200|"), DEVICE_KEY)
    assert not verify_receipt_qr(payload.replace("|123|", "|124|"), DEVICE_KEY)
    assert not verify_receipt_qr("not a receipt", DEVICE_KEY)
    assert not verify_receipt_qr(payload + "0", DEVICE_KEY)


def test_url_form_when_a_server_is_configured() -> None:
    """With a server URL the QR holds https://<server>/r/<id>?s=<sig> for online checking."""
    url = qr_payload(server_url="bhxh-laocai.example.vn/")
    sig = parse_receipt_qr(make_receipt().qr_payload)["sig"]
    assert url == f"https://bhxh-laocai.example.vn/r/{RECEIPT_ID}?s={sig}"
    fields = parse_receipt_qr(url)
    assert fields == {
        "form": "url",
        "server": "https://bhxh-laocai.example.vn",
        "receipt_id": RECEIPT_ID,
        "sig": sig,
    }
    assert not verify_receipt_qr(url, DEVICE_KEY)  # no amounts in it: the server checks it


def test_verification_code_is_short_and_typable() -> None:
    """8 characters grouped 4-4, no 0/O/1/I; typing it sloppily still matches."""
    code = make_receipt().verification_code
    assert len(code) == 9 and code[4] == "-"
    assert set(code.replace("-", "")) <= set(CODE_ALPHABET)
    assert not set(code) & set("0O1I")
    assert normalize_verification_code(f" {code.lower().replace('-', ' ')} ") == code


@given(
    number=st.integers(min_value=0, max_value=9_999_999),
    amount=st.integers(min_value=0, max_value=10**12),
    series=st.from_regex(r"[A-Z]{2}-[A-Z0-9]{2,5}-[0-9]{2}", fullmatch=True),
    day=st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2099, 12, 31)),
)
def test_qr_round_trip(number: int, amount: int, series: str, day: dt.date) -> None:
    """Any receipt's payload parses back to its fields and verifies with its key only."""
    payload = qr_payload(series=series, number=number, amount=amount, issued_on=day)
    fields = parse_receipt_qr(payload)
    assert (fields["series"], fields["number"], fields["amount"], fields["issued_on"]) == (
        series,
        number,
        amount,
        day,
    )
    assert verify_receipt_qr(payload, DEVICE_KEY)
    assert not verify_receipt_qr(payload, DEVICE_KEY[::-1])


def test_qr_fields_cannot_break_the_format() -> None:
    """A series with the field separator in it, or a negative amount, is refused."""
    day = dt.date(2026, 1, 1)
    with pytest.raises(ValueError, match="series"):
        qr_payload(series="LC|NTA", number=1, amount=1, issued_on=day)
    with pytest.raises(ValueError, match="amount"):
        qr_payload(number=1, amount=-5, issued_on=day)


# --- flyers -----------------------------------------------------------------------------


def test_village_batch_one_page_per_household() -> None:
    """20 households make a 20-page A5 PDF; each page has its own household's figures."""
    flyers = [make_flyer(i) for i in range(20)]
    pdf = render_flyers(flyers)
    pages = [flat(text) for text in page_texts(pdf)]
    assert len(pages) == 20
    assert all(size == pytest.approx((148, 210), abs=0.1) for size in page_sizes_mm(pdf))
    for i, text in enumerate(pages):
        assert f"Kính gửi gia đình ông/bà Sùng A Páo {i}" in text
        assert f"Sùng Thị Mỷ {i}" in text
        for months, amount in BHYT_3_MEMBERS.items():
            assert f"{months} tháng {format_vnd(amount + i)}" in text
        assert format_vnd(528_000 + 1000 * i) in text
        assert "Mức thấp nhất (1.500.000 đ/tháng) 264.000 đ 3.168.000 đ" in text
        assert "Người tư vấn: Lò Văn Thắng — điện thoại 0912 345 678" in text
        assert "Tôi sẽ ghé lại gia đình vào ngày 15/01/2027." in text
        assert UNREVIEWED_NOTICE not in text
        # Someone else's amounts never leak onto this page.
        other = (i + 1) % 20
        assert format_vnd(3_142_260 + other) not in text


def test_each_group_gets_its_own_template() -> None:
    """The six audience groups print their own title and benefits."""
    vi = load_flyer_templates("vi")
    pages = page_texts(render_flyers([make_flyer(i) for i in range(len(AUDIENCE_GROUPS))]))
    for group, text in zip(AUDIENCE_GROUPS, pages, strict=True):
        template = vi.groups[group]
        assert flat(template.title) in flat(text)
        assert flat(template.bhxh_benefits[0]) in flat(text)
        assert "Bảo hiểm xã hội tự nguyện" in text
        assert "Bảo hiểm y tế hộ gia đình" in text


def test_five_year_lump_sum_only_for_seasonal_income() -> None:
    """The 5-year lump-sum column appears only for households with seasonal income."""
    seasonal, steady = page_texts(
        render_flyers([make_flyer(0, seasonal_income=True), make_flyer(1)])
    )
    assert "Một lần cho 5 năm" in flat(seasonal)
    assert format_vnd(18_098_148) in flat(seasonal)
    assert "Một lần cho 5 năm" not in flat(steady)
    assert format_vnd(18_098_148) not in flat(steady)


def test_no_next_visit_line_without_a_date() -> None:
    (text,) = page_texts(render_flyers([make_flyer(next_visit=None)]))
    assert "Tôi sẽ ghé lại" not in text


def test_english_flyer() -> None:
    """English templates print English text with the same amounts."""
    (text,) = page_texts(render_flyers([make_flyer(0, language="en")]))
    assert "Dear Sùng A Páo 0 and family" in flat(text)
    assert "Household health insurance (BHYT)" in flat(text)
    assert format_vnd(3_142_260) in flat(text)


def test_unreviewed_language_shows_notice_and_falls_back_to_vietnamese() -> None:
    """Mông is marked not reviewed: the notice is printed and missing strings are Vietnamese."""
    hmn = load_flyer_templates("hmn")
    assert hmn.reviewed is False
    assert "strings.greeting" not in hmn.fallback_keys
    assert "groups.agri_household.title" in hmn.fallback_keys
    (text,) = page_texts(render_flyers([make_flyer(0, language="hmn")]))
    assert UNREVIEWED_NOTICE in flat(text)
    assert "Nyob zoo, tsev neeg Sùng A Páo 0" in flat(text)
    assert flat(load_flyer_templates("vi").groups["agri_household"].title) in flat(text)


def test_language_without_a_file_prints_vietnamese() -> None:
    templates = load_flyer_templates("dao")
    assert templates.strings == load_flyer_templates("vi").strings
    assert templates.reviewed is True


def test_nfd_household_data_is_drawn_as_nfc() -> None:
    """NFD names and villages on a flyer come out as precomposed text."""
    head = "Hoàng Thị Nguyệt"
    (raw,) = page_texts(
        render_flyers(
            [
                make_flyer(
                    household_head=unicodedata.normalize("NFD", head),
                    village=unicodedata.normalize("NFD", "Bản Phìn Hồ"),
                )
            ]
        )
    )
    assert f"Kính gửi gia đình ông/bà {head}" in flat(raw)
    assert "Bản Phìn Hồ" in raw
    assert unicodedata.normalize("NFD", head) not in raw


def test_progress_and_cancel() -> None:
    """Progress is reported per page; a cancel raises Cancelled and returns no PDF."""
    seen: list[tuple[int, int]] = []
    render_flyers([make_flyer(i) for i in range(5)], on_progress=lambda d, t: seen.append((d, t)))
    assert seen == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]

    seen.clear()
    with pytest.raises(Cancelled) as caught:
        render_flyers(
            [make_flyer(i) for i in range(10)],
            on_progress=lambda d, t: seen.append((d, t)),
            should_cancel=lambda: len(seen) >= 3,
        )
    assert (caught.value.done, caught.value.total) == (3, 10)
    assert "cancelled" in caught.value.en


def test_unknown_group_is_refused() -> None:
    with pytest.raises(ValueError, match="audience group"):
        render_flyers([make_flyer(group="fisherman")])


def test_long_member_list_stays_on_the_page(tmp_path: Path) -> None:
    """Twelve members and long options shrink the text instead of running off the page."""
    members = [f"Vàng Thị Phương Thảo Mai Lan {n}" for n in range(12)]
    options = [
        BhxhOption(f"Mức thu nhập {n}.000.000 đ/tháng chọn theo khả năng", 264_000 * n, 1, 2)
        for n in range(1, 6)
    ]
    pdf = render_flyers([make_flyer(members=members, bhxh_options=options, seasonal_income=True)])
    assert len(page_texts(pdf)) == 1
    text = flat(page_texts(pdf)[0])
    assert all(name in text for name in members)
    words = word_boxes(pdf, tmp_path)
    for word in words:
        assert word.x_max <= word.page_width and word.y_max <= word.page_height, word
    # An amount never wraps: every "đ" sits on the same line as the figure before it.
    for before, word in itertools.pairwise(words):
        if word.text == "đ" and before.text[:1].isdigit():
            assert word.y_min == pytest.approx(before.y_min, abs=0.5), (before, word)


def test_five_hundred_households_render_quickly() -> None:
    """A large village prints in a few seconds (about one on the development machine)."""
    flyers = [make_flyer(i) for i in range(500)]
    render_flyers(flyers[:2])  # fonts and templates loaded outside the timing
    started = time.perf_counter()
    pdf = render_flyers(flyers)
    elapsed = time.perf_counter() - started
    assert len(page_sizes_mm(pdf)) == 500
    assert elapsed < 10, f"500 flyers took {elapsed:.1f} s"


# --- templates --------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["vi", "en", "hmn"])
def test_shipped_templates_load_and_the_font_draws_them(language: str) -> None:
    """Every shipped language loads, covers every group, and needs no glyph the font lacks."""
    templates = load_flyer_templates(language)
    assert set(templates.groups) == set(AUDIENCE_GROUPS)
    texts = list(templates.strings.values())
    for group in templates.groups.values():
        texts += [group.title, group.intro, group.call_to_action]
        texts += [*group.bhyt_benefits, *group.bhxh_benefits]
    for text in texts:
        assert unicodedata.is_normalized("NFC", text)
        assert not missing_glyphs(text)


def test_english_is_not_marked_reviewed_until_a_native_speaker_checks_it() -> None:
    data = json.loads(resources.read_text("flyers", "en.json"))
    assert data["reviewed"] is False


def _copy_templates(tmp_path: Path) -> Path:
    folder = tmp_path / "flyers"
    shutil.copytree(resources.path("flyers"), folder)
    return folder


def test_template_missing_a_key_names_file_and_key(tmp_path: Path) -> None:
    """A Vietnamese template without a call to action is refused with file and key."""
    folder = _copy_templates(tmp_path)
    data = json.loads((folder / "vi.json").read_text(encoding="utf-8"))
    del data["groups"]["cooperative"]["call_to_action"]
    (folder / "vi.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(TemplateError) as caught:
        load_flyer_templates("vi", directory=folder)
    assert caught.value.key == "groups.cooperative.call_to_action"
    assert caught.value.path == folder / "vi.json"
    assert "vi.json" in caught.value.en and "groups.cooperative.call_to_action" in caught.value.en
    assert "thiếu" in caught.value.vi


@pytest.mark.parametrize(
    ("edit", "key", "problem"),
    [
        (lambda d: d["strings"].pop("thanks"), "strings.thanks", "missing"),
        (lambda d: d.pop("reviewed"), "reviewed", "missing"),
        (
            lambda d: d["strings"].__setitem__("greeting", "Chào {household_haed}"),
            "strings.greeting",
            "{household_haed}",
        ),
        (
            lambda d: d["groups"]["cooperative"].__setitem__("titel", "x"),
            "groups.cooperative.titel",
            "not known",
        ),
        (
            lambda d: d["groups"]["cooperative"].__setitem__("bhyt_benefits", []),
            "groups.cooperative.bhyt_benefits",
            "non-empty list",
        ),
        (
            lambda d: d["strings"].__setitem__("thanks", "Cảm ơn ꪀꪁ"),
            "strings.thanks",
            "font lacks",
        ),
    ],
)
def test_broken_templates_are_refused(tmp_path: Path, edit: object, key: str, problem: str) -> None:
    """Typos, empty lists and letters the font cannot draw are caught when loading."""
    folder = _copy_templates(tmp_path)
    data = json.loads((folder / "vi.json").read_text(encoding="utf-8"))
    edit(data)  # type: ignore[operator]
    (folder / "vi.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(TemplateError) as caught:
        load_flyer_templates("vi", directory=folder)
    assert caught.value.key == key
    assert problem in caught.value.en


def test_translation_may_leave_keys_out_but_not_misspell_them(tmp_path: Path) -> None:
    folder = _copy_templates(tmp_path)
    (folder / "tay.json").write_text(
        json.dumps({"language": "tay", "reviewed": False, "strings": {"thank": "x"}, "groups": {}}),
        encoding="utf-8",
    )
    with pytest.raises(TemplateError) as caught:
        load_flyer_templates("tay", directory=folder)
    assert caught.value.key == "strings.thank"
    assert "tay.json" in str(caught.value.path)


def test_broken_json_names_the_file(tmp_path: Path) -> None:
    folder = _copy_templates(tmp_path)
    (folder / "en.json").write_text('{"language": "en",', encoding="utf-8")
    with pytest.raises(TemplateError, match=r"en\.json"):
        load_flyer_templates("en", directory=folder)


# --- boundaries -------------------------------------------------------------------------


def test_documents_do_not_import_qt() -> None:
    """The core's PDF code runs without Qt (the server and CLI use it too)."""
    check_imports_without_qt("fieldapp.documents")
