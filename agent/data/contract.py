"""Validation of user files against the data contract.

Every problem is raised as a `DataError` that names the file, the row and the
column, because a planner fixing a spreadsheet needs to find the cell. What the
loader repairs itself (zero-filling gaps, dropping time-zone offsets) is returned
as `Fix` records so it is reported, never silent.

Hostile and careless files found by the red-team corpus (tests/redteam/) are
stopped here rather than deep inside pandas: NUL bytes (the CSV parser cut
`oat\x00milk` to `oat`), values that overflow a sum (all y = 1e308 summed to
inf and forecast NaN), numeric dates (epoch seconds were read as nanoseconds),
`dd.mm.yyyy` dates (read month-first as consecutive January days), dates past
pandas' range (a 2262 horizon raised OutOfBoundsDatetime), mixed time-zone
offsets (a traceback), and a directory given as a file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from agent.data.dataset import Fix
from agent.product import product_text
from agent.safe_text import clean

SALES_REQUIRED = ["unique_id", "ds", "y"]
CATALOG_REQUIRED = ["unique_id", "title"]
# Median spacing between observations (in days) -> pandas frequency family.
_FREQ_BY_DAYS = {1: "D", 7: "W"}
# Units in one period above this are an error: beyond any shop, and 1e12 x a million rows still sums finitely.
MAX_UNITS = 1e12
# Dates outside this range are an error: pandas' nanosecond timestamps end in April 2262, and a forecast
# horizon of years must still fit after the last date.
FIRST_DATE, LAST_DATE = pd.Timestamp("1900-01-01"), pd.Timestamp("2200-12-31")
# Day.month.year with dots is day-first everywhere it is written; pandas alone reads it month-first.
_DOTTED_DATE = r"^\s*\d{1,2}\.\d{1,2}\.\d{4}\s*$"
_OFFSET = r"(?:Z|[+-]\d{2}:?\d{2})\s*$"


class DataError(ValueError):
    """Input that breaks the data contract, located as precisely as possible."""

    def __init__(self, source: str, problem: str, row: int | None = None, column: str | None = None):
        self.source, self.problem, self.row, self.column = source, problem, row, column
        where = [source]
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__(f"{', '.join(where)}: {problem}")


def file_row(frame: pd.DataFrame, position: int) -> int:
    """1-based data row as a user sees it (the header is not counted)."""
    return int(frame.index[position]) + 1


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV or Parquet file with clear errors for the usual mistakes."""
    source = str(path)
    if not path.exists():
        raise DataError(source, "file not found")
    if path.is_dir():
        raise DataError(source, "is a directory, not a file; give the path of a .csv or .parquet file")
    suffix = path.suffix.lower()
    if suffix not in {".csv", ".parquet", ".pq"}:
        raise DataError(source, f"unsupported file type {suffix!r}; use .csv or .parquet")
    if path.stat().st_size == 0:
        raise DataError(source, "file is empty")
    if suffix == ".csv":
        _check_no_nul(path)
    try:
        if suffix == ".csv":
            # ids stay text: "00123" and "123" are different products. utf-8-sig: Excel's byte-order mark
            # would otherwise become part of the first column's name.
            frame = pd.read_csv(path, dtype={"unique_id": str}, encoding="utf-8-sig")
        else:
            frame = pd.read_parquet(path)
    except UnicodeDecodeError as exc:
        raise DataError(source, f"is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); "
                                "save it as UTF-8 CSV") from exc
    except (pd.errors.ParserError, pd.errors.EmptyDataError, OSError, ValueError) as exc:
        raise DataError(source, f"cannot be read: {exc}") from exc
    frame.columns = [str(column).strip() for column in frame.columns]
    if len(frame.columns) == 1 and ";" in frame.columns[0]:
        raise DataError(source, "has one column named "
                                f"{frame.columns[0]!r}: it looks semicolon-separated; save it with commas")
    if frame.empty:
        raise DataError(source, "has a header but no rows")
    frame = frame.reset_index(drop=True)
    for column in frame.columns[frame.dtypes == object]:
        nul = frame[column].map(lambda value: isinstance(value, str) and "\x00" in value)
        if nul.any():
            raise DataError(source, "text holds a NUL byte (\\x00); the file is binary or damaged",
                            _first_bad(frame, nul), column)
    return frame


def _check_no_nul(path: Path, chunk_bytes: int = 1 << 20) -> None:
    """A NUL byte in a CSV is an error naming its line: the C parser would silently cut the cell there."""
    line = 1
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_bytes):
            at = chunk.find(b"\x00")
            if at >= 0:
                line += chunk[:at].count(b"\n")
                raise DataError(str(path), f"NUL byte (\\x00) on line {line}: the file is binary or damaged, "
                                           "or not a CSV", row=line - 1 if line > 1 else None)
            line += chunk.count(b"\n")


def _require_columns(frame: pd.DataFrame, required: list[str], source: str) -> None:
    for column in required:
        if column not in frame.columns:
            raise DataError(source, f"missing required column (have: {', '.join(map(str, frame.columns))})", column=column)


def _shown(value: object) -> str:
    """A cell as the user wrote it, quoted: numpy scalars as plain numbers ('-inf', not np.float64(-inf))."""
    return repr(str(value.item() if isinstance(value, np.generic) else value))


def _first_bad(frame: pd.DataFrame, mask: pd.Series) -> int:
    return file_row(frame, int(np.flatnonzero(mask.to_numpy())[0]))


def _check_ids(frame: pd.DataFrame, source: str) -> pd.Series:
    ids = frame["unique_id"]
    missing = ids.isna() | (ids.astype(str).str.strip() == "")
    if missing.any():
        raise DataError(source, f"empty product id ({int(missing.sum())} rows)", _first_bad(frame, missing), "unique_id")
    return ids.astype(str).str.strip()


def validate_sales(frame: pd.DataFrame, source: str) -> tuple[pd.DataFrame, str, list[Fix]]:
    """Check types, values, keys and frequency; return (sales sorted by id and date, freq, what was fixed)."""
    _require_columns(frame, SALES_REQUIRED, source)
    out = frame.copy()
    out["unique_id"] = _check_ids(out, source)
    out["ds"], fixes = parse_dates(out, source)

    y = pd.to_numeric(out["y"], errors="coerce")
    bad = y.isna() | ~np.isfinite(y)
    if bad.any():
        row = _first_bad(out, bad)
        raise DataError(source, f"non-numeric or missing value {_shown(out['y'].iloc[row - 1])} ({int(bad.sum())} rows); y must be a finite number of units", row, "y")
    negative = y < 0
    if negative.any():
        row = _first_bad(out, negative)
        raise DataError(source, f"negative value {y.iloc[row - 1]} ({int(negative.sum())} rows); sales are units sold", row, "y")
    huge = y > MAX_UNITS
    if huge.any():
        row = _first_bad(out, huge)
        raise DataError(source, f"value {y.iloc[row - 1]:g} is over {MAX_UNITS:g} units in one period "
                                f"({int(huge.sum())} rows); sums over it would overflow", row, "y")
    out["y"] = y.astype("float64")

    for optional in ("price", "promo"):
        if optional in out.columns:
            values = pd.to_numeric(out[optional], errors="coerce")
            bad = (values.isna() & out[optional].notna()) | values.isin([np.inf, -np.inf])
            if bad.any():
                raise DataError(source, f"non-numeric or infinite value {_shown(out[optional].iloc[_first_bad(out, bad) - 1])}",
                                _first_bad(out, bad), optional)
            out[optional] = values

    duplicated = out.duplicated(["unique_id", "ds"], keep="first")
    if duplicated.any():
        row = _first_bad(out, duplicated)
        key = (out["unique_id"].iloc[row - 1], out["ds"].iloc[row - 1].date().isoformat())
        raise DataError(source, f"duplicate (unique_id, ds) {key} ({int(duplicated.sum())} rows); aggregate first", row, "ds")

    # Keep the original index while inferring the frequency so errors still point at file rows.
    out = out.sort_values(["unique_id", "ds"], kind="stable")
    freq = infer_freq(out, source)
    return out.reset_index(drop=True), freq, fixes


def parse_dates(frame: pd.DataFrame, source: str, column: str = "ds") -> tuple[pd.Series, list[Fix]]:
    """`column` as naive timestamps, or a DataError naming the first row pandas would have misread.

    - numbers (epoch seconds, 20170102, spreadsheet serials) are refused: pandas reads them as nanoseconds;
    - `dd.mm.yyyy` is read day-first (pandas alone reads it month-first);
    - time-zone offsets are dropped, keeping the local date as written (a Fix says so): a shop's period
      starts on its own calendar, and offsets that change with daylight saving broke pandas' .dt;
    - dates outside FIRST_DATE..LAST_DATE are refused.
    """
    raw = frame[column]
    fixes: list[Fix] = []
    text = raw.astype("string").str.strip()
    numeric = pd.api.types.is_numeric_dtype(raw) or bool(text.str.fullmatch(r"[+-]?\d+(\.\d+)?").fillna(False).all())
    if numeric:
        row = _first_bad(frame, raw.notna())
        raise DataError(source, f"numeric date {str(raw.iloc[row - 1])!r}: epoch seconds, YYYYMMDD numbers and spreadsheet "
                                "serials are not read as dates; write them as YYYY-MM-DD", row, column)
    if text.str.contains(_OFFSET, regex=True).fillna(False).any():
        text = text.str.replace(_OFFSET, "", regex=True)
        fixes.append(Fix(source=source, action=f"time-zone offsets dropped from {column!r}; local dates kept",
                         count=int(raw.astype("string").str.contains(_OFFSET, regex=True).fillna(False).sum())))
    dotted = text.str.match(_DOTTED_DATE).fillna(False)
    if dotted.any() and not dotted[text.notna()].all():
        raise DataError(source, f"dates mix dd.mm.yyyy with other formats (e.g. {raw.iloc[_first_bad(frame, ~dotted) - 1]!r})",
                        _first_bad(frame, ~dotted), column)
    if dotted.any():
        ds = pd.to_datetime(text, format="%d.%m.%Y", errors="coerce")
    elif pd.api.types.is_datetime64_any_dtype(raw) and getattr(raw.dt, "tz", None) is not None:
        ds = raw.dt.tz_localize(None)
        fixes.append(Fix(source=source, action=f"time zone dropped from {column!r}; local dates kept", count=len(raw)))
    elif pd.api.types.is_datetime64_any_dtype(raw):
        ds = raw
    else:
        ds = pd.to_datetime(text, errors="coerce")
    bad = ds.isna()
    if bad.any():
        row = _first_bad(frame, bad)
        raise DataError(source, f"unparseable date {_shown(raw.iloc[row - 1])} ({int(bad.sum())} rows); dates must be real "
                                f"calendar dates within {FIRST_DATE.date()}..{LAST_DATE.date()}", row, column)
    outside = (ds < FIRST_DATE) | (ds > LAST_DATE)
    if outside.any():
        row = _first_bad(frame, outside)
        raise DataError(source, f"date {ds.iloc[row - 1].date()} is outside {FIRST_DATE.date()}..{LAST_DATE.date()} "
                                f"({int(outside.sum())} rows)", row, column)
    return ds.astype("datetime64[ns]"), fixes


def infer_freq(sales: pd.DataFrame, source: str) -> str:
    """One frequency for the whole file: daily, weekly (anchored on a weekday) or month-start.

    Each series is classified by its smallest step, so gaps (weeks with no row)
    do not confuse it; series that disagree are an error, not a guess.
    """
    grouped = sales.groupby("unique_id")["ds"]
    min_step = grouped.agg(lambda d: d.diff().dt.days.min()).dropna()
    month_starts = grouped.agg(lambda d: bool(d.dt.is_month_start.all()))
    if min_step.empty:
        # Every product has a single row: only the calendar of the dates can tell.
        family = "MS" if sales["ds"].dt.is_month_start.all() else "W" if sales["ds"].dt.dayofweek.nunique() == 1 else "D"
    else:
        kinds = pd.Series({uid: _step_family(days, month_starts[uid]) for uid, days in min_step.items()}, dtype=object)
        irregular = kinds[kinds.isna()]
        if not irregular.empty:
            uid = irregular.index[0]
            raise DataError(source, f"irregular spacing of {int(min_step[uid])} days in product {uid!r}", column="ds")
        family = _file_family(kinds, sales, source)
    if family == "W":
        weekdays = sales["ds"].dt.dayofweek
        if weekdays.nunique() > 1:
            row = _first_bad(sales, weekdays != weekdays.iloc[0])
            raise DataError(source, "weekly dates fall on different weekdays; use the period start consistently", row, "ds")
        return "W-" + ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"][int(weekdays.iloc[0])]
    if family == "MS":
        not_start = ~sales["ds"].dt.is_month_start
        if not_start.any():
            raise DataError(source, "monthly dates must be the first day of the month", _first_bad(sales, not_start), "ds")
    return family


def _file_family(kinds: pd.Series, sales: pd.DataFrame, source: str) -> str:
    """Agree on one family, or name the products that disagree.

    A slow seller in daily data can sell only on Mondays and look weekly, so a
    weekly-looking series in a daily file is only called a conflict when it has
    enough rows (8) to make that coincidence unlikely.
    """
    families = set(kinds)
    if families == {"D", "W"}:
        counts = sales.groupby("unique_id").size()
        weekly = kinds[(kinds == "W") & (counts.reindex(kinds.index) >= 8)]
        if weekly.empty:
            return "D"
        kinds = pd.concat([kinds[kinds == "D"].head(1), weekly.head(1)])
    elif len(families) == 1:
        return families.pop()
    examples = ", ".join(f"{kind} (e.g. product {uid!r})" for uid, kind in kinds.drop_duplicates().items())
    raise DataError(source, f"mixed frequencies: {examples}; use one of daily, weekly or monthly", column="ds")


def _step_family(days: float, on_month_starts: bool) -> str | None:
    # Month starts first: February's 28 days would otherwise look like 4 weeks.
    if on_month_starts and 28 <= days <= 31 * 11:
        return "MS"
    if days % 7 == 0:
        return "W"
    if days < 7:
        return "D"
    return None


def validate_catalog(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """Check ids and titles, parse optional typed columns, and add the product `text`."""
    _require_columns(frame, CATALOG_REQUIRED, source)
    out = frame.copy()
    out["unique_id"] = _check_ids(out, source)
    duplicated = out.duplicated("unique_id", keep="first")
    if duplicated.any():
        row = _first_bad(out, duplicated)
        raise DataError(source, f"duplicate product id {out['unique_id'].iloc[row - 1]!r}", row, "unique_id")
    title = out["title"].astype("string").str.strip()
    # A title of only zero-width or control characters shows as nothing: as empty as "".
    empty = title.fillna("").map(lambda text: clean(text).strip() == "").astype(bool)
    if empty.any():
        raise DataError(source, "empty title", _first_bad(out, empty), "title")
    out["title"] = title.astype(str)
    if "price" in out.columns:
        price = pd.to_numeric(out["price"], errors="coerce")
        bad = (price.isna() & out["price"].notna()) | (price < 0) | (price == np.inf)
        if bad.any():
            raise DataError(source, f"price must be a non-negative number, got {_shown(out['price'].iloc[_first_bad(out, bad) - 1])}", _first_bad(out, bad), "price")
        out["price"] = price
    if "launch_date" in out.columns:
        launch = pd.to_datetime(out["launch_date"], errors="coerce")
        bad = launch.isna() & out["launch_date"].notna()
        if bad.any():
            raise DataError(source, "unparseable date", _first_bad(out, bad), "launch_date")
        out["launch_date"] = launch
    out["text"] = [product_text(row) for row in out.to_dict("records")]
    return out


def check_known_ids(sales: pd.DataFrame, catalog: pd.DataFrame, source: str) -> None:
    """Every product that sold must be in the catalog (retrieval needs its text)."""
    unknown = ~sales["unique_id"].isin(catalog["unique_id"])
    if unknown.any():
        ids = sales.loc[unknown, "unique_id"].unique()
        shown = ", ".join(map(repr, ids[:5])) + (" ..." if len(ids) > 5 else "")
        raise DataError(source, f"{len(ids)} product id(s) not in the catalog: {shown}", _first_bad(sales, unknown), "unique_id")


def zero_fill(sales: pd.DataFrame, freq: str, source: str) -> tuple[pd.DataFrame, Fix | None]:
    """Add y = 0 rows for periods with no sales, from each product's first sale to the end.

    Missing rows in sales data mean nothing was sold; models need them explicit.
    Before the first sale the product did not exist, so nothing is added there.
    """
    calendar = pd.date_range(sales["ds"].min(), sales["ds"].max(), freq=freq)
    starts = sales.groupby("unique_id")["ds"].min()
    first = calendar.get_indexer(starts)
    if (first < 0).any():
        raise DataError(source, f"dates off the {freq} calendar (e.g. product {starts.index[first < 0][0]!r})", column="ds")
    lengths = len(calendar) - first
    # Position of every (product, period) cell in the calendar, without a Python loop.
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    grid = pd.DataFrame({"unique_id": np.repeat(starts.index.to_numpy(), lengths), "ds": calendar[np.repeat(first, lengths) + offsets]})
    filled = grid.merge(sales, on=["unique_id", "ds"], how="left", indicator=True)
    added = int((filled.pop("_merge") == "left_only").sum())
    if len(filled) - added != len(sales):
        raise DataError(source, f"dates off the {freq} calendar (e.g. not the period start)", column="ds")
    filled["y"] = filled["y"].fillna(0.0)
    fix = Fix(source=source, action="zero-filled periods with no sales row", count=added) if added else None
    return filled, fix
