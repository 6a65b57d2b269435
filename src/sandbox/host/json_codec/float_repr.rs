//! Python's `repr(float)`: the shortest digits that read back as the same
//! float, in fixed notation when the decimal point falls within 16 digits
//! and in exponent notation (`1e+16`, `1.5e-05`) otherwise.

/// Appends `repr(value)` for a finite `value`.
pub fn push_repr(out: &mut String, value: f64) {
    // `{:e}` gives the shortest round-tripping digits: `d[.ddd]e[-]x`.
    let scientific = format!("{:e}", value.abs());
    let (mantissa, exponent) = scientific
        .split_once('e')
        .expect("`{:e}` writes an exponent");
    let exponent: i32 = exponent.parse().expect("`{:e}` writes an integer exponent");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if value.is_sign_negative() {
        out.push('-');
    }
    // The decimal point sits after `point` digits.
    let point = exponent + 1;
    let count = digits.len() as i32;
    if !(-4 < point && point <= 16) {
        out.push_str(&digits[..1]);
        if count > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let sign = if exponent < 0 { '-' } else { '+' };
        out.push_str(&format!("e{sign}{:02}", exponent.abs()));
    } else if point <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-point) as usize));
        out.push_str(&digits);
    } else if point >= count {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (point - count) as usize));
        out.push_str(".0");
    } else {
        out.push_str(&digits[..point as usize]);
        out.push('.');
        out.push_str(&digits[point as usize..]);
    }
}

#[cfg(test)]
mod tests {
    use super::push_repr;

    fn repr(value: f64) -> String {
        let mut out = String::new();
        push_repr(&mut out, value);
        out
    }

    #[test]
    fn matches_python_on_the_boundaries_of_each_notation() {
        // Each pair is (value, Python 3's repr of it).
        let cases = [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (2.5, "2.5"),
            (0.1, "0.1"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (123456789012345680.0, "1.2345678901234568e+17"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-5, "1.5e-05"),
            (1e-300, "1e-300"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (-123.456, "-123.456"),
            (9007199254740993.0, "9007199254740992.0"),
        ];
        for (value, expected) in cases {
            assert_eq!(repr(value), expected, "repr({value:?})");
        }
    }
}
