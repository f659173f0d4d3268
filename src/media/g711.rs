//! G.711 μ-law (PCMU) and A-law (PCMA) sample codecs.
//!
//! Owns the mapping between 16-bit linear PCM and the 8-bit G.711 code words.
//! The conventions are those of the Sun reference `g711.c` that most VoIP
//! stacks copy, so our bytes match what carriers and softphones expect:
//!
//! - μ-law works on the top 14 bits (`x >> 2`), clips at 8159 and biases by
//!   33; decoded values span ±32124. Code `0xFF` is +0 and `0x7F` is −0: both
//!   decode to 0 and 0 encodes to `0xFF`, so `0x7F` is the one code that does
//!   not survive `encode(decode(c))`.
//! - A-law works on the top 13 bits (`x >> 3`) with even bits inverted
//!   (`^ 0x55`); there is no zero code, the smallest levels are ±8, and
//!   every one of the 256 codes survives `encode(decode(c))`.
//!
//! Decoding is a table lookup (tables built at compile time); encoding is a
//! segment search done with `leading_zeros`, which is branch-light and needs
//! no 64 KiB table.

/// A G.711 companding law, i.e. one of the two static RTP audio codecs we speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Law {
    /// μ-law, RTP static payload type 0 (North America, Japan).
    Pcmu,
    /// A-law, RTP static payload type 8 (Europe and most of the world).
    Pcma,
}

impl Law {
    /// The static RTP payload type of this law (RFC 3551): 0 or 8.
    #[must_use]
    pub const fn payload_type(self) -> u8 {
        match self {
            Law::Pcmu => 0,
            Law::Pcma => 8,
        }
    }

    /// The SDP `rtpmap` encoding name: `"PCMU"` or `"PCMA"`.
    #[must_use]
    pub const fn encoding_name(self) -> &'static str {
        match self {
            Law::Pcmu => "PCMU",
            Law::Pcma => "PCMA",
        }
    }

    /// The law of a static payload type, if it is 0 or 8.
    #[must_use]
    pub const fn from_payload_type(payload_type: u8) -> Option<Law> {
        match payload_type {
            0 => Some(Law::Pcmu),
            8 => Some(Law::Pcma),
            _ => None,
        }
    }

    /// The code word for digital silence (linear 0): `0xFF` PCMU, `0xD5` PCMA.
    #[must_use]
    pub const fn silence(self) -> u8 {
        match self {
            Law::Pcmu => 0xFF,
            Law::Pcma => 0xD5,
        }
    }

    /// Encodes one linear sample.
    #[must_use]
    pub fn encode(self, sample: i16) -> u8 {
        match self {
            Law::Pcmu => ulaw_encode(sample),
            Law::Pcma => alaw_encode(sample),
        }
    }

    /// Decodes one code word.
    #[must_use]
    pub fn decode(self, code: u8) -> i16 {
        match self {
            Law::Pcmu => ulaw_decode(code),
            Law::Pcma => alaw_decode(code),
        }
    }
}

/// μ-law bias in the 14-bit domain (0x84 in the 16-bit domain).
const ULAW_BIAS: i32 = 0x84 >> 2;
/// Largest 14-bit magnitude μ-law represents before clipping.
const ULAW_CLIP: i32 = 8159;

/// Encodes a linear sample to μ-law.
#[must_use]
pub fn ulaw_encode(sample: i16) -> u8 {
    let mut magnitude = i32::from(sample) >> 2;
    let mask: u8 = if magnitude < 0 {
        magnitude = -magnitude;
        0x7F
    } else {
        0xFF
    };
    let biased = magnitude.min(ULAW_CLIP) + ULAW_BIAS; // 33..=8192
    // Segment s holds biased values below 0x40 << s; bit length 6 is segment 0.
    let bits = u32::BITS - biased.unsigned_abs().leading_zeros();
    let segment = bits.saturating_sub(6);
    if segment >= 8 {
        return 0x7F ^ mask;
    }
    let mantissa = (biased >> (segment + 1)) & 0x0F;
    // segment < 8 and mantissa < 16, so the code fits in 7 bits.
    let code = (segment << 4) as u8 | mantissa as u8;
    code ^ mask
}

/// Encodes a linear sample to A-law.
#[must_use]
pub fn alaw_encode(sample: i16) -> u8 {
    let value = i32::from(sample) >> 3; // -4096..=4095
    // Negative values are stored as one's complement magnitude, so -1 and 0
    // land on the two smallest codes instead of sharing one.
    let (mask, magnitude): (u8, i32) = if value >= 0 {
        (0xD5, value)
    } else {
        (0x55, -value - 1)
    };
    // magnitude <= 4095 has at most 12 bits, so the segment is at most 7:
    // A-law needs no clipping branch.
    let bits = u32::BITS - magnitude.unsigned_abs().leading_zeros();
    let segment = bits.saturating_sub(5);
    // Segments 0 and 1 share the same step size (2 in the 13-bit domain).
    let shift = if segment < 2 { 1 } else { segment };
    let mantissa = (magnitude >> shift) & 0x0F;
    let code = (segment << 4) as u8 | mantissa as u8;
    code ^ mask
}

/// Decodes a μ-law code word to a linear sample.
#[must_use]
pub fn ulaw_decode(code: u8) -> i16 {
    ULAW_TABLE[usize::from(code)]
}

/// Decodes an A-law code word to a linear sample.
#[must_use]
pub fn alaw_decode(code: u8) -> i16 {
    ALAW_TABLE[usize::from(code)]
}

/// Appends the encoding of `samples` to `out`.
pub fn encode_into(law: Law, samples: &[i16], out: &mut Vec<u8>) {
    out.reserve(samples.len());
    match law {
        Law::Pcmu => out.extend(samples.iter().map(|&s| ulaw_encode(s))),
        Law::Pcma => out.extend(samples.iter().map(|&s| alaw_encode(s))),
    }
}

/// Appends the decoding of `codes` to `out`.
pub fn decode_into(law: Law, codes: &[u8], out: &mut Vec<i16>) {
    let table = match law {
        Law::Pcmu => &ULAW_TABLE,
        Law::Pcma => &ALAW_TABLE,
    };
    out.reserve(codes.len());
    out.extend(codes.iter().map(|&c| table[usize::from(c)]));
}

static ULAW_TABLE: [i16; 256] = build_table(Law::Pcmu);
static ALAW_TABLE: [i16; 256] = build_table(Law::Pcma);

const fn build_table(law: Law) -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut code = 0usize;
    while code < 256 {
        table[code] = match law {
            Law::Pcmu => ulaw_expand(code as u8),
            Law::Pcma => alaw_expand(code as u8),
        };
        code += 1;
    }
    table
}

/// Sun `ulaw2linear`: the table generator.
const fn ulaw_expand(code: u8) -> i16 {
    let u = !code;
    let t = (((u & 0x0F) as i32) << 3) + 0x84;
    let t = t << ((u & 0x70) >> 4);
    // |t - 0x84| <= 32124, so the value fits in i16.
    if u & 0x80 != 0 {
        (0x84 - t) as i16
    } else {
        (t - 0x84) as i16
    }
}

/// Sun `alaw2linear`: the table generator.
const fn alaw_expand(code: u8) -> i16 {
    let a = code ^ 0x55;
    let mut t = ((a & 0x0F) as i32) << 4;
    let segment = (a & 0x70) >> 4;
    t = match segment {
        0 => t + 8,
        1 => t + 0x108,
        _ => (t + 0x108) << (segment - 1),
    };
    // t <= 32256, so the value fits in i16.
    if a & 0x80 != 0 { t as i16 } else { -t as i16 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// ITU-T G.711 μ-law reconstruction written from the standard's table,
    /// independently of the implementation: 14-bit magnitude
    /// `((2m + 33) << e) - 33`, scaled to 16 bits by 4.
    fn ulaw_reference(code: u8) -> i32 {
        let inverted = !code;
        let negative = inverted & 0x80 != 0;
        let exponent = u32::from((inverted >> 4) & 0x07);
        let mantissa = i32::from(inverted & 0x0F);
        let magnitude = (((2 * mantissa + 33) << exponent) - 33) * 4;
        if negative { -magnitude } else { magnitude }
    }

    /// ITU-T G.711 A-law reconstruction: 13-bit magnitude `2m + 1` in
    /// segment 0 and `(2m + 33) << (e - 1)` above, scaled to 16 bits by 8.
    fn alaw_reference(code: u8) -> i32 {
        let a = code ^ 0x55;
        let positive = a & 0x80 != 0;
        let exponent = u32::from((a >> 4) & 0x07);
        let mantissa = i32::from(a & 0x0F);
        let magnitude = if exponent == 0 {
            2 * mantissa + 1
        } else {
            (2 * mantissa + 33) << (exponent - 1)
        } * 8;
        if positive { magnitude } else { -magnitude }
    }

    /// Step between neighbouring reconstruction levels in the segment of `code`.
    fn step(law: Law, code: u8) -> i32 {
        match law {
            Law::Pcmu => 8 << ((!code >> 4) & 0x07),
            Law::Pcma => {
                let exponent = ((code ^ 0x55) >> 4) & 0x07;
                16 << exponent.saturating_sub(1)
            }
        }
    }

    #[test]
    fn ulaw_decodes_all_codes_like_the_reference() {
        for code in 0..=255u8 {
            assert_eq!(
                i32::from(ulaw_decode(code)),
                ulaw_reference(code),
                "code {code:#04x}"
            );
        }
        assert_eq!(ulaw_decode(0x00), -32124);
        assert_eq!(ulaw_decode(0x80), 32124);
    }

    #[test]
    fn alaw_decodes_all_codes_like_the_reference() {
        for code in 0..=255u8 {
            assert_eq!(
                i32::from(alaw_decode(code)),
                alaw_reference(code),
                "code {code:#04x}"
            );
        }
        assert_eq!(alaw_decode(0xD5), 8);
        assert_eq!(alaw_decode(0x55), -8);
        assert_eq!(alaw_decode(0xAA), 32256);
    }

    #[test]
    fn ulaw_round_trips_every_code_but_negative_zero() {
        for code in 0..=255u8 {
            let back = ulaw_encode(ulaw_decode(code));
            if code == 0x7F {
                // −0 decodes to 0, and 0 is encoded as +0.
                assert_eq!(back, 0xFF);
            } else {
                assert_eq!(back, code, "code {code:#04x}");
            }
        }
    }

    #[test]
    fn alaw_round_trips_every_code() {
        for code in 0..=255u8 {
            assert_eq!(alaw_encode(alaw_decode(code)), code, "code {code:#04x}");
        }
    }

    #[test]
    fn silence_is_the_encoding_of_zero() {
        for law in [Law::Pcmu, Law::Pcma] {
            assert_eq!(law.encode(0), law.silence());
            assert_eq!(Law::from_payload_type(law.payload_type()), Some(law));
        }
        assert_eq!(Law::Pcmu.encoding_name(), "PCMU");
        assert_eq!(Law::Pcma.encoding_name(), "PCMA");
        assert_eq!(Law::from_payload_type(18), None);
    }

    #[test]
    fn encode_is_monotonic_and_within_one_step_over_all_samples() {
        for law in [Law::Pcmu, Law::Pcma] {
            let mut previous = i32::MIN;
            for sample in i16::MIN..=i16::MAX {
                let code = law.encode(sample);
                let level = i32::from(law.decode(code));
                assert!(level >= previous, "{law:?} not monotonic at {sample}");
                previous = level;
                let error = (level - i32::from(sample)).abs();
                assert!(error <= step(law, code), "{law:?} {sample}: error {error}");
            }
        }
    }

    #[test]
    fn slice_helpers_append() {
        let samples = [0i16, 1000, -1000, i16::MAX, i16::MIN];
        for law in [Law::Pcmu, Law::Pcma] {
            let mut codes = vec![0x42];
            encode_into(law, &samples, &mut codes);
            assert_eq!(codes.len(), 6);
            assert_eq!(codes.first(), Some(&0x42));
            let expected: Vec<u8> = samples.iter().map(|&s| law.encode(s)).collect();
            assert_eq!(codes.get(1..), Some(&expected[..]));
            let mut decoded = Vec::new();
            decode_into(law, &expected, &mut decoded);
            let reference: Vec<i16> = expected.iter().map(|&c| law.decode(c)).collect();
            assert_eq!(decoded, reference);
        }
    }

    proptest! {
        #[test]
        fn quantisation_error_is_within_one_step(sample in any::<i16>()) {
            for law in [Law::Pcmu, Law::Pcma] {
                let code = law.encode(sample);
                let error = (i32::from(law.decode(code)) - i32::from(sample)).abs();
                prop_assert!(error <= step(law, code));
            }
        }
    }
}
