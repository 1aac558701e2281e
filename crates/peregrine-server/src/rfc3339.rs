//! Strict RFC 3339 date-times: every field range-checked (no month 13, no
//! February 30), from 1970 until 64-bit nanoseconds run out (2262-04-11),
//! an offset (`Z` or `±HH:MM`) required and applied. Nanoseconds since the
//! Unix epoch, UTC.

fn digits(b: &[u8]) -> Option<i64> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0i64, |n, d| n * 10 + (d - b'0') as i64))
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// Days from 1970-01-01 to y-m-d (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = y - (m <= 2) as i64;
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// Parse `s`; `Err` says what is wrong.
pub fn parse(s: &str) -> Result<i64, &'static str> {
    let b = s.as_bytes();
    if !s.is_ascii() {
        return Err("only ASCII characters are allowed");
    }
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return Err("expected YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)");
    }
    if b[13] != b':' || b[16] != b':' {
        return Err("expected HH:MM:SS after the date");
    }
    let field =
        |r: std::ops::Range<usize>| digits(&b[r]).ok_or("a date or time field is not digits");
    let (y, mo, d) = (field(0..4)?, field(5..7)?, field(8..10)?);
    let (h, mi, sec) = (field(11..13)?, field(14..16)?, field(17..19)?);
    if !(1970..=2262).contains(&y) {
        return Err("year must be 1970..=2262 (nanoseconds since 1970 fit 64 bits until 2262)");
    }
    if !(1..=12).contains(&mo) {
        return Err("month must be 01..=12");
    }
    if d < 1 || d > days_in_month(y, mo) {
        return Err("no such day in that month");
    }
    if h > 23 || mi > 59 || sec > 59 {
        return Err("hour, minute or second out of range");
    }
    let mut rest = &b[19..];
    let mut ns = 0i64;
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 || n > 9 {
            return Err("the fraction of a second has 1..=9 digits");
        }
        ns = digits(&frac[..n]).ok_or("bad fraction")? * 10i64.pow(9 - n as u32);
        rest = &frac[n..];
    }
    let offset = match rest {
        b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let oh = digits(&[*h1, *h2]).ok_or("bad offset")?;
            let om = digits(&[*m1, *m2]).ok_or("bad offset")?;
            if oh > 23 || om > 59 {
                return Err("offset out of range");
            }
            let o = oh * 3600 + om * 60;
            if *sign == b'+' {
                o
            } else {
                -o
            }
        }
        _ => return Err("a time zone offset (Z or ±HH:MM) must end the time"),
    };
    let secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset;
    if secs < 0 {
        return Err("before 1970-01-01T00:00:00Z");
    }
    secs.checked_mul(1_000_000_000)
        .and_then(|n| n.checked_add(ns))
        .ok_or("after 2262-04-11T23:47:16Z")
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn valid_times_agree_with_the_event_crate() {
        for s in [
            "2026-01-01T00:00:00Z",
            "2024-02-29T23:59:59.123456789Z",
            "1970-01-01T00:00:00.5Z",
        ] {
            assert_eq!(
                parse(s).unwrap() as u64,
                peregrine_event::time::parse_rfc3339(s),
                "{s}"
            );
        }
        assert_eq!(
            parse("2026-01-01T02:00:00+02:00").unwrap(),
            parse("2026-01-01T00:00:00Z").unwrap()
        );
    }

    #[test]
    fn impossible_times_are_refused() {
        for s in [
            "2026-13-01T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:60:00Z",
            "2026-01-01T00:00:00",
            "2026-01-01T00:00:00.Z",
            "2026-01-01T00:00:00.1234567890Z",
            "1969-12-31T23:59:59Z",
            "2026-01-01T00:00:0éZ",
            "2026-01-01T00:00:00+25:00",
            "2262-12-31T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "+026-01-01T00:00:00Z",
        ] {
            assert!(parse(s).is_err(), "{s}");
        }
    }
}
