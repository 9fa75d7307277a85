//! Byte sizes with units, as given on the command line (`--cache-budget 4GiB`) and as printed.

use crate::StreamError;

/// Parses a byte size: a number (integer or decimal) followed by an optional unit. `KiB`, `MiB`,
/// `GiB`, `TiB` and the bare letters `K`, `M`, `G`, `T` are powers of 1024; `KB`, `MB`, `GB`,
/// `TB` are powers of 1000; `B` or no unit means bytes. Units are case-insensitive and may be
/// separated from the number by spaces. The result is rounded down to a whole byte.
pub fn parse_size(input: &str) -> Result<u64, StreamError> {
    let err = |message: &str| StreamError::Size {
        input: input.to_string(),
        message: message.to_string(),
    };
    let text = input.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    if number.is_empty() {
        return Err(err(
            "expected a number followed by an optional unit, e.g. 4GiB or 512MiB",
        ));
    }
    let value: f64 = number.parse().map_err(|_| err("the number is malformed"))?;
    let multiplier: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kib" => 1024.0,
        "m" | "mib" => 1024f64.powi(2),
        "g" | "gib" => 1024f64.powi(3),
        "t" | "tib" => 1024f64.powi(4),
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        _ => {
            return Err(err(
                "unknown unit (expected B, KiB, MiB, GiB, TiB, K, M, G, T, KB, MB, GB or TB)",
            ))
        }
    };
    let bytes = value * multiplier;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(err("too large"));
    }
    Ok(bytes as u64)
}

/// Formats a byte count with a binary unit and two decimals (`4.00 GiB`, `512 B`).
pub fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.2} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_binary_and_decimal_units() {
        assert_eq!(parse_size("4GiB").unwrap(), 4 << 30);
        assert_eq!(parse_size("4G").unwrap(), 4 << 30);
        assert_eq!(parse_size("4 gib").unwrap(), 4 << 30);
        assert_eq!(parse_size("1.5MiB").unwrap(), 3 << 19);
        assert_eq!(parse_size("2GB").unwrap(), 2_000_000_000);
        assert_eq!(parse_size("512").unwrap(), 512);
        assert_eq!(parse_size("0").unwrap(), 0);
        assert_eq!(parse_size("7k").unwrap(), 7 * 1024);
    }

    #[test]
    fn rejects_malformed_sizes_naming_the_input() {
        for bad in ["", "GiB", "4XB", "1.2.3G", "-4G"] {
            let message = parse_size(bad).unwrap_err().to_string();
            assert!(message.contains(&format!("'{bad}'")), "{message}");
        }
    }

    #[test]
    fn formats_with_binary_units() {
        assert_eq!(format_size(512), "512 B");
        assert_eq!(format_size(4 << 30), "4.00 GiB");
        assert_eq!(format_size(3 << 19), "1.50 MiB");
    }
}
