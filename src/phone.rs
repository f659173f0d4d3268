//! Chinese phone numbers in one canonical form, so a caller is found
//! whichever way the carrier wrote their number.
//!
//! [`normalise`] takes a number as carriers deliver it in the user part of
//! `From` or `P-Asserted-Identity` (or as an agent types it) and returns
//! the form hotline stores and compares (`customer_phones.phone`,
//! `outlets.phone`): ASCII digits only, written as it is dialled inside
//! mainland China.
//!
//! The rules, in order:
//! 1. Spaces, dashes and parentheses are dropped anywhere. One `+` may
//!    lead. Any other character (a `sip:` or `tel:` leftover, `@`, `;`
//!    parameters, letters, full-width digits) gives `None`, as does an
//!    empty result.
//! 2. The country code 86, written `+86`, `0086` or a bare `86`, is
//!    dropped, and what follows (its national significant number; one
//!    stray trunk `0` after `+86` or `0086` is tolerated) must be one of:
//!    - a mobile number, 11 digits `1[3-9]…` → as it is
//!      (`+8613812345678` → `13812345678`);
//!    - a 400/800 service number, 10 digits → as it is;
//!    - a landline, area code without its trunk `0` and subscriber number,
//!      10 or 11 digits starting `10`, `2` or `3`–`9` → the trunk `0` put
//!      back (`+86 571 8888 1234` → `057188881234`).
//!
//!    Anything else after `+86`/`0086` gives `None`. A bare `86` is
//!    dropped only when the rest is one of the three above (`86` alone
//!    could start a local number): otherwise the digits fall to rule 4.
//! 3. Other international numbers: `+CC…` becomes `00CC…`, the form a
//!    Chinese carrier shows; `00CC…` stays. 7–15 digits after the prefix,
//!    else `None`.
//! 4. National forms:
//!    - `0` followed by a mobile number (how some exchanges deliver a
//!      mobile from another city) → the mobile number
//!      (`013812345678` → `13812345678`);
//!    - everything else of 3 to 15 digits stays as it is: mobile and
//!      landline numbers with their trunk `0` (`057188881234`), 400/800
//!      numbers (`4008001234`), short codes (`10086`, `95588`), local
//!      numbers given without their area code;
//!    - shorter or longer digit strings give `None`.
//!
//! Normalising is idempotent: a normalised number normalises to itself.

/// A number in hotline's canonical form, or `None` if `raw` is not a
/// phone number (see the module docs for the rules).
pub fn normalise(raw: &str) -> Option<String> {
    let mut digits = String::with_capacity(raw.len());
    let mut plus = false;
    for c in raw.chars() {
        match c {
            ' ' | '-' | '(' | ')' => {}
            '+' if digits.is_empty() && !plus => plus = true,
            '0'..='9' => digits.push(c),
            _ => return None,
        }
    }

    if plus {
        return match digits.strip_prefix("86") {
            Some(rest) => national_significant(rest.strip_prefix('0').unwrap_or(rest)),
            None => foreign(&digits).map(|d| format!("00{d}")),
        };
    }
    if let Some(rest) = digits.strip_prefix("0086") {
        return national_significant(rest.strip_prefix('0').unwrap_or(rest));
    }
    if let Some(rest) = digits.strip_prefix("00") {
        return foreign(rest).map(|_| digits.clone());
    }
    if let Some(national) = digits.strip_prefix("86").and_then(national_significant) {
        return Some(national);
    }
    if let Some(mobile) = digits.strip_prefix('0').filter(|rest| is_mobile(rest)) {
        return Some(mobile.to_owned());
    }
    (3..=15).contains(&digits.len()).then_some(digits)
}

/// The national form of a number given without country code or trunk
/// prefix, if it is a mobile, service or landline number.
fn national_significant(nsn: &str) -> Option<String> {
    if is_mobile(nsn) || is_service(nsn) {
        Some(nsn.to_owned())
    } else if is_landline_without_trunk(nsn) {
        Some(format!("0{nsn}"))
    } else {
        None
    }
}

/// The digits after an international prefix other than 86, if plausible.
fn foreign(digits: &str) -> Option<&str> {
    (7..=15).contains(&digits.len()).then_some(digits)
}

/// 11 digits, `1` then `3`–`9`.
fn is_mobile(d: &str) -> bool {
    let b = d.as_bytes();
    b.len() == 11 && b[0] == b'1' && (b'3'..=b'9').contains(&b[1])
}

/// 10 digits starting `400` or `800`.
fn is_service(d: &str) -> bool {
    d.len() == 10 && (d.starts_with("400") || d.starts_with("800"))
}

/// Area code (2 or 3 digits once its trunk `0` is gone: `10`, `2x`,
/// `3xx`–`9xx`) and subscriber number (7 or 8 digits): 10 or 11 digits.
fn is_landline_without_trunk(d: &str) -> bool {
    let two_digit_code = d.starts_with("10") || d.starts_with('2');
    let three_digit_code = d
        .as_bytes()
        .first()
        .is_some_and(|c| (b'3'..=b'9').contains(c));
    match d.len() {
        // 2-digit codes have 8-digit subscribers; 3-digit codes 7 or 8.
        10 => two_digit_code || three_digit_code,
        11 => three_digit_code,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::normalise;
    use proptest::prelude::*;

    fn n(raw: &str) -> Option<String> {
        normalise(raw)
    }

    #[test]
    fn mobile_numbers_in_every_carrier_form() {
        for raw in [
            "13812345678",
            "+8613812345678",
            "008613812345678",
            "8613812345678",
            "+86 138 1234 5678",
            "+86-138-1234-5678",
            "(+86) 138 1234 5678",
            "+86 0138 1234 5678",
            "013812345678",
            " 138 1234 5678 ",
        ] {
            assert_eq!(n(raw).as_deref(), Some("13812345678"), "{raw:?}");
        }
        assert_eq!(n("19912345678").as_deref(), Some("19912345678"));
    }

    #[test]
    fn landlines_keep_or_regain_their_trunk_zero() {
        for raw in [
            "+86 571 8888 1234",
            "+8657188881234",
            "008657188881234",
            "8657188881234",
            "057188881234",
            "0571-88881234",
            "(0571) 8888 1234",
            "+86 (0)571 8888 1234",
        ] {
            assert_eq!(n(raw).as_deref(), Some("057188881234"), "{raw:?}");
        }
        // Beijing and Nanjing: 2-digit area codes, 8-digit subscribers.
        assert_eq!(n("+86 10 6512 3456").as_deref(), Some("01065123456"));
        assert_eq!(n("861065123456").as_deref(), Some("01065123456"));
        assert_eq!(n("+86 25 8333 1234").as_deref(), Some("02583331234"));
        // A 3-digit code with a 7-digit subscriber.
        assert_eq!(n("+86 913 123 4567").as_deref(), Some("09131234567"));
    }

    #[test]
    fn service_and_short_numbers_stay() {
        for raw in ["4008001234", "8008101234", "10086", "95588", "110"] {
            assert_eq!(n(raw).as_deref(), Some(raw), "{raw:?}");
        }
        assert_eq!(n("400-800-1234").as_deref(), Some("4008001234"));
        assert_eq!(n("+86 400 800 1234").as_deref(), Some("4008001234"));
        assert_eq!(n("86 400 800 1234").as_deref(), Some("4008001234"));
        // A local number without its area code, starting 86.
        assert_eq!(n("86123456").as_deref(), Some("86123456"));
    }

    #[test]
    fn other_countries_use_the_00_prefix() {
        assert_eq!(n("+1 415 555 2671").as_deref(), Some("0014155552671"));
        assert_eq!(n("0014155552671").as_deref(), Some("0014155552671"));
        assert_eq!(n("+852 2123 4567").as_deref(), Some("0085221234567"));
        assert_eq!(n("+1 23"), None);
        assert_eq!(n("00123"), None);
    }

    #[test]
    fn junk_is_not_a_number() {
        for raw in [
            "",
            "   ",
            "+",
            "--",
            "sip:13812345678",
            "sip:13812345678@carrier.example",
            "tel:+8613812345678",
            "13812345678@10.0.0.1",
            "13812345678;cpc=ordinary",
            "anonymous",
            "Anonymous",
            "unknown",
            "1381234567x",
            "１３８１２３４５６７８",
            "++8613812345678",
            "86+13812345678",
            "12",
            "1234567890123456",
            // +86 followed by no Chinese number.
            "+86 12345",
            "+86 13812345",
            "0086 0086 13812345678",
        ] {
            assert_eq!(n(raw), None, "{raw:?}");
        }
    }

    proptest! {
        #[test]
        fn normalising_is_idempotent(raw in "[+]?[0-9 ()-]{0,20}") {
            let once = normalise(&raw);
            if let Some(once) = &once {
                prop_assert_eq!(normalise(once), Some(once.clone()), "from {:?}", raw);
                prop_assert!(once.bytes().all(|b| b.is_ascii_digit()), "{:?}", once);
            }
        }

        #[test]
        fn carrier_forms_of_one_number_agree(
            nsn in prop_oneof![
                "1[3-9][0-9]{9}",
                "(400|800)[0-9]{7}",
                "(10|2[0-9])[0-9]{8}",
                "[3-9][0-9]{2}[0-9]{7,8}",
            ],
        ) {
            // Landlines are dialled at home with their trunk 0. A 10-digit
            // 400/800 number is a service number (no area code is 400/800).
            let mobile = nsn.len() == 11 && nsn.starts_with('1');
            let service = nsn.len() == 10 && (nsn.starts_with("400") || nsn.starts_with("800"));
            let expected = if mobile || service { nsn.clone() } else { format!("0{nsn}") };
            prop_assert_eq!(normalise(&expected), Some(expected.clone()));
            for form in [
                format!("+86{nsn}"),
                format!("+86 {nsn}"),
                format!("+86 0{nsn}"),
                format!("0086{nsn}"),
                format!("86{nsn}"),
            ] {
                prop_assert_eq!(normalise(&form), Some(expected.clone()), "{}", form);
            }
        }

        #[test]
        fn any_text_normalises_idempotently(raw in "\\PC{0,24}") {
            let once = normalise(&raw);
            if let Some(once) = &once {
                prop_assert_eq!(normalise(once), Some(once.clone()));
            }
        }
    }
}
