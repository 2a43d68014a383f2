//! Hex strings as the conformance convention writes them: pairs of hex
//! digits; white space is ignored.

/// Decodes `text` into bytes.
pub fn decode(text: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if digits.len() % 2 != 0 {
        return Err(format!("odd number of hex digits ({})", digits.len()));
    }
    digits
        .chunks_exact(2)
        .enumerate()
        .map(|(i, pair)| {
            let s = std::str::from_utf8(pair).map_err(|_| format!("byte {i}: not hex"))?;
            u8::from_str_radix(s, 16).map_err(|_| format!("byte {i}: '{s}' is not hex"))
        })
        .collect()
}

/// Encodes `bytes` as lowercase hex.
pub fn encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        assert_eq!(decode("00ff 10\n").unwrap(), vec![0, 255, 16]);
        assert_eq!(encode(&[0, 255, 16]), "00ff10");
        assert!(decode("abc").unwrap_err().contains("odd"));
        assert!(decode("zz").unwrap_err().contains("not hex"));
    }
}
