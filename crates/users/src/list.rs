//! `GET /api/v1/users`: query parsing, cursors and `Link` headers (the SQL
//! of a page is the `users` component's, in its store module).
//!
//! Two ways to page: by number (`page`, with `total` and `total_pages`) and,
//! for deep pages, by key (`after`, an opaque cursor naming the last row
//! seen), which costs one index seek however deep it goes.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use troupe_ids::Role;

/// A column users can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// Creation time (the default, newest first).
    CreatedAt,
    /// Email, case-insensitively.
    Email,
    /// Name, case-insensitively.
    Name,
}

impl SortKey {
    fn parse(name: &str) -> Option<Self> {
        match name {
            "created_at" => Some(SortKey::CreatedAt),
            "email" => Some(SortKey::Email),
            "name" => Some(SortKey::Name),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            SortKey::CreatedAt => "created_at",
            SortKey::Email => "email",
            SortKey::Name => "name",
        }
    }
}

/// The position after which a keyset page starts: the sort value and id of
/// the last row of the previous page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    /// The sort column's value (integer for times, text otherwise).
    pub value: serde_json::Value,
    /// The row's id (the tie-breaker).
    pub id: String,
}

impl Cursor {
    /// The opaque form clients pass back.
    pub fn encode(&self) -> String {
        B64.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    fn decode(text: &str) -> Option<Self> {
        let cursor: Cursor = serde_json::from_slice(&B64.decode(text).ok()?).ok()?;
        (cursor.value.is_string() || cursor.value.is_i64()).then_some(cursor)
    }

    /// Whether the cursor can page a list sorted by `sort`: its value has the
    /// type of that column (an integer for times, text otherwise), and no
    /// text holds NUL, which Postgres text cannot. A cursor of another sort
    /// order, or a forged one, would otherwise fail the query.
    fn fits(&self, sort: SortKey) -> bool {
        let value_fits = match sort {
            SortKey::CreatedAt => self.value.is_i64(),
            SortKey::Email | SortKey::Name => self.value.as_str().is_some_and(|v| !v.contains('\0')),
        };
        value_fits && !self.id.contains('\0')
    }
}

/// A validated list query.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    /// 1-based page number (offset paging).
    pub page: u32,
    /// Rows per page, 1–100.
    pub limit: u32,
    /// Case-insensitive substring of the email or name.
    pub q: Option<String>,
    /// Only users with this role.
    pub role: Option<Role>,
    /// Sort column.
    pub sort: SortKey,
    /// Descending order.
    pub descending: bool,
    /// Keyset cursor: rows after this one.
    pub after: Option<Cursor>,
}

const KNOWN: [&str; 6] = ["page", "limit", "q", "role", "sort", "after"];

impl ListQuery {
    /// Parse the query string's pairs, reporting every invalid parameter as
    /// `(name, message)`.
    pub fn parse(pairs: &[(String, String)]) -> Result<Self, Vec<(String, String)>> {
        let mut errors = Vec::new();
        let mut query = ListQuery {
            page: 1,
            limit: 20,
            q: None,
            role: None,
            sort: SortKey::CreatedAt,
            descending: true,
            after: None,
        };
        let mut seen: Vec<&str> = Vec::new();
        for (name, value) in pairs {
            let mut fail = |message: &str| errors.push((name.clone(), message.to_owned()));
            if !KNOWN.contains(&name.as_str()) {
                fail("is not a known parameter (page, limit, q, role, sort, after)");
                continue;
            }
            if seen.contains(&name.as_str()) {
                fail("is given more than once");
                continue;
            }
            seen.push(name);
            match name.as_str() {
                "page" => match value.parse::<u32>() {
                    Ok(page) if page >= 1 => query.page = page,
                    _ => fail("must be a whole number of at least 1"),
                },
                "limit" => match value.parse::<u32>() {
                    Ok(limit) if (1..=100).contains(&limit) => query.limit = limit,
                    _ => fail("must be a whole number from 1 to 100"),
                },
                // No email or name holds NUL, and Postgres text cannot.
                "q" if value.contains('\0') => fail("must not contain NUL (U+0000)"),
                "q" => match value.chars().count() {
                    0 => {}
                    1..=100 => query.q = Some(value.to_lowercase()),
                    _ => fail("must be at most 100 characters"),
                },
                "role" => match Role::parse(value) {
                    Ok(role) => query.role = Some(role),
                    Err(e) => fail(&e.to_string()),
                },
                "sort" => {
                    let (descending, key) = match value.strip_prefix('-') {
                        Some(key) => (true, key),
                        None => (false, value.as_str()),
                    };
                    match SortKey::parse(key) {
                        Some(key) => {
                            query.sort = key;
                            query.descending = descending;
                        }
                        None => fail("must be created_at, email or name, with a leading - for descending order"),
                    }
                }
                _ => match Cursor::decode(value) {
                    Some(cursor) => query.after = Some(cursor),
                    None => fail("is not a cursor this API returned"),
                },
            }
        }
        if query.after.is_some() && seen.contains(&"page") {
            errors.push(("after".into(), "cannot be combined with page".into()));
        }
        if query.after.as_ref().is_some_and(|cursor| !cursor.fits(query.sort)) {
            errors.push(("after".into(), "is not a cursor of this sort order".into()));
        }
        if errors.is_empty() {
            Ok(query)
        } else {
            Err(errors)
        }
    }

    /// The query string for `page` (or for a cursor), keeping the filters.
    fn query_string(&self, page: Option<u32>, after: Option<&str>) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        if let Some(page) = page {
            query.append_pair("page", &page.to_string());
        }
        query.append_pair("limit", &self.limit.to_string());
        if let Some(q) = &self.q {
            query.append_pair("q", q);
        }
        if let Some(role) = self.role {
            query.append_pair("role", role.as_str());
        }
        let sort = format!("{}{}", if self.descending { "-" } else { "" }, self.sort.name());
        query.append_pair("sort", &sort);
        if let Some(after) = after {
            query.append_pair("after", after);
        }
        query.finish()
    }
}

/// What a page turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Rows matching the filters.
    pub total: u64,
    /// The cursor of the next keyset page, if there is one.
    pub next_cursor: Option<String>,
}

/// The RFC 8288 `Link` header of a page at `path`.
pub fn links(path: &str, query: &ListQuery, page: &Page) -> String {
    let link = |rel: &str, qs: String| format!("<{path}?{qs}>; rel=\"{rel}\"");
    let last = u32::try_from(page.total.div_ceil(u64::from(query.limit))).unwrap_or(u32::MAX).max(1);
    let mut parts = vec![link("first", query.query_string(Some(1), None))];
    if query.after.is_some() {
        if let Some(next) = &page.next_cursor {
            parts.push(link("next", query.query_string(None, Some(next))));
        }
    } else {
        if query.page > 1 {
            parts.push(link("prev", query.query_string(Some((query.page - 1).min(last)), None)));
        }
        if query.page < last {
            parts.push(link("next", query.query_string(Some(query.page + 1), None)));
        }
    }
    parts.push(link("last", query.query_string(Some(last), None)));
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(query: &str) -> Vec<(String, String)> {
        form_urlencoded::parse(query.as_bytes()).into_owned().collect()
    }

    fn parse(query: &str) -> Result<ListQuery, Vec<(String, String)>> {
        ListQuery::parse(&pairs(query))
    }

    fn bad_fields(query: &str) -> Vec<String> {
        parse(query).expect_err("invalid").into_iter().map(|(field, _)| field).collect()
    }

    #[test]
    fn defaults_are_page_1_of_20_newest_first() {
        let query = parse("").expect("valid");
        assert_eq!((query.page, query.limit, query.sort, query.descending), (1, 20, SortKey::CreatedAt, true));
    }

    #[test]
    fn out_of_range_unknown_and_repeated_parameters_are_each_reported() {
        assert_eq!(bad_fields("limit=0"), ["limit"]);
        assert_eq!(bad_fields("limit=1000"), ["limit"]);
        assert_eq!(bad_fields("page=-1"), ["page"]);
        assert_eq!(bad_fields("page=0&limit=x&sort=password&role=root&x=1"), ["page", "limit", "sort", "role", "x"]);
        assert_eq!(bad_fields("page=1&page=2"), ["page"]);
        assert_eq!(bad_fields("after=garbage"), ["after"]);
        assert_eq!(bad_fields(&format!("q={}", "a".repeat(101))), ["q"]);
        let cursor = Cursor { value: 5.into(), id: "x".into() }.encode();
        assert_eq!(bad_fields(&format!("page=2&after={cursor}")), ["after"]);
    }

    #[test]
    fn a_cursor_of_another_sort_order_a_forged_one_or_a_nul_in_the_search_is_refused() {
        let by_email = Cursor { value: "ann@example.com".into(), id: "0190".into() }.encode();
        assert_eq!(bad_fields(&format!("after={by_email}")), ["after"]);
        assert!(parse(&format!("after={by_email}&sort=-email")).is_ok());
        let by_time = Cursor { value: 1_700_000_000_000i64.into(), id: "0190".into() }.encode();
        assert_eq!(bad_fields(&format!("sort=name&after={by_time}")), ["after"]);
        let nul = Cursor { value: "a\0".into(), id: "0190".into() }.encode();
        assert_eq!(bad_fields(&format!("sort=name&after={nul}")), ["after"]);
        let nul_id = Cursor { value: 1.into(), id: "\0".into() }.encode();
        assert_eq!(bad_fields(&format!("after={nul_id}")), ["after"]);
        assert_eq!(bad_fields("q=a%00b"), ["q"]);
    }

    #[test]
    fn links_name_first_prev_next_and_last_pages() {
        let query = parse("page=2&limit=10&q=a%20b").expect("valid");
        let header = links("/api/v1/users", &query, &Page { total: 35, next_cursor: None });
        assert_eq!(
            header,
            "</api/v1/users?page=1&limit=10&q=a+b&sort=-created_at>; rel=\"first\", \
             </api/v1/users?page=1&limit=10&q=a+b&sort=-created_at>; rel=\"prev\", \
             </api/v1/users?page=3&limit=10&q=a+b&sort=-created_at>; rel=\"next\", \
             </api/v1/users?page=4&limit=10&q=a+b&sort=-created_at>; rel=\"last\""
        );
        let empty = links("/u", &parse("").expect("valid"), &Page { total: 0, next_cursor: None });
        assert_eq!(
            empty,
            "</u?page=1&limit=20&sort=-created_at>; rel=\"first\", </u?page=1&limit=20&sort=-created_at>; rel=\"last\""
        );
        let keyset = parse(&format!("after={}", Cursor { value: 1.into(), id: "a".into() }.encode())).expect("valid");
        let next = links("/u", &keyset, &Page { total: 50, next_cursor: Some("CUR".into()) });
        assert!(next.contains("</u?limit=20&sort=-created_at&after=CUR>; rel=\"next\""), "{next}");
    }
}
