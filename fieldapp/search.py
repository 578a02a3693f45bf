"""Search as you type over members and households: folded text, CCCD, phone, village."""

from __future__ import annotations

import json
import re

from fieldapp.store import Store
from fieldapp.text import clean, fold
from sync.protocol.frozen import frozen

_TOKEN = re.compile(r"[0-9a-z]+")
# A member's phone is indexed with its trailing digits too, from this many on: agents often
# know only the end of a number ("…5678"), and its 9 digits without the leading 0.
_PHONE_TAIL_MIN = 4


def phone_terms(phone: str | None) -> str:
    """Search words for a stored phone number: the number, then its tails, longest first.

    FTS5 matches the start of a word, so "0912345678" gets the words "912345678" …
    "5678" as well: typing "5678", "345678" or "912345678" finds it.
    """
    digits = re.sub(r"\D", "", phone or "")
    if not digits:
        return ""
    tails = [digits[i:] for i in range(1, len(digits) - _PHONE_TAIL_MIN + 1)]
    return " ".join([digits, *tails])


def match_expression(text: str) -> str | None:
    """FTS5 query for what the agent typed: every word must match as a prefix.

    Input is folded the same way as the index, so "Nguyễn", "nguyen" and an NFD "Nguyễn" are
    the same query; FTS syntax characters cannot reach the engine.
    """
    compact = re.sub(r"[\s.\-+]", "", text)
    if compact.isdigit():
        # A phone or CCCD typed in groups ("0912 345 678") is one number.
        compact = "0" + compact[2:] if compact.startswith("84") and len(compact) > 9 else compact
        return f'"{compact}"*'
    tokens = _TOKEN.findall(fold(text))
    if not tokens:
        return None
    return " ".join(f'"{t}"*' for t in tokens)


@frozen
class SearchHit:
    """One member (or a household with no matching member) that matches the query."""

    household_id: str
    member_id: str | None
    full_name: str
    head_name: str
    village: str
    date_of_birth: str | None
    cccd: str | None
    phone: str | None

    def as_dict(self) -> dict[str, str | None]:
        return {
            "household_id": self.household_id,
            "member_id": self.member_id,
            "full_name": self.full_name,
            "head_name": self.head_name,
            "village": self.village,
            "date_of_birth": self.date_of_birth,
            "cccd": self.cccd,
            "phone": self.phone,
        }


# The people and households of one page of matches, given as a JSON list of
# [household_id, member_id, tier] in rank order; a tier groups matches of equal rank, which
# show in the Vietnamese name order.
_PAGE = """
    SELECT s.household_id, s.member_id,
        coalesce(m.full_name, h.head_name) AS full_name, h.head_name, h.village,
        m.date_of_birth, m.cccd, coalesce(m.phone, h.phone) AS phone
    FROM (
        SELECT json_extract(j.value, '$[0]') AS household_id,
            json_extract(j.value, '$[1]') AS member_id,
            json_extract(j.value, '$[2]') AS tier, j.key AS position
        FROM json_each(?) j
    ) s
    JOIN household h ON h.id = s.household_id
    LEFT JOIN member m ON m.id = s.member_id
    ORDER BY s.tier, m.sort_key, s.position
"""


# Households that carry a group (groups are a JSON list on the household row).
_IN_GROUP = "SELECT h2.id FROM household h2, json_each(h2.groups) g WHERE g.value = ?"


class Search:
    """Find people and households by name without diacritics, CCCD, phone or village."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def find(
        self,
        text: str,
        *,
        village: str | None = None,
        group: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[SearchHit]:
        """Best matches first (FTS rank), then the Vietnamese name order."""
        expression = match_expression(text)
        if expression is None:
            return self.browse(village=village, group=group, limit=limit, offset=offset)
        # Rank and cut inside the index first, then join only that page. The score is FTS5's
        # rank (bm25) computed once per match and kept by SQLite's top-N sort: ORDER BY rank
        # has FTS5 sort every match and compute the rank again for each row it returns, and
        # the join in the same statement computed it twice. The rowid breaks ties, so pages
        # do not overlap.
        sql = (
            "SELECT household_id, member_id, bm25(search_index) AS score FROM search_index"
            " WHERE search_index MATCH ?"
        )
        params: list[object] = [expression]
        if village:
            sql += " AND household_id IN (SELECT id FROM household WHERE village = ?)"
            params.append(clean(village))
        if group:
            sql += f" AND household_id IN ({_IN_GROUP})"
            params.append(group)
        sql += " ORDER BY score, rowid LIMIT ? OFFSET ?"
        params += [limit, offset]
        page: list[tuple[str, str | None, int]] = []
        tier, last = -1, None
        for household_id, member_id, score in self.store.conn.execute(sql, params):
            if score != last:
                tier, last = tier + 1, score
            page.append((household_id, member_id, tier))
        if not page:
            return []
        rows = self.store.conn.execute(_PAGE, (json.dumps(page),))
        hits = [SearchHit(*row) for row in rows]
        # A household's own row matters only when none of its members is on the page already:
        # otherwise the head would show twice.
        shown = {h.household_id for h in hits if h.member_id is not None}
        return [h for h in hits if h.member_id is not None or h.household_id not in shown]

    def browse(
        self,
        *,
        village: str | None = None,
        group: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[SearchHit]:
        """Members in Vietnamese order (given name, then family name)."""
        sql = """
            SELECT m.household_id, m.id, m.full_name, h.head_name, h.village,
                m.date_of_birth, m.cccd, coalesce(m.phone, h.phone)
            FROM member m JOIN household h ON h.id = m.household_id
            WHERE m.removed = 0 AND h.moved_to IS NULL
        """
        params: list[object] = []
        if village:
            sql += " AND h.village = ?"
            params.append(clean(village))
        if group:
            sql += f" AND h.id IN ({_IN_GROUP})"
            params.append(group)
        sql += " ORDER BY m.sort_key, m.id LIMIT ? OFFSET ?"
        params += [limit, offset]
        return [SearchHit(*row) for row in self.store.conn.execute(sql, params)]
