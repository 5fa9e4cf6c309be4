//! Fixed-width base36 (0-9, a-z) for big-endian unsigned numbers of any byte length, as Go's
//! `big.Int.Text(36)` writes them, left-padded with zeros.

/// The base36 digits, lowest first; Go writes lowercase.
const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// Why a base36 string was refused by [`decode`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// Not a base36 digit, at this position.
    Character { ch: char, position: usize },
    /// The number does not fit in the output's bytes.
    Overflow,
}

/// Writes `bytes` (a big-endian number) in base36, left-padded with `0` to at least `width`.
pub(crate) fn encode(bytes: &[u8], width: usize) -> String {
    let mut n = bytes.to_vec();
    let mut out = Vec::with_capacity(width);
    // Long division by 36, collecting remainders lowest digit first.
    while n.iter().any(|&b| b != 0) {
        let mut rem: u32 = 0;
        for b in n.iter_mut() {
            let cur = (rem << 8) | u32::from(*b);
            *b = (cur / 36) as u8;
            rem = cur % 36;
        }
        out.push(DIGITS[rem as usize]);
    }
    while out.len() < width {
        out.push(b'0');
    }
    out.reverse();
    out.into_iter().map(char::from).collect()
}

/// Reads a base36 string (lowercase digits only) into a big-endian number of `N` bytes.
pub(crate) fn decode<const N: usize>(text: &str) -> Result<[u8; N], DecodeError> {
    let mut n = [0u8; N];
    for (position, ch) in text.chars().enumerate() {
        let digit = match ch {
            '0'..='9' => ch as u32 - '0' as u32,
            'a'..='z' => ch as u32 - 'a' as u32 + 10,
            _ => return Err(DecodeError::Character { ch, position }),
        };
        // n = n * 36 + digit, from the lowest byte up.
        let mut carry = digit;
        for b in n.iter_mut().rev() {
            let cur = u32::from(*b) * 36 + carry;
            *b = (cur & 0xff) as u8;
            carry = cur >> 8;
        }
        if carry != 0 {
            return Err(DecodeError::Overflow);
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_numbers_match_go() {
        assert_eq!(encode(&[0], 0), "");
        assert_eq!(encode(&[0], 3), "000");
        assert_eq!(encode(&[35], 1), "z");
        assert_eq!(encode(&[36], 1), "10");
        // 0xffff = 65535 = 1ekf in base36 (Go: strconv.FormatInt(65535, 36)).
        assert_eq!(encode(&[0xff, 0xff], 6), "001ekf");
    }

    #[test]
    fn max_128_bits_is_25_digits() {
        // 2^128-1 in base36 (Go: new(big.Int).Lsh(1,128).Sub(..,1).Text(36)).
        let s = encode(&[0xff; 16], 25);
        assert_eq!(s, "f5lxx1zz5pnorynqglhzmsp33");
        assert_eq!(decode::<16>(&s), Ok([0xff; 16]));
    }

    #[test]
    fn round_trips() {
        for seed in 0u8..=255 {
            let bytes: [u8; 32] =
                std::array::from_fn(|i| seed.wrapping_mul(31).wrapping_add(i as u8 * 7));
            let s = encode(&bytes, 50);
            assert_eq!(s.len(), 50);
            assert_eq!(decode::<32>(&s), Ok(bytes));
        }
    }

    #[test]
    fn refuses_overflow_and_bad_characters() {
        assert_eq!(
            decode::<16>("f5lxx1zz5pnorynqglhzmsp34"),
            Err(DecodeError::Overflow)
        );
        assert_eq!(decode::<1>("74"), Err(DecodeError::Overflow)); // 256
        assert_eq!(decode::<1>("73"), Ok([255]));
        assert_eq!(
            decode::<16>("00A"),
            Err(DecodeError::Character {
                ch: 'A',
                position: 2
            })
        );
        assert_eq!(
            decode::<16>("0-"),
            Err(DecodeError::Character {
                ch: '-',
                position: 1
            })
        );
    }
}
