//! The table reader on integers, plain, quoted and CRLF lines, lines longer than its
//! buffer, and short rows.

use super::*;

#[test]
fn integers() {
    assert_eq!(parse_u64(b"0"), Some(0));
    assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
    assert_eq!(parse_u64(b"18446744073709551616"), None);
    assert_eq!(parse_u64(b"1a"), None);
    assert_eq!(parse_u64(b""), None);
    assert_eq!(parse_i64(b"-5"), Some(-5));
    assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
    assert_eq!(parse_i64(b"9223372036854775808"), None);
    assert_eq!(parse_i64(b"-"), None);
}

fn read_all(text: &str, cols: &[&'static str]) -> Result<Vec<(u64, Vec<String>)>, TableError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.csv");
    std::fs::write(&path, text).unwrap();
    let mut table = Table::open(&path, cols, &[])?;
    let mut out = Vec::new();
    while let Some(row) = table.next_row()? {
        let fields = (0..cols.len())
            .map(|c| row.name(c).map(str::to_owned))
            .collect::<Result<_, _>>()?;
        out.push((row.table.line, fields));
    }
    Ok(out)
}

#[test]
fn plain_quoted_and_crlf_lines_read_alike() {
    let want = vec![
        (2, vec!["1".to_string(), "x".to_string()]),
        (3, vec!["2".to_string(), "y,z".to_string()]),
        (4, vec!["3".to_string(), "w".to_string()]),
    ];
    let text = "b,a\r\nx,1\r\n\"y,z\",2\nw,3";
    assert_eq!(read_all(text, &["a", "b"]).unwrap(), want);
    let text = "\"b\",a\nx,1\n\"y,z\",2\nw,3\n";
    assert_eq!(read_all(text, &["a", "b"]).unwrap(), want);
}

#[test]
fn lines_longer_than_the_buffer_are_read_whole() {
    let long = "v".repeat(READ_BUFFER_BYTES + 10);
    let text = format!("a,b\n1,{long}\n2,x\n");
    let rows = read_all(&text, &["a", "b"]).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].1[1].len(), long.len());
    assert_eq!(rows[1].1, vec!["2", "x"]);
}

#[test]
fn a_short_row_is_an_error_with_its_line() {
    let err = read_all("a,b\n1,2\n3\n", &["a", "b"]).unwrap_err();
    assert!(
        err.to_string().contains(":3: column \"b\": missing value"),
        "{err}"
    );
}
