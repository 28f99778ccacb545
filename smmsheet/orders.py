"""The order sheet: column schema, header detection, row parsing and validation. Pure.

Columns are found by header text (case, spaces and underscores ignored) in the first of the
top 10 rows that holds both ``Service`` and ``Link``. Users may reorder columns and add their
own; smmsheet only writes the output columns, creating the missing ones at the end of the
header row.

Example::

    table = OrderTable.from_values(book.read_values("Orders"))
    for row in table.rows:
        plan = validate(row, services_by_id)      # an OrderPlan, or a RowProblem for its row
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from .errors import LayoutError
from .models import Service
from .values import UnknownValue, Unreadable, parse_bool, parse_id, whole_number
from .workbook.base import MAX_COL, CellValue, LinkedText, NewColumn, column_letters

__all__ = [
    "AMBIGUOUS_MARK",
    "MAIN_INPUTS",
    "FINAL_REFILL_STATUSES",
    "FINAL_STATUSES",
    "HEADER_ALIASES",
    "INPUT_COLUMNS",
    "NOTE_MARK",
    "OUTPUT_COLUMNS",
    "OpenOrders",
    "PROFIT_COLUMNS",
    "ROW_OPTIONS",
    "OrderPlan",
    "OrderRow",
    "OrderTable",
    "RowProblem",
    "RowValues",
    "column_groups",
    "column_look",
    "header_key",
    "is_final",
    "id_cell",
    "normalize_header",
    "same_address",
    "stale_pick",
    "unknown_text",
    "validate",
]

#: Input columns: field key (the API parameter name) -> header text in the template.
INPUT_COLUMNS: dict[str, str] = {
    "service": "Service",
    "link": "Link",
    "quantity": "Quantity",
    "runs": "Runs",
    "interval": "Interval",
    "comments": "Comments",
    "usernames": "Usernames",
    "hashtags": "Hashtags",
    "hashtag": "Hashtag",
    "username": "Username",
    "media": "Media",
    "answer_number": "Answer Number",
    "groups": "Groups",
    "keywords": "Keywords",
    "min": "Min",
    "max": "Max",
    "posts": "Posts",
    "old_posts": "Old Posts",
    "delay": "Delay",
    "expiry": "Expiry",
    "country": "Country",
    "device": "Device",
    "type_of_traffic": "Type Of Traffic",
    "google_keyword": "Google Keyword",
    "referring_url": "Referring URL",
    "refill": "Refill",
    "cancel": "Cancel",
}

#: Output columns smmsheet writes, in the order they are created when missing.
OUTPUT_COLUMNS: dict[str, str] = {
    "order_id": "Order ID",
    "status": "Status",
    "charge": "Charge",
    "start_count": "Start Count",
    "remains": "Remains",
    "currency": "Currency",
    "refill_id": "Refill ID",
    "refill_status": "Refill Status",
    "error": "Error",
    "updated": "Updated",
    "refill_until": "Refill until",
}

#: Inputs that choose how a row is bought and sold, not what is ordered: never sent to the
#: panel and not part of a row's fingerprint (so adding them keeps every journal valid).
ROW_OPTIONS: dict[str, str] = {
    "panel": "Panel",
    "sell_price": "Sell price",
    "sell_per_order": "Sell per order",
}

#: Outputs created when the sheet has a ``Sell price`` column (in this order).
PROFIT_COLUMNS: dict[str, str] = {"cost": "Cost", "profit": "Profit", "margin": "Margin"}

#: The inputs most orders need: the template's first columns, always shown.
MAIN_INPUTS: tuple[str, ...] = ("service", "link", "quantity")


def column_groups() -> dict[str, list[str]]:
    """The order sheet's column keys by group, left to right as the template lays them out.

    ``main``: :data:`MAIN_INPUTS`; ``optional``: every other input (the fields of some
    service types: drip-feed, comments, usernames...); ``actions``: the Refill and Cancel
    flags; ``outputs``: what smmsheet writes. A column added to ``INPUT_COLUMNS`` or
    ``OUTPUT_COLUMNS`` lands in its group without layout edits.
    """
    return {
        "main": [k for k in MAIN_INPUTS if k in INPUT_COLUMNS],
        "optional": [k for k in INPUT_COLUMNS if k not in MAIN_INPUTS and k not in _FLAGS],
        "actions": [k for k in _FLAGS if k in INPUT_COLUMNS],
        "outputs": list(OUTPUT_COLUMNS),
    }


#: How a column's values look, by kind: (width in characters, Excel number format).
_LOOKS: dict[str, tuple[float, str | None]] = {
    "id": (12, "0"),
    "count": (11, "#,##0"),
    "money": (12, "#,##0.00###"),
    "percent": (9, "0.0%"),
    "datetime": (18, "yyyy-mm-dd hh:mm"),
    "date": (12, "yyyy-mm-dd"),
    "long": (40, None),
    "choice": (30, None),  # "id – name" from the Service drop-down
    "status": (13, None),
}
#: The kind of each column whose values are not short text (unknown keys: short text, so a
#: column another change adds still gets a readable width).
_KINDS: dict[str, str] = {
    "service": "choice",
    "link": "long",
    "quantity": "count",
    "runs": "count",
    "interval": "count",
    "comments": "long",
    "usernames": "long",
    "order_id": "id",
    "status": "status",
    "charge": "money",
    "start_count": "count",
    "remains": "count",
    "refill_id": "id",
    "refill_status": "status",
    "error": "long",
    "updated": "datetime",
    "cost": "money",
    "profit": "money",
    "sell_price": "money",
    "sell_per_order": "money",
    "margin": "percent",
    "refill_until": "date",
}
#: Currencies whose amounts have no minor unit (ISO 4217): no decimals forced.
_WHOLE_CURRENCIES = frozenset({"JPY", "KRW", "VND", "CLP", "ISK", "UGX", "PYG"})


def column_look(key: str, currency: str = "") -> NewColumn:
    """The header, width and number format of a column of the order sheet.

    Money is shown with the currency's decimals (up to five, as panels charge fractions of
    a cent) and its code; counts as whole numbers; Updated as a date and time.

    >>> column_look("charge", "USD").number_format
    '#,##0.00### "USD"'
    """
    title = _TITLES.get(key, key.replace("_", " ").title())
    kind = _KINDS.get(key)
    width, number_format = _LOOKS[kind] if kind else (max(10, len(title) + 3), None)
    if kind == "money":
        code = currency.strip().upper()
        if code in _WHOLE_CURRENCIES:
            number_format = "#,##0.#####"
        if code.isalpha() and code.isascii() and len(code) <= 5:  # panel text: letters only
            number_format = f'{number_format} "{code}"'
            width += len(code) + 2  # " USD" after the number, or it shows as ###
    return NewColumn(title, max(width, len(title) + 3), number_format)


#: Order statuses after which nothing changes any more (with the variants seen in the wild).
FINAL_STATUSES = frozenset(
    {"completed", "partial", "canceled", "cancelled", "refunded", "fail", "failed"}
)
FINAL_REFILL_STATUSES = frozenset({"completed", "rejected", "canceled", "cancelled", "error"})

#: Start of the Error text of a row whose ``add`` may have been placed: never placed again
#: until the user checks the panel and clears the cell (or types the Order ID).
AMBIGUOUS_MARK = "check panel: may have been placed"
#: Start of the Error text of a row placed with a warning (e.g. a Quantity its type ignores).
#: A note is not an error: it stays until another message replaces it or the user clears it.
NOTE_MARK = "Note:"

#: ``add`` fields that are not order inputs of a type but flags of the sheet.
_FLAGS = ("refill", "cancel")
#: Fields that hold one item per line; their line count is the quantity of comment types.
_LIST_FIELDS = ("comments", "usernames")
#: A service cell's id: alone, or before a name ("12 - Likes", "12: Likes", "12 Likes").
_SERVICE_ID = re.compile(r"\s*(\d+)(?:\s*$|\s*[-\u2013\u2014:|]|\s+)")
HEADER_SCAN_ROWS = 10


def normalize_header(text: object) -> str:
    """Header text as compared: lower case, no spaces, underscores or dashes."""
    return re.sub(r"[\s_\-]+", "", str(text)).lower() if text is not None else ""


_TITLES = {**INPUT_COLUMNS, **ROW_OPTIONS, **OUTPUT_COLUMNS, **PROFIT_COLUMNS}

#: Other spellings of each column's header, as people write them (compared like headers:
#: case, spaces, underscores, dashes, dots, a trailing ``?``/``:``/``*`` and a trailing
#: ``(...)`` ignored). A column missing here is known by its title only. Words that mean
#: two things are left out on purpose and only warned about (see ``_AMBIGUOUS``): "Amount"
#: may be a quantity or money, "ID" or "Order" the user's own reference.
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "service": (
        "Service ID",
        "Service #",
        "Service No",
        "Service Number",
        "Svc",
        "Svc ID",
        "Services",
    ),
    "link": (
        "URL",
        "Link URL",
        "Links",
        "Target URL",
        "Target Link",
        "Post Link",
        "Post URL",
        "Profile Link",
        "Profile URL",
        "Page URL",
    ),
    "quantity": ("Qty", "Qnty", "Quant", "Quantities", "Order Quantity", "Qty Ordered"),
    "runs": ("Run", "Drip Runs", "Dripfeed Runs", "Drip Feed Runs"),
    "interval": ("Drip Interval", "Interval Minutes", "Interval Mins"),
    "comments": ("Custom Comments", "Comment List"),  # not "Comment": often one's notes
    "usernames": ("Usernames List", "Username List", "Mention Usernames"),
    "hashtags": ("Hashtag List",),
    "username": ("Handle", "Profile Username"),
    "media": ("Media URL", "Media Link"),
    "answer_number": ("Answer", "Answer No", "Answer #", "Poll Answer"),
    "groups": ("Group List", "Group Links"),
    "keywords": ("Keyword List", "SEO Keywords"),
    "min": ("Minimum", "Min Quantity"),
    "max": ("Maximum", "Max Quantity"),
    "posts": ("New Posts", "Future Posts"),
    "old_posts": ("Previous Posts",),
    "delay": ("Delay Minutes", "Delay Mins"),
    "expiry": ("Expires", "Expiry Date", "Expiration"),
    "country": ("Countries", "Geo"),
    "device": ("Device Type",),
    "google_keyword": ("Search Keyword",),
    "type_of_traffic": ("Traffic Type",),
    "referring_url": ("Referrer", "Referrer URL", "Referring Link"),
    "refill": ("Request Refill", "Refill Request"),
    "cancel": ("Request Cancel", "Cancel Request"),
    "order_id": (
        "Order #",
        "Order No",
        "Order Number",
        "Order Nr",
        "Ord ID",
        "Ord #",
        "Ord No",
        "OrderID",
        "Panel Order ID",
        "Panel Order",
        "SMM Order ID",
    ),
    "status": ("Order Status",),
    "charge": ("Charged", "Panel Charge"),
    "start_count": ("Starting Count", "Initial Count"),
    "remains": ("Remaining", "Remain"),
    "refill_id": ("Refill #", "Refill No", "Refill Number", "RefillID"),
    "currency": ("Charge Currency",),
    "refill_status": ("Refill State",),
    "error": ("Errors", "Error Message"),
    "updated": ("Last Updated", "Updated At", "Updated On", "Last Update"),
}
#: Headers that may mean a known column but also something else: warned about, never read.
_AMBIGUOUS: dict[str, str] = {
    "amount": "quantity",
    "id": "order_id",
    "id#": "order_id",
    "idno": "order_id",
    "idnumber": "order_id",
    "panelid": "order_id",  # or which panel, in a sheet that uses several
    "smmid": "order_id",
    "order": "order_id",
    "count": "quantity",
}
#: Words people use for columns of their own that are one letter from one of ours.
_OWN_WORDS = frozenset({"comment", "ordered", "user", "tags"})
_TRAILING = re.compile(r"(\(.*\)|\[.*\]|[?:*.])+$")


#: Letters of other scripts drawn like a Latin one ("\u041erder ID" with a Cyrillic O looks
#: exactly like "Order ID"): read as that letter, so such a header is known, not silently unread.
_LOOK_ALIKES = str.maketrans(  # Cyrillic, then Greek and the dotless i
    "\u0430\u0432\u0435\u0455\u0456\u0458\u043a\u043c\u043d\u043e\u0440\u0441\u0442\u0443"
    "\u0445\u0501\u04bb\u051b\u051d\u04af\u04cf"
    "\u03b1\u03b2\u03b5\u03b6\u03b7\u03b9\u03ba\u03bc"
    "\u03bd\u03bf\u03c1\u03c4\u03c5\u03c7\u0131",
    "abesijkmhopctyxdhqwylabezhikmnoptyxi",
)


def _latin(text: str) -> str:
    """``text`` with full-width and look-alike letters as Latin ones, invisible marks gone."""
    folded = unicodedata.normalize("NFKC", text).lower()
    if folded.isascii():
        return folded
    visible = "".join(ch for ch in folded if unicodedata.category(ch) != "Cf")
    return visible.translate(_LOOK_ALIKES)


def header_key(text: object) -> str:
    """A header cell as it is compared: ``normalize_header`` without dots, a trailing
    ``?``/``:``/``*`` or a trailing ``(...)``.

    >>> header_key("Order No."), header_key("Charge (USD)"), header_key("Refill?")
    ('orderno', 'charge', 'refill')
    """
    if text is None or isinstance(text, bool):
        return ""
    flat = normalize_header(_latin(str(text)).strip())
    bare = _TRAILING.sub("", flat).replace(".", "")
    return bare or flat


_HEADER_KEYS: dict[str, str] = {header_key(v): k for k, v in _TITLES.items()}
for _key, _spellings in HEADER_ALIASES.items():
    for _spelling in _spellings:
        _HEADER_KEYS.setdefault(header_key(_spelling), _key)


def _known(text: object) -> str | None:
    """The column a header cell names: one of its spellings, or words that all name the
    same column joined by ``/`` or ``|`` ("Link/URL", "URL | Link")."""
    key = _HEADER_KEYS.get(header_key(text))
    if key is not None or not isinstance(text, str) or not _JOINED.search(text):
        return key
    keys = {_HEADER_KEYS.get(header_key(part)) for part in _JOINED.split(text)}
    return keys.pop() if len(keys) == 1 else None


_JOINED = re.compile(r"\s*[/|]\s*")


def _distance(a: str, b: str, limit: int) -> int:
    """Edit distance of ``a`` and ``b`` (a swap of neighbours counts 1), or ``limit + 1``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    before: list[int] | None = None
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        current = [i]
        for j, y in enumerate(b, start=1):
            cost = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y))
            if before is not None and i > 1 and j > 1 and x == b[j - 2] and a[i - 2] == y:
                cost = min(cost, before[j - 2] + 1)
            current.append(cost)
        before, previous = previous, current
        if min(previous) > limit:
            return limit + 1
    return previous[-1]


def _near_miss(text: str) -> str | None:
    """The key of the known column an unknown header looks like (a typo, a doubtful word)."""
    key = header_key(text)
    if key in _AMBIGUOUS:
        return _AMBIGUOUS[key]
    if len(key) < 3 or not key.isascii() or key in _OWN_WORDS:
        return None
    limit = 1 if len(key) < 8 else 2
    best: tuple[int, str] | None = None
    for known, column in _HEADER_KEYS.items():
        if len(known) < 3:
            continue
        distance = _distance(key, known, limit)
        if distance <= limit and (best is None or distance < best[0]):
            best = (distance, column)
    return best[1] if best else None


def _shown(header: Sequence[CellValue]) -> str:
    """The non-empty cells of a header row, for a message: ``'Svc', 'Lnk', 'Qty'``."""
    found = [repr(str(v).strip()) for v in header if not _blank(v)]
    return ", ".join(found[:40]) or "none"


#: The columns that make a row the header row.
_HEADER_NEEDS = frozenset({"service", "link"})


class OpenOrders:
    """Hands ``take`` the id of each open order as its row is read, before the table is
    built: a refresh asks the panel about them while the rest of the sheet is still read.

    Pass :meth:`see` as ``watch`` to :meth:`~smmsheet.workbook.base.WorkbookAdapter.read_values`.
    It finds the header row as :meth:`OrderTable.from_values` does, then takes each row
    with an Order ID whose Status is not final, as the refresh does. It only guesses
    ahead: the refresh asks again for what it wants and was not asked, so a row it
    misreads costs one request, never a wrong status. It gives up on a sheet whose rows
    may name panels (a ``Panel`` column: which panel is the refresh's to know), on one whose
    header the table refuses (two columns that mean one thing: nothing is asked for a run
    that stops there), and once ``take`` says it has enough (returns False).
    """

    def __init__(self, take: Callable[[str], bool]) -> None:
        self._take = take
        self._scanned = 0
        self._at: tuple[int, int | None] | None = None  # Order ID and Status, 0-based
        self._final: dict[CellValue, bool] = {}  # a sheet holds a handful of statuses
        self.done = False

    def see(self, row: Sequence[CellValue]) -> None:
        """Look at the next row of the sheet (rows come top to bottom from A1)."""
        if self.done:
            return
        at = self._at
        if at is None:
            self._header(row)
            return
        i, s = at
        width = len(row)
        found = row[i] if i < width else None
        if found is None:
            return
        status = row[s] if s is not None and s < width else None
        final = self._final.get(status)
        if final is None:
            final = self._final[status] = is_final(status)
        if final:
            return
        oid = parse_id(found)
        if oid is not None and not self._take(oid):
            self.done = True

    def _header(self, row: Sequence[CellValue]) -> None:
        self._scanned += 1
        if not _HEADER_NEEDS <= {_known(v) for v in row}:
            self.done = self._scanned >= HEADER_SCAN_ROWS  # no header: the read will say so
            return
        try:
            columns = _header_columns(row)
        except LayoutError:  # two columns that mean one thing: the table refuses the sheet
            columns = {}
        if "panel" in columns or "order_id" not in columns:
            self.done = True
            return
        status = columns.get("status")
        self._at = (columns["order_id"] - 1, None if status is None else status - 1)


def _header_columns(header: Sequence[CellValue]) -> dict[str, int]:
    """The columns a header row names: field key -> 1-based column; raises
    :class:`LayoutError` when two columns mean one thing."""
    columns: dict[str, int] = {}
    for col, text in enumerate(header, start=1):
        key = _known(text)
        if key and key in columns:
            # Which one holds the Order IDs? Guessing could buy a placed row again.
            first = columns[key]
            raise LayoutError(
                f"two columns mean {_TITLES[key]!r}: {column_letters(first)} "
                f"({header[first - 1]!s}) and {column_letters(col)} ({text!s}); keep one"
            )
        if key:
            columns[key] = col
    return columns


def is_final(status: object, refill: bool = False) -> bool:
    """Whether an order (or refill) status will not change any more."""
    if status is None:
        return False
    finals = FINAL_REFILL_STATUSES if refill else FINAL_STATUSES
    return normalize_header(status) in finals  # "Cancelled", "CANCELED ", "in_progress"


#: Digits a cell keeps exactly as a number (Excel holds 15 significant digits).
_EXACT_DIGITS = 15


def id_cell(identifier: str) -> int | str:
    """How an order or refill id is written into its cell: a number when it is a plain whole
    number a cell keeps exactly (sorts and filters like the user's own ids), text otherwise.

    >>> id_cell("1001"), id_cell("ORD-880332"), id_cell("00123")
    (1001, 'ORD-880332', '00123')
    """
    if identifier.isascii() and identifier.isdigit() and len(identifier) <= _EXACT_DIGITS:
        if identifier[0] != "0":
            return int(identifier)
    return identifier


def _blank(value: CellValue) -> bool:
    """Empty, or text of spaces only (a hyperlink that shows nothing but has an address is not)."""
    if value is None:
        return True
    if isinstance(value, str) and not value.strip():
        return not (isinstance(value, LinkedText) and _address(value))
    return False


def _address(value: LinkedText) -> bool:
    """Whether a hyperlink's target is an address to order (not a place in the workbook)."""
    return bool(value.target) and not (value.target or "").lstrip().startswith("#")


class RowValues(MutableMapping[str, CellValue]):
    """An order row's fields by key, kept in the row's own list of cells.

    A dict per row would hold a second copy of every row (a million rows: ~400 MB more);
    this reads and writes the list the workbook returned, through the column index the
    table's rows share. Only the columns the sheet has are fields; a field written that
    the sheet has no column for yet (an output column to create) is kept aside.
    """

    __slots__ = ("_cells", "_extra", "_index")

    def __init__(self, cells: list[CellValue], index: Mapping[str, int]) -> None:
        self._cells = cells
        self._index = index  # key -> 0-based column, shared by every row of a table
        self._extra: dict[str, CellValue] | None = None

    def get(self, key: str, default: CellValue = None) -> CellValue:  # type: ignore[override]
        i = self._index.get(key)
        if i is not None:
            cells = self._cells
            return cells[i] if i < len(cells) else None
        if self._extra is None:
            return default
        return self._extra.get(key, default)

    def __getitem__(self, key: str) -> CellValue:
        if key in self._index or (self._extra is not None and key in self._extra):
            return self.get(key)
        raise KeyError(key)

    def __setitem__(self, key: str, value: CellValue) -> None:
        i = self._index.get(key)
        if i is None:
            if self._extra is None:
                self._extra = {}
            self._extra[key] = value
            return
        cells = self._cells
        if i >= len(cells):
            cells.extend([None] * (i + 1 - len(cells)))
        cells[i] = value

    def __delitem__(self, key: str) -> None:
        raise TypeError("an order row's fields cannot be removed")

    def __iter__(self) -> Iterator[str]:
        yield from self._index
        if self._extra is not None:
            yield from (k for k in self._extra if k not in self._index)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return repr(dict(self.items()))


#: What a Refill/Cancel cell may hold to say "no" (a checkbox's FALSE, a 0, a dash).
_FLAG_OFF = frozenset({"", "no", "n", "false", "0", "off", "-", "–"})


@dataclass(slots=True)
class OrderRow:
    """One data row of the order table: its sheet row number and its known fields."""

    row: int
    values: MutableMapping[str, CellValue]

    def get(self, key: str) -> CellValue:
        """The raw value of a field (None when the column is missing or the cell empty)."""
        return self.values.get(key)

    def text(self, key: str) -> str:
        """A field as stripped text ('' when empty); integral floats lose their '.0'."""
        value = self.values.get(key)
        if isinstance(value, LinkedText) and _address(value):
            # A hyperlinked cell means its address, not the words it shows.
            return (value.target or "").strip()
        if _blank(value):
            return ""
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        if isinstance(value, dt.datetime | dt.date):
            return value.strftime("%d/%m/%Y")
        return str(value).strip()

    @property
    def order_id(self) -> str | None:
        """The panel order id written in the row, as text (``1001.0`` reads as ``"1001"``)."""
        return parse_id(self.get("order_id"))

    @property
    def refill_id(self) -> str | None:
        """The refill id written in the row, as text, if any."""
        return parse_id(self.get("refill_id"))

    @property
    def service_id(self) -> int | None:
        """The service id of the row: ``12``, or text such as ``"12 - Instagram Likes"``.

        A date, TRUE/FALSE, a fraction or text such as ``"1,000"`` is no id.
        """
        value = self.get("service")
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            return None
        if isinstance(value, int | float):
            return int(value) if value == value and float(value).is_integer() else None
        match = _SERVICE_ID.match(value)
        return int(match.group(1)) if match else None

    def flag(self, key: str) -> bool:
        """A Refill/Cancel flag cell: x, yes, true, 1 or TRUE set it."""
        value = self.get(key)
        if _blank(value):
            return False
        if isinstance(value, str) and value.strip().lower() in {"x", "✓", "✔"}:
            return True
        return parse_bool(value)

    def unread_flag(self, key: str) -> str | None:
        """Text in a Refill/Cancel cell that :meth:`flag` does not set and that says no
        "no" either (``xx``, ``refill``): said to the user, never guessed; None otherwise.
        """
        value = self.get(key)
        if not isinstance(value, str) or self.flag(key) or value.strip().lower() in _FLAG_OFF:
            return None
        return value.strip()[:40]

    @property
    def is_ambiguous(self) -> bool:
        """The row's last add may have been placed; it must not be placed again."""
        return self.text("error").lower().startswith(AMBIGUOUS_MARK)

    def fingerprint(self) -> str:
        """A stable digest of the row's order inputs (identifies the row across runs)."""
        data = [self.text(k) for k in INPUT_COLUMNS if k not in _FLAGS]
        return hashlib.sha256(json.dumps(data).encode()).hexdigest()[:32]


@dataclass
class OrderTable:
    """The order table of a sheet: where its columns are and its data rows."""

    header_row: int
    columns: dict[str, int]
    rows: list[OrderRow]
    #: Output columns missing from the sheet: column number -> header text to create.
    new_columns: dict[int, str] = field(default_factory=dict)
    #: The last column the header row uses (the user's own columns included).
    width: int = 0

    #: Headers that look like a known column but are not read (a typo, a doubtful word):
    #: one sentence each, for the CLI to print and the ribbon to show. Not errors.
    warnings: list[str] = field(default_factory=list)
    #: The order rows as read ((number, cells)): a column added later skips one that holds
    #: something, as the output columns do.
    _raw: Sequence[tuple[int, Sequence[CellValue]]] = field(default=(), repr=False, compare=False)
    #: The column index the rows read from the sheet share (see RowValues).
    _index: Mapping[str, int] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_values(cls, values: Sequence[Sequence[CellValue]]) -> OrderTable:
        """Find the header row and parse the rows below it; raises :class:`LayoutError`."""
        header_index = None
        for index, row in enumerate(values[:HEADER_SCAN_ROWS]):
            if _HEADER_NEEDS <= {_known(v) for v in row}:
                header_index = index
                break
        if header_index is None:
            raise LayoutError(_no_header(values[:HEADER_SCAN_ROWS]))
        header = values[header_index]
        columns = _header_columns(header)
        _check_order_ids_seen(header, columns, values[header_index + 1 :])
        warnings = _header_warnings(header, columns)
        # Only the columns the sheet has: a missing one reads as None through OrderRow.get.
        present = [(k, c - 1) for k, c in columns.items()]
        keyed = [i for k, i in present if k in INPUT_COLUMNS or k == "order_id"]
        found: list[tuple[int, Sequence[CellValue]]] = []
        for number, raw in enumerate(values[header_index + 1 :], start=header_index + 2):
            width = len(raw)
            if any(i < width and not _blank(raw[i]) for i in keyed):
                found.append((number, raw))  # an order row (inputs or an order id)
        # New columns go right of the last header, each into the next column that holds
        # nothing on the order rows smmsheet writes: a column without a header (notes) or
        # whose header reads as empty (a formula with no cached value) is never overwritten.
        last = max((c for c, v in enumerate(header, start=1) if not _blank(v)), default=0)
        new_columns: dict[int, str] = {}
        outputs = {**OUTPUT_COLUMNS, **(PROFIT_COLUMNS if "sell_price" in columns else {})}
        for key, title in outputs.items():
            if key not in columns:
                last += 1
                while _holds_values(found, last):
                    last += 1
                columns[key] = last
                new_columns[last] = title
        # Each row keeps its own list of cells (see RowValues): the table takes them over.
        at = dict(present)
        rows = [
            OrderRow(number, RowValues(raw if type(raw) is list else list(raw), at))
            for number, raw in found
        ]
        return cls(
            header_index + 1,
            columns,
            rows,
            new_columns,
            width=last,
            warnings=warnings,
            _raw=found,
            _index=at,
        )

    def column(self, key: str) -> list[CellValue]:
        """``row.get(key)`` of every row, in order.

        Read straight from the cells of the rows that share the table's column index: the
        loops a run makes over each of 100,000 rows pay a method call per field otherwise.
        """
        i = self._index.get(key)
        if i is None:  # no such column in the sheet (yet): what each row holds aside
            return [row.values.get(key) for row in self.rows]
        shared = self._index
        out: list[CellValue] = []
        add = out.append
        for row in self.rows:
            values = row.values
            if type(values) is RowValues and values._index is shared:
                cells = values._cells
                add(cells[i] if i < len(cells) else None)
            else:  # a row made another way (a routed row's copy, a test's dict)
                add(values.get(key))
        return out

    def check_room(self) -> None:
        """Refuse a sheet whose header row leaves no room for the output columns it lacks
        (they are created right of its headers, and Excel stops at column XFD)."""
        past = [title for col, title in sorted(self.new_columns.items()) if col > MAX_COL]
        if past:
            raise LayoutError(
                f"no room for the output columns {', '.join(past)} right of the order sheet's "
                "headers (Excel stops at column XFD): add those headers yourself in free "
                "columns, or delete columns you do not need"
            )

    def header_cells(self) -> dict[tuple[int, int], CellValue]:
        """Cells that create the missing output headers."""
        return {(self.header_row, col): title for col, title in self.new_columns.items()}

    def add_column(self, key: str) -> None:
        """Create a column the engine needs to write (``Panel`` for a routed row) if missing."""
        if key not in self.columns:
            self.width = max(self.width, *self.columns.values()) + 1
            while _holds_values(self._raw, self.width):  # never over a header-less column
                self.width += 1
            self.columns[key] = self.width
            self.new_columns[self.width] = _TITLES[key]

    def new_column_looks(self, currency: str = "") -> dict[int, NewColumn]:
        """The missing output columns as the adapter creates them, with widths and formats."""
        keys = {column: key for key, column in self.columns.items()}
        return {col: column_look(keys[col], currency) for col in self.new_columns}

    def cell(self, row: int, key: str) -> tuple[int, int]:
        """The (row, column) of a field in a sheet row."""
        return (row, self.columns[key])


def _holds_values(rows: Sequence[tuple[int, Sequence[CellValue]]], col: int) -> bool:
    """Whether column ``col`` holds something on any of ``rows`` ((number, cells) pairs)."""
    return any(col <= len(raw) and not _blank(raw[col - 1]) for _, raw in rows)


def _near_misses(
    header: Sequence[CellValue], columns: Mapping[str, int]
) -> Iterator[tuple[int, str, str]]:
    """``(column, header text, key)`` of each header cell that looks like a known column the
    sheet lacks (a typo such as "Refil", or a doubtful word such as "Amount")."""
    for col, text in enumerate(header, start=1):
        if _blank(text) or _known(text):
            continue
        key = _near_miss(str(text))
        if key is not None and key not in columns:
            yield col, str(text).strip(), key


def _header_warnings(header: Sequence[CellValue], columns: Mapping[str, int]) -> list[str]:
    """A sentence for each header cell that looks like a known column the sheet lacks."""
    warnings: list[str] = []
    for col, text, key in _near_misses(header, columns):
        where, title = f"column {column_letters(col)} header {text!r}", _TITLES[key]
        if header_key(text) in _AMBIGUOUS:
            warnings.append(f"{where} is not read: if it holds the {title}, rename it {title!r}")
        else:
            warnings.append(f"{where} is not read: did you mean {title!r}?")
    return warnings


def _check_order_ids_seen(
    header: Sequence[CellValue],
    columns: Mapping[str, int],
    rows: Sequence[Sequence[CellValue]],
) -> None:
    """Refuse a sheet whose ids sit under a misspelt Order ID header ("Oder ID", "Ordr #").

    smmsheet would not see them and would buy those rows again. Under a doubtful word
    ("ID", "Order"), numbers stop the run too (a reseller's own sheet often calls the
    panel's id "ID"; one rename settles it either way); text there (notes) is only warned
    about.
    """
    for col, text, key in _near_misses(header, columns):
        if key != "order_id":
            continue
        cells = [row[col - 1] for row in rows if col <= len(row) and not _blank(row[col - 1])]
        if header_key(text) in _AMBIGUOUS:
            if any(_whole_number(cell) for cell in cells):
                raise LayoutError(
                    f"column {column_letters(col)} header {text!r} holds numbers: if they are "
                    "panel order ids, rename it 'Order ID' (else smmsheet would place those "
                    "rows again); if they are your own numbers, rename it (e.g. 'My ref')"
                )
            continue
        if cells:
            raise LayoutError(
                f"column {column_letters(col)} header {text!r} looks like 'Order ID' and holds "
                "values, but smmsheet does not read it: rows with an order id there would be "
                "placed again. Rename it 'Order ID' (or to another name if it holds no panel "
                "order ids)"
            )


def _whole_number(value: CellValue) -> bool:
    """A number or digits only: what an order id looks like (``1001``, ``"1001"``)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return float(value).is_integer()
    return isinstance(value, str) and value.strip().isdigit()


def _no_header(rows: Sequence[Sequence[CellValue]]) -> str:
    """Why no header row was found, with the headers that were (the likeliest row's)."""
    scored = [
        (sum(1 for v in row if _known(v) or _near_miss(str(v))), -i, i)
        for i, row in enumerate(rows)
        if any(not _blank(v) for v in row)
    ]
    message = f"no header row with 'Service' and 'Link' in the first {HEADER_SCAN_ROWS} rows"
    if not scored:
        return message + " of the sheet (the sheet is empty there)"
    index = max(scored)[2]
    header = rows[index]
    found = {_known(v) for v in header}
    missing = [_TITLES[k] for k in ("service", "link") if k not in found]
    hints = _header_warnings(header, {})
    message += f"; row {index + 1} has {_shown(header)} but no {' or '.join(map(repr, missing))}"
    return message + (f"; {'; '.join(hints)}" if hints else "")


# --------------------------------------------------------------------------- validation


@dataclass(frozen=True)
class OrderPlan:
    """A validated row: what ``add`` will be sent and what it should cost.

    ``cost`` is the most the order may cost (what a cap is checked against); ``cost_low``
    the least, when panels differ in how they bill the type (packages). Both are None when
    the panel's service list gives no price for the service. ``note`` is a warning for the
    row that does not stop it (a Quantity the type ignores).
    """

    row: int
    service: Service
    fields: dict[str, str]
    total: int
    cost: Decimal | None
    fingerprint: str
    cost_low: Decimal | None = None
    note: str | None = None

    @property
    def lowest_cost(self) -> Decimal | None:
        """The least the order may cost (what the balance is checked against)."""
        return self.cost if self.cost_low is None else self.cost_low


@dataclass(frozen=True)
class RowProblem:
    """Why a row cannot be placed, in the words its Error cell gets."""

    row: int
    message: str

    def __str__(self) -> str:
        return self.message


# Required fields per service type (lower-cased type name). "qty" = quantity is required;
# "lines:comments" = quantity is the number of lines of that field.
_REQUIRED: dict[str, tuple[str, ...]] = {
    "default": ("link", "quantity"),
    "package": ("link",),
    "seo": ("link", "quantity", "keywords"),
    "custom comments": ("link", "comments"),
    "custom comments package": ("link", "comments"),
    "mentions": ("link", "quantity", "usernames"),
    "mentions with hashtags": ("link", "quantity", "usernames", "hashtags"),
    "mentions custom list": ("link", "usernames"),
    "mentions hashtag": ("link", "quantity", "hashtag"),
    "mentions user followers": ("link", "quantity", "username"),
    "mentions media likers": ("link", "quantity", "media"),
    "comment likes": ("link", "quantity", "username"),
    "poll": ("link", "quantity", "answer_number"),
    "invites from groups": ("link", "quantity", "groups"),
    "comment replies": ("link", "username", "comments"),
    "subscriptions": ("username", "min", "max", "delay"),
    "web traffic": ("link", "quantity"),
}
_OPTIONAL: dict[str, tuple[str, ...]] = {
    "default": ("runs", "interval"),
    "subscriptions": ("posts", "old_posts", "expiry"),
    "web traffic": (
        "runs",
        "interval",
        "country",
        "device",
        "type_of_traffic",
        "google_keyword",
        "referring_url",
    ),
}
#: Types whose quantity is the number of lines of a list field.
_COUNTED: dict[str, str] = {
    "custom comments": "comments",
    "mentions custom list": "usernames",
    "comment replies": "comments",
}
_PACKAGES = frozenset({"package", "custom comments package"})
#: Types that never send the Quantity column (see _ignored_quantity).
_IGNORES_QUANTITY = frozenset({*_COUNTED, *_PACKAGES, "subscriptions"})
_DELAYS = frozenset({0, 5, 10, 15, 30, 60, *range(90, 601, 30)})
_INT_FIELDS = (
    "quantity",
    "runs",
    "interval",
    "min",
    "max",
    "posts",
    "old_posts",
    "delay",
    "device",
    "type_of_traffic",
    "answer_number",
)


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.replace("\r", "\n").split("\n") if line.strip()]


def _web_traffic_problem(fields: Mapping[str, str]) -> str | None:
    """Web Traffic's own rules: device 1-5, traffic type 1-3 and the field each type needs."""
    device = fields.get("device")
    if device is not None and device not in {"1", "2", "3", "4", "5"}:
        return "Device must be 1 to 5"
    traffic = fields.get("type_of_traffic")
    if traffic is not None and traffic not in {"1", "2", "3"}:
        return "Type Of Traffic must be 1 (keyword), 2 (referrer) or 3 (blank)"
    if traffic == "1" and not fields.get("google_keyword"):
        return "Google Keyword required for Type Of Traffic 1"
    if traffic == "2" and not fields.get("referring_url"):
        return "Referring URL required for Type Of Traffic 2"
    return None


#: Fields that hold an address (a URL or a profile): a number there is never one.
_ADDRESS_FIELDS = frozenset({"link", "media", "referring_url"})
#: Where an address starts after the start of the cell or a space: two of them are two links
#: pasted side by side (a redirect's ``?u=https://`` is inside one).
#: Zero-width spaces, direction marks and BOMs (with spaces) at either end of an address:
#: an app's "copy link" adds them, the user cannot see them, a panel refuses the link.
_INVISIBLE_ENDS = re.compile(r"^[\s\u200b-\u200f\u2060\ufeff]+|[\s\u200b-\u200f\u2060\ufeff]+$")
_ADDRESS_START = re.compile(r"(?:^|[\s,;])(?:[a-z][a-z0-9+.-]*://|www\.)", re.IGNORECASE)


def same_address(typed: str, sent: str) -> bool:
    """Whether a cell's address is the one an order was sent with (marks a panel never
    sees, around either, aside).

    >>> same_address("https://x.com/p/1\u200b", "https://x.com/p/1")
    True
    """
    return _INVISIBLE_ENDS.sub("", typed) == _INVISIBLE_ENDS.sub("", sent)


def stale_pick(cell: CellValue, service: Service, services: Mapping[int, Service]) -> str | None:
    """A row error when the name after a Service cell's id (``"12 – Instagram Likes"``, a
    drop-down pick) is another service's name in the panel's list: picked from a list the
    panel has renumbered since, the row would buy another product than the one it shows.

    A name no service has (the user's own note, a renamed service) is let pass.
    """
    if not isinstance(cell, str) or (match := _SERVICE_ID.match(cell)) is None:
        return None
    named = _name_key(cell[match.end() :])
    if not named or named == _name_key(service.name):
        return None
    other = _names_of(services).get(named)
    if other is None:
        return None
    return (
        f"Service {service.id} is {service.name!r} on the panel, but the cell names "
        f"{other.name!r}, which is service {other.id}: load the services again (Load "
        "services, or smmsheet services --into) and pick it again"
    )


#: The service lists looked up by name lately (by id), each with its services by name: one
#: list serves a whole run per panel, and looking through 3,000 services for each of 10,000
#: rows took 22 s. A few are kept: rows alternate between panels, the add-in's profiles.
_NAMES: dict[int, tuple[Mapping[int, Service], dict[str, Service]]] = {}
_NAMES_KEPT = 8


def _names_of(services: Mapping[int, Service]) -> dict[str, Service]:
    """``services`` by name as a pick names them (the first service of each name)."""
    known = _NAMES.get(id(services))
    if known is not None and known[0] is services:  # held here: its id is not reused
        return known[1]
    index: dict[str, Service] = {}
    for service in services.values():
        index.setdefault(_name_key(service.name), service)
    if len(_NAMES) >= _NAMES_KEPT:  # lists of runs gone by: cleared at once (safe in threads)
        _NAMES.clear()
    _NAMES[id(services)] = (services, index)
    return index


def _name_key(name: str) -> str:
    """A service name as compared with a drop-down pick: case and spacing aside."""
    return " ".join(name.casefold().split()).strip(" -\u2013\u2014:|")


def _hidden_link(row: OrderRow, keys: Sequence[str]) -> str | None:
    """A row error for a hyperlinked cell whose address cannot be known: never order its words.

    Nor a number or a date where an address belongs: a formula saved by a program that does not
    calculate (xlsxwriter, pandas) reads as 0 until Excel opens the file, and ordering
    "0" buys nothing the user sees. Nor two addresses pasted into one cell, which the
    panel would take for one link.
    """
    for key in keys:
        value = row.get(key)
        if isinstance(value, LinkedText) and not _address(value):
            return (
                f"{INPUT_COLUMNS[key]} shows {str(value)[:60]!r} but is a hyperlink whose address "
                "cannot be read (a link inside the workbook, or a HYPERLINK built from other "
                "cells): type the address itself into the cell"
            )
        if key in _ADDRESS_FIELDS and len(lines := row.text(key).splitlines()) > 1:
            return f"{INPUT_COLUMNS[key]} holds {len(lines)} lines: put one address per row"
        if key in _ADDRESS_FIELDS and len(found := _ADDRESS_START.findall(row.text(key))) > 1:
            return f"{INPUT_COLUMNS[key]} holds {len(found)} addresses: put one address per row"
        if key in _ADDRESS_FIELDS and isinstance(value, int | float | Decimal):
            if not isinstance(value, bool):
                return (
                    f"{INPUT_COLUMNS[key]} holds the number {row.text(key)}, not an address; "
                    "if the cell is a formula, its value was never calculated (a file written "
                    "by a script): open the workbook in Excel or LibreOffice and save it"
                )
        if key in _ADDRESS_FIELDS and isinstance(value, dt.date):
            # Excel turns a pasted "1-11" or "11/1" into a date: never an address to order.
            return (
                f"{INPUT_COLUMNS[key]} holds the date {row.text(key)}, not an address: "
                "type the address itself into the cell"
            )
    return None


def _unknown_input(row: OrderRow, keys: Sequence[str]) -> str | None:
    """A row error for an input whose value cannot be known (#REF!, a formula never
    calculated): reading it as empty would order something else than the sheet says."""
    for key in keys:
        value = row.get(key)
        if isinstance(value, UnknownValue):
            return f"{INPUT_COLUMNS[key]} {unknown_text(value)}: correct it, or clear it"
    return None


def unknown_text(value: UnknownValue) -> str:
    """How a cell that cannot be read is described in its row's error.

    >>> unknown_text(UnknownValue("#REF!"))
    "shows '#REF!' (an Excel error), so its value cannot be known"
    """
    if value.startswith("="):
        return (
            f"holds the formula {str(value)[:60]!r} with no calculated value (the file was "
            "saved by a program that does not calculate: open and save it in Excel)"
        )
    return f"shows {str(value)[:60]!r} (an Excel error), so its value cannot be known"


def validate(row: OrderRow, services: Mapping[int, Service]) -> OrderPlan | RowProblem:
    """Check a row against the panel's services: its plan, or the problem to write in its row.

    >>> validate(row, services)  # doctest: +SKIP
    RowProblem(row=9, message="Unknown service 999 (not in the panel's service list)")
    """
    sid = row.service_id
    if sid is None:
        if not row.text("service"):
            return RowProblem(row.row, "Service is missing")
        return RowProblem(
            row.row, f"Service must be an id number (12, or 12 - name), got {row.text('service')!r}"
        )
    service = services.get(sid)
    if service is None:
        return RowProblem(row.row, f"Unknown service {sid} (not in the panel's service list)")
    stale = stale_pick(row.get("service"), service, services)
    if stale:
        return RowProblem(row.row, stale)
    kind = service.type.strip().lower()
    required = _REQUIRED.get(kind, ("link", "quantity"))
    optional = _OPTIONAL.get(kind, ())
    hidden = _hidden_link(row, (*required, *optional)) or _unknown_input(
        row, (*required, *optional)
    )
    if hidden:
        return RowProblem(row.row, hidden)
    missing = [INPUT_COLUMNS[k] for k in required if not _INVISIBLE_ENDS.sub("", row.text(k))]
    if missing:
        return RowProblem(
            row.row, f"{', '.join(missing)} required for {service.type} service {sid}"
        )

    fields: dict[str, str] = {}
    numbers: dict[str, int] = {}
    for key in (*required, *optional):
        text = row.text(key)
        if not text:
            continue
        if key in _INT_FIELDS:
            try:
                number = whole_number(row.get(key))  # never truncated: "10.5", a date: refused
            except Unreadable as exc:
                return RowProblem(
                    row.row, f"{INPUT_COLUMNS[key]} must be a whole number, got {exc}"
                )
            if number < 0:
                return RowProblem(
                    row.row, f"{INPUT_COLUMNS[key]} must not be negative, got {number}"
                )
            numbers[key] = number
            text = str(number)
        if key in _LIST_FIELDS:
            text = "\n".join(_lines(text))
        if key in _ADDRESS_FIELDS:
            text = _INVISIBLE_ENDS.sub("", text)
        fields[key] = text

    if ("runs" in numbers) != ("interval" in numbers):
        return RowProblem(
            row.row, "Runs and Interval go together (drip-feed): fill both or neither"
        )
    if "runs" in numbers:
        if numbers["runs"] < 1 or numbers["interval"] < 1:
            return RowProblem(row.row, "Runs and Interval must be at least 1")
        if service.dripfeed is False:
            return RowProblem(
                row.row, f"Service {sid} does not offer drip-feed: leave Runs and Interval empty"
            )
    if kind == "web traffic":
        problem = _web_traffic_problem(fields)
        if problem:
            return RowProblem(row.row, problem)

    if kind in _COUNTED:
        quantity = len(_lines(fields[_COUNTED[kind]]))
    elif kind in _PACKAGES:
        quantity = 1
    elif kind == "subscriptions":
        low, high = numbers["min"], numbers["max"]
        if low > high:
            return RowProblem(row.row, f"Min {low} is more than Max {high}")
        if numbers["delay"] not in _DELAYS:
            return RowProblem(
                row.row, "Delay must be one of 0, 5, 10, 15, 30, 60, 90 ... 600 minutes"
            )
        quantity = high
        if low < service.min or high > service.max:
            return RowProblem(
                row.row, f"Min/Max must be within {service.min}..{service.max} for service {sid}"
            )
    else:
        quantity = numbers["quantity"]

    if kind not in _PACKAGES and kind != "subscriptions":
        if quantity < service.min:
            return RowProblem(
                row.row, f"Quantity {quantity} is below the minimum {service.min} for service {sid}"
            )
        if service.max and quantity > service.max:
            return RowProblem(
                row.row, f"Quantity {quantity} is above the maximum {service.max} for service {sid}"
            )
    runs = numbers.get("runs", 1)
    total = quantity * runs
    rate = service.rate
    cost: Decimal | None
    cost_low: Decimal | None = None
    if rate is None:
        cost = None  # no price listed: the engine decides (never assumed free)
    elif kind in _PACKAGES:
        # Most panels bill a package at its rate; some bill rate x quantity / 1000, the
        # quantity being 1 or the comment lines. Both are plausible: a cap is checked against
        # the higher, the balance against the lower (the panel refuses what it cannot charge).
        count = len(_lines(fields["comments"])) if kind == "custom comments package" else 1
        per_1000 = rate * count / 1000
        cost, cost_low = max(rate, per_1000), min(rate, per_1000)
    elif kind == "subscriptions":
        # Without Posts a subscription orders for every future post: no cost can be known.
        posts = numbers.get("posts", 0)
        cost = rate * total * posts / 1000 if posts > 0 else None
    else:
        cost = rate * total / 1000
    note = _ignored_quantity(row, kind, service, fields)
    return OrderPlan(
        row.row, service, fields, total, cost, row.fingerprint(), cost_low=cost_low, note=note
    )


def _ignored_quantity(
    row: OrderRow, kind: str, service: Service, fields: Mapping[str, str]
) -> str | None:
    """A Quantity typed for a type that does not use it: said to the user, never used.

    Package orders one package; Custom Comments, Mentions Custom List and Comment Replies
    count their lines; Subscriptions use Min and Max.
    """
    typed = row.text("quantity")
    if not typed or kind not in _IGNORES_QUANTITY:
        return None
    listed = _COUNTED.get(kind) or ("comments" if kind == "custom comments package" else None)
    if kind == "subscriptions":
        return f"Quantity {typed} is ignored: Subscriptions order Min to Max per post"
    counted = len(_lines(fields[listed])) if listed else 1
    try:
        if whole_number(row.get("quantity")) == counted:
            return None  # says what the type orders anyway
    except Unreadable:
        pass
    if listed is None:
        return f"Quantity {typed} is ignored: a {service.type} service orders one package a row"
    return (
        f"Quantity {typed} is ignored: {service.type} orders one per line of "
        f"{INPUT_COLUMNS[listed]} ({counted} lines)"
    )
