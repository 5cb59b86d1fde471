//! RFC 3339 date-times, read into nanoseconds since the Unix epoch: the one timestamp the
//! Functions host sends the function (`Metadata.sys.UtcNow`). .NET writes `DateTime.UtcNow`
//! as `2019-10-09T17:58:32.2205399Z`: up to 7 fractional digits, none when they are all
//! zero. The workspace has no date crate, and this one format is all it needs, so it is
//! read here (civil date to days after Howard Hinnant's `days_from_civil`).

/// Nanoseconds since the Unix epoch of `text`, an RFC 3339 date-time:
/// `YYYY-MM-DDThh:mm:ss[.fraction](Z|+hh:mm|-hh:mm)`. The fraction may have any number of
/// digits (past nine they are cut off); `t`, `z` and a space for `T` are accepted, as RFC
/// 3339 allows. A leap second (`:60`) is refused: .NET never writes one.
pub fn parse_ns(text: &str) -> Result<i64, String> {
    let fail = |why: &str| Err(format!("{text:?} is not an RFC 3339 date-time: {why}"));
    let b = text.as_bytes();
    if b.len() < 20 {
        return fail("too short for YYYY-MM-DDThh:mm:ssZ");
    }
    let punctuation = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if punctuation.iter().any(|&(i, c)| b[i] != c) || !matches!(b[10], b'T' | b't' | b' ') {
        return fail("expected YYYY-MM-DDThh:mm:ss");
    }
    let (Some(year), Some(month), Some(day), Some(hour), Some(minute), Some(second)) = (
        digits(&b[0..4]),
        digits(&b[5..7]),
        digits(&b[8..10]),
        digits(&b[11..13]),
        digits(&b[14..16]),
        digits(&b[17..19]),
    ) else {
        return fail("a date or time field is not digits");
    };
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return fail("no such day");
    }
    if hour > 23 || minute > 59 || second > 59 {
        return fail("no such time of day");
    }
    let mut rest = &b[19..];
    let mut fraction_ns = 0i64;
    if let Some((b'.', after)) = rest.split_first() {
        let count = after.iter().take_while(|c| c.is_ascii_digit()).count();
        if count == 0 {
            return fail("a '.' with no fractional digits");
        }
        for (i, &c) in after[..count].iter().enumerate().take(9) {
            fraction_ns += i64::from(c - b'0') * 10i64.pow(8 - i as u32);
        }
        rest = &after[count..];
    }
    let offset_s = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let (Some(h), Some(m)) = (digits(&[*h1, *h2]), digits(&[*m1, *m2])) else {
                return fail("the offset is not digits");
            };
            if h > 23 || m > 59 {
                return fail("no such offset");
            }
            let s = (h * 3600 + m * 60) as i64;
            if *sign == b'-' {
                -s
            } else {
                s
            }
        }
        _ => return fail("expected Z or an offset +hh:mm after the time"),
    };
    let days = days_from_civil(i64::from(year), month, day);
    let seconds = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - offset_s;
    seconds
        .checked_mul(1_000_000_000)
        .and_then(|ns| ns.checked_add(fraction_ns))
        .map_or_else(
            || fail("out of the range of i64 nanoseconds (1677-2262)"),
            Ok,
        )
}

/// The value of ASCII digits, or none when one is not a digit.
fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |n, &c| {
        c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
    })
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the proleptic Gregorian date `y-m-d`.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let year_of_era = y.rem_euclid(400);
    let month_from_march = i64::from((m + 9) % 12);
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(d) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotnet_utc_now_and_other_rfc_3339_forms_read_to_unix_nanoseconds() {
        // The expected seconds are `date -u -d TEXT +%s` (GNU date).
        let cases = [
            ("1970-01-01T00:00:00Z", 0),
            // The Functions docs' own example of Metadata.sys.UtcNow: 7 digits.
            ("2019-10-09T17:58:32.2205399Z", 1_570_643_912_220_539_900),
            ("2026-01-01T00:01:10Z", 1_767_225_670_000_000_000),
            ("2026-01-01T00:01:10.5Z", 1_767_225_670_500_000_000),
            (
                "2026-01-01t00:01:10.123456789123z",
                1_767_225_670_123_456_789,
            ),
            ("2026-01-01 02:01:10+02:00", 1_767_225_670_000_000_000),
            ("2025-12-31T23:31:10-00:30", 1_767_225_670_000_000_000),
            ("2000-02-29T12:00:00Z", 951_825_600_000_000_000),
            ("1969-12-31T23:59:59.9Z", -100_000_000),
        ];
        for (text, ns) in cases {
            assert_eq!(parse_ns(text), Ok(ns), "{text}");
        }
    }

    #[test]
    fn anything_else_is_refused_with_the_reason() {
        for (text, why) in [
            ("", "too short"),
            ("2026-01-01T00:01:10", "too short"),
            ("2026-01-01T00:01:10.0000000", "expected Z or an offset"),
            ("2026-01-01T00:01:10+0200", "expected Z or an offset"),
            ("2026/01/01T00:01:10Z", "expected YYYY-MM-DDThh:mm:ss"),
            ("2026-01-01X00:01:10Z", "expected YYYY-MM-DDThh:mm:ss"),
            ("2026-0a-01T00:01:10Z", "not digits"),
            ("2026-02-29T00:00:00Z", "no such day"),
            ("2026-13-01T00:00:00Z", "no such day"),
            ("2026-01-00T00:00:00Z", "no such day"),
            ("2026-01-01T24:00:00Z", "no such time"),
            ("2026-01-01T23:59:60Z", "no such time"),
            ("2026-01-01T00:01:10.Z", "no fractional digits"),
            ("2026-01-01T00:01:10+24:00", "no such offset"),
            ("2026-01-01T00:01:10Z ", "expected Z or an offset"),
            ("9999-12-31T23:59:59Z", "out of the range"),
            ("yesterday, about noon", "expected YYYY"),
        ] {
            let error = parse_ns(text).expect_err(text);
            assert!(error.contains(why), "{text}: {error}");
        }
    }
}
