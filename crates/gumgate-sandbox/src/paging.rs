//! Gumroad's cursor paging, shared by sales, products and subscribers: rows newest first by
//! `(created_at, id)`, and a `page_key` naming the last row seen, as Rails writes it.

use gumroad_wire::params::Params;
use time::{
    OffsetDateTime, PrimitiveDateTime, format_description::BorrowedFormatItem,
    macros::format_description,
};

use super::reply::Reply;

/// Rails' `to_fs(:usec)`, the first half of a page key.
const USEC: &[BorrowedFormatItem<'_>] =
    format_description!("[year][month][day][hour][minute][second][subsecond digits:6]");

/// A row's position: creation time, then its numeric id to break ties.
pub type Cursor = (OffsetDateTime, u64);

/// `20260110141540000000-627652801`: the row's time to the microsecond, then its id.
pub fn encode(cursor: Cursor) -> String {
    format!("{}-{}", cursor.0.format(USEC).unwrap_or_default(), cursor.1)
}

/// The cursor in a page key; `None` for anything Gumroad would call "Invalid page_key.".
pub fn decode(key: &str) -> Option<Cursor> {
    let (at, id) = key.split_once('-')?;
    let at = PrimitiveDateTime::parse(at, USEC).ok()?.assume_utc();
    Some((at, id.parse().ok().filter(|n| *n != 0)?))
}

/// The `page_key` param as a cursor: `Ok(None)` when absent, a 400 when unreadable.
pub fn page_key(p: &Params) -> Result<Option<Cursor>, Reply> {
    match p.str("page_key").filter(|k| !k.is_empty()) {
        None => Ok(None),
        Some(key) => decode(key)
            .map(Some)
            .ok_or_else(|| Reply::error_400("Invalid page_key.")),
    }
}

/// Sorts `rows` newest first and keeps those after `after`; rows past the cursor only, so
/// rows added since the previous page cannot shift it.
pub fn newest_after<T>(rows: &mut Vec<T>, cursor_of: impl Fn(&T) -> Cursor, after: Option<Cursor>) {
    rows.sort_by_key(|r| std::cmp::Reverse(cursor_of(r)));
    if let Some(after) = after {
        rows.retain(|r| cursor_of(r) < after);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn page_keys_round_trip_and_reject_garbage() {
        let cursor = (datetime!(2026-01-10 14:15:40.5 UTC), 627_652_801);
        assert_eq!(encode(cursor), "20260110141540500000-627652801");
        assert_eq!(decode(&encode(cursor)), Some(cursor));
        for bad in [
            "garbage",
            "20260110141540500000-0",
            "2026-1",
            "20261310141540500000-5",
        ] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }
}
