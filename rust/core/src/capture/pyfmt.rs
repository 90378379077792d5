//! Python's text for numbers and bytes, where the reader's messages contain them: `repr(float)`,
//! `format(x, ".3g")`, `repr(bytes)`, `str(OSError)`.
#![forbid(unsafe_code)]

/// Shortest round-trip digits and decimal exponent of a finite, nonzero `x`: `("12345", 3)`
/// for 1234.5 (d.dddd x 10^exp). Rust's `{:e}` gives the same shortest digits as CPython's repr.
fn shortest(x: f64) -> (String, i32) {
    let s = format!("{:e}", x.abs());
    let (mant, exp) = s.split_once('e').unwrap_or((s.as_str(), "0"));
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    (digits, exp.parse().unwrap_or(0))
}

fn exp_suffix(exp: i32) -> String {
    format!(
        "e{}{:02}",
        if exp < 0 { '-' } else { '+' },
        exp.unsigned_abs()
    )
}

/// `repr(x)` of a Python float (`float_repr_style == 'short'`).
pub fn float_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if x == 0.0 {
        return if x.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    let sign = if x < 0.0 { "-" } else { "" };
    let (digits, exp) = shortest(x);
    let decpt = exp + 1; // where the decimal point goes, counted from the first digit
    if (-4 < decpt) && (decpt <= 16) {
        let n = digits.len() as i32;
        let body = if decpt <= 0 {
            format!("0.{}{}", "0".repeat(decpt.unsigned_abs() as usize), digits)
        } else if decpt >= n {
            format!("{}{}.0", digits, "0".repeat((decpt - n) as usize))
        } else {
            let (a, b) = digits.split_at(decpt as usize);
            format!("{a}.{b}")
        };
        format!("{sign}{body}")
    } else {
        let (first, rest) = digits.split_at(1);
        let mant = if rest.is_empty() {
            first.to_string()
        } else {
            format!("{first}.{rest}")
        };
        format!("{sign}{mant}{}", exp_suffix(exp))
    }
}

/// `format(x, ".3g")` (used by the pcapng timestamp range message).
pub fn format_3g(x: f64) -> String {
    if !x.is_finite() {
        return float_repr(x);
    }
    if x == 0.0 {
        return if x.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    // Round to 3 significant digits first (exactly, as Python does), then pick the notation.
    let s = format!("{:.2e}", x);
    let (mant, exp) = s.split_once('e').unwrap_or((s.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..3).contains(&exp) {
        let decimals = (2 - exp) as usize;
        let fixed = format!("{:.*}", decimals, x);
        strip_zeros(&fixed)
    } else {
        format!("{}{}", strip_zeros(mant), exp_suffix(exp))
    }
}

fn strip_zeros(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

/// `repr(b)` of a Python bytes object (`BadGzipFile('Not a gzipped file (%r)')`).
pub fn bytes_repr(b: &[u8]) -> String {
    let quote = if b.contains(&b'\'') && !b.contains(&b'"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::from("b");
    out.push(quote);
    for &c in b {
        match c {
            b'\\' => out.push_str("\\\\"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            _ if c == quote as u8 => {
                out.push('\\');
                out.push(c as char);
            }
            0x20..=0x7e => out.push(c as char),
            _ => out.push_str(&format!("\\x{c:02x}")),
        }
    }
    out.push(quote);
    out
}

/// `e.strerror` of an OSError (the C library's text, without Rust's " (os error N)").
pub fn strerror(e: &std::io::Error) -> String {
    let s = e.to_string();
    match (e.raw_os_error(), s.rfind(" (os error ")) {
        (Some(_), Some(i)) => s.get(..i).unwrap_or(&s).to_string(),
        _ => s,
    }
}

/// `str(e)` of an OSError: `[Errno 5] Input/output error`.
pub fn oserror_str(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => format!("[Errno {n}] {}", strerror(e)),
        None => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_repr_matches_python() {
        let cases: &[(f64, &str)] = &[
            (1.0, "1.0"),
            (0.1, "0.1"),
            (1e-4, "0.0001"),
            (1e-5, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.2345e16, "1.2345e+16"),
            (123456789.125, "123456789.125"),
            (1700000000.123456, "1700000000.123456"),
            (-2.5, "-2.5"),
            (-0.0, "-0.0"),
            (1e300, "1e+300"),
            (5e-324, "5e-324"),
        ];
        for &(x, want) in cases {
            assert_eq!(float_repr(x), want, "{x:e}");
        }
    }

    #[test]
    fn format_3g_matches_python() {
        let cases: &[(f64, &str)] = &[
            (253402300800.5, "2.53e+11"),
            (-62135596801.0, "-6.21e+10"),
            (1.8446744073709552e19, "1.84e+19"),
            (3e11, "3e+11"),
            (123.0, "123"),
            (0.5, "0.5"),
            (1234.0, "1.23e+03"),
            (0.0001234, "0.000123"),
            (0.00001234, "1.23e-05"),
            (999.5, "1e+03"),
        ];
        for &(x, want) in cases {
            assert_eq!(format_3g(x), want, "{x:e}");
        }
    }

    #[test]
    fn bytes_repr_matches_python() {
        assert_eq!(bytes_repr(b"\x1f\x8b"), "b'\\x1f\\x8b'");
        assert_eq!(bytes_repr(b"ab"), "b'ab'");
        assert_eq!(bytes_repr(b"'"), "b\"'\"");
        assert_eq!(bytes_repr(b"'\""), "b'\\'\"'");
        assert_eq!(bytes_repr(b"\\\n"), "b'\\\\\\n'");
        assert_eq!(bytes_repr(b""), "b''");
    }
}
