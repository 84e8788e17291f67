//! Numbers written into the world's names (event ids, message ids, addresses) without the
//! formatting machinery, which a run of thousands of instances calls hundreds of thousands of
//! times. Each writes what `format!` would (the tests compare).

/// Appends `value` in lowercase hexadecimal, zero-padded to `width` digits (as `{:0width$x}`).
pub fn push_hex(out: &mut String, value: u64, width: usize) {
    let digits = (16 - value.leading_zeros() as usize / 4).max(1).max(width);
    for k in (0..digits).rev() {
        let digit = if k < 16 { (value >> (4 * k)) & 0xf } else { 0 };
        out.push(char::from(
            b"0123456789abcdef"[usize::try_from(digit).unwrap_or(0)],
        ));
    }
}

/// The `n`th event id of a run of `seed`, of kind `kind`:
/// `{seed:08x}-{kind:04x}-4000-8000-{n:012x}` (the seed's low 32 bits).
pub fn event_id(seed: u64, kind: u16, n: u64) -> String {
    let mut id = String::with_capacity(36);
    push_hex(&mut id, seed & 0xffff_ffff, 8);
    id.push('-');
    push_hex(&mut id, u64::from(kind), 4);
    id.push_str("-4000-8000-");
    push_hex(&mut id, n, 12);
    id
}

/// Appends `value` in decimal (as `{}`).
pub fn push_decimal(out: &mut String, value: u64) {
    let mut buffer = [0u8; 20];
    let mut at = buffer.len();
    let mut rest = value;
    loop {
        at -= 1;
        buffer[at] = b'0' + u8::try_from(rest % 10).unwrap_or(0);
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    for &digit in &buffer[at..] {
        out.push(char::from(digit));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_as_format_writes_them() {
        let values = [
            0,
            1,
            9,
            10,
            15,
            16,
            255,
            4096,
            0xffff_ffff,
            u64::MAX,
            1 << 60,
        ];
        for value in values {
            for width in [0, 1, 4, 8, 12, 17, 20] {
                let mut out = String::new();
                push_hex(&mut out, value, width);
                assert_eq!(out, format!("{value:0width$x}"), "{value} {width}");
            }
            let mut out = String::new();
            push_decimal(&mut out, value);
            assert_eq!(out, value.to_string());
        }
        assert_eq!(
            event_id(0x1_2345_6789, 0x3000, 42),
            format!("{:08x}-{:04x}-4000-8000-{:012x}", 0x2345_6789, 0x3000, 42)
        );
    }
}
