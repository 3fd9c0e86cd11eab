//! PHP's two ways of writing a float, so payloads match what PHP code would send.
//!
//! - [`to_php_string`]: `(string) $float` and `http_build_query` (ini `precision` = 14,
//!   `1.0E+25`).
//! - [`to_json`]: `json_encode` (ini `serialize_precision` = -1: the shortest digits that
//!   read back to the same float, the even one of two as near, `1.0e+25`).
//!
//! Both follow `zend_gcvt`: digits and a decimal exponent, then fixed notation unless the
//! exponent is below -4 or above the precision. We assume PHP's default ini values; a site
//! that changed `precision` sees other digits from PHP itself.

/// Significant digits PHP's `precision` ini gives by default.
const PHP_PRECISION: usize = 14;
/// `zend_gcvt` switches to exponent notation past this many digits in shortest mode.
const SHORTEST_MODE_LIMIT: i32 = 17;

/// `(string) $value` as PHP 8 writes it with `precision = 14`.
pub fn to_php_string(value: f64) -> String {
    if let Some(special) = non_finite(value, "INF", "NAN") {
        return special;
    }
    let (negative, digits, point) = decimal_digits(format!("{:.*e}", PHP_PRECISION - 1, value));
    let digits = whole_number_digits(value, &digits).unwrap_or(digits);
    gcvt(negative, &digits, point, PHP_PRECISION as i32, 'E')
}

/// zend_dtoa's digits where they are not the shortest. A whole number of 15 digits (below
/// 10^15, so PHP's 14 are one short) whose last digit is 5 is a tie that its quick
/// floating-point pass cannot decide, and its exact pass for small whole numbers keeps the
/// zeros it wrote when it rounds down (to the even digit): PHP writes 100000000000005.0 as
/// `1.0000000000000E+14`, where 100000000000004.0 is `1.0E+14`.
fn whole_number_digits(value: f64, digits: &str) -> Option<String> {
    let magnitude = value.abs();
    if magnitude.fract() != 0.0 || !(1e14..1e15).contains(&magnitude) {
        return None;
    }
    let exact = (magnitude as u64).to_string();
    let (kept, dropped) = exact.split_at(PHP_PRECISION);
    // Rounded down: the shortest digits are what was kept, without its trailing zeros.
    (dropped == "5" && kept.trim_end_matches('0') == digits).then(|| kept.to_string())
}

/// `json_encode($value)` for a finite float (JSON has no NAN or INF; callers check).
pub fn to_json(value: f64) -> String {
    let (negative, digits, point) = shortest_digits(value);
    gcvt(negative, &digits, point, SHORTEST_MODE_LIMIT, 'e')
}

/// The fewest digits that read back as `value`, as zend_dtoa's mode 0 picks them: of two
/// such equally near `value`, the one ending in an even digit. Rust's shortest form takes the
/// upper one, an odd digit where PHP's is even: json_encode(724980121350372.25) is
/// `724980121350372.2`, Rust's `{:e}` `7.249801213503723e14`.
fn shortest_digits(value: f64) -> (bool, String, i32) {
    let shortest = decimal_digits(format!("{value:e}"));
    if shortest.1.bytes().last().is_some_and(|digit| (digit - b'0').is_multiple_of(2)) {
        return shortest;
    }
    // The nearest decimal of as many digits (Rust rounds a tie to even there), when it too
    // reads back as `value`.
    let nearest = format!("{:.*e}", shortest.1.len() - 1, value);
    if nearest.parse::<f64>() == Ok(value) {
        return decimal_digits(nearest);
    }
    shortest
}

fn non_finite(value: f64, inf: &str, nan: &str) -> Option<String> {
    if value.is_nan() {
        Some(nan.to_string())
    } else if value.is_infinite() {
        Some(if value < 0.0 { format!("-{inf}") } else { inf.to_string() })
    } else {
        None
    }
}

/// Splits Rust's `d.ddde±x` into (sign, significant digits without trailing zeros, position
/// of the decimal point as `zend_dtoa` reports it: value = 0.DIGITS × 10^point).
fn decimal_digits(scientific: String) -> (bool, String, i32) {
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let negative = mantissa.starts_with('-');
    let mut digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    while digits.len() > 1 && digits.ends_with('0') {
        digits.pop();
    }
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if digits == "0" {
        return (negative, digits, 1);
    }
    (negative, digits, exponent + 1)
}

fn gcvt(negative: bool, digits: &str, point: i32, precision: i32, exp_char: char) -> String {
    let mut out = String::with_capacity(digits.len() + 8);
    if negative {
        out.push('-');
    }
    if point < -3 || point > precision {
        let exponent = point - 1;
        out.push_str(&digits[..1]);
        out.push('.');
        out.push_str(if digits.len() > 1 { &digits[1..] } else { "0" });
        out.push(exp_char);
        out.push(if exponent < 0 { '-' } else { '+' });
        out.push_str(&exponent.abs().to_string());
    } else if point <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', point.unsigned_abs() as usize));
        out.push_str(digits);
    } else {
        let point = point as usize;
        if digits.len() <= point {
            out.push_str(digits);
            out.extend(std::iter::repeat_n('0', point - digits.len()));
        } else {
            out.push_str(&digits[..point]);
            out.push('.');
            out.push_str(&digits[point..]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected strings were printed by PHP 8.2:
    /// `echo http_build_query([...])` and `echo json_encode([...])`.
    #[test]
    fn php_string_matches_precision_14() {
        let cases = [
            (0.1, "0.1"),
            (1.0, "1"),
            (1e25, "1.0E+25"),
            (1e-5, "1.0E-5"),
            (-0.0, "-0"),
            (123456789012345678.0, "1.2345678901235E+17"),
            (104.15, "104.15"),
            (0.0001, "0.0001"),
            (1e14, "1.0E+14"),
            (99999999999999.0, "99999999999999"),
            (-2.5, "-2.5"),
            (1.0 / 3.0, "0.33333333333333"),
            (100000000000005.0, "1.0000000000000E+14"),
            (-630311760000005.0, "-6.3031176000000E+14"),
            (123456789012341.0, "1.2345678901234E+14"),
            (100000000000004.0, "1.0E+14"),
            (430440867985804.0, "4.304408679858E+14"),
            (100000000000015.0, "1.0000000000002E+14"),
            (100000000000095.0, "1.000000000001E+14"),
            (999999999999995.0, "1.0E+15"),
            (100000000000050.0, "1.0000000000005E+14"),
        ];
        for (value, expected) in cases {
            assert_eq!(to_php_string(value), expected, "{value:e}");
        }
    }

    #[test]
    fn json_matches_serialize_precision_minus_1() {
        let cases = [
            (0.1, "0.1"),
            (1.0, "1"),
            (1e25, "1.0e+25"),
            (1e-5, "1.0e-5"),
            (-0.0, "-0"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (1e16, "10000000000000000"),
            (1e17, "1.0e+17"),
            (1.0 / 3.0, "0.3333333333333333"),
            (0.30000000000000004, "0.30000000000000004"),
            // Exact sums: a literal of these digits is a lint (excessive precision).
            (724980121350372.0 + 0.25, "724980121350372.2"),
            (-(2682628330161.0 + 0.15625), "-2682628330161.1562"),
            (724980121350372.0 + 0.375, "724980121350372.4"),
            (5e-324, "5.0e-324"),
        ];
        for (value, expected) in cases {
            assert_eq!(to_json(value), expected, "{value:e}");
        }
    }

    #[test]
    fn non_finite_values_read_like_php() {
        assert_eq!(to_php_string(f64::NAN), "NAN");
        assert_eq!(to_php_string(f64::NEG_INFINITY), "-INF");
    }
}
