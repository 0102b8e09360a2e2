//! Property tests of the parsers issue 13 added: `ClientVersion` (the EAS protocol of a partnership, as
//! Exchange reports it) and the SPNEGO tokens both sides of `Authorization: Negotiate` read (the
//! connector's EWS client reads the server's `NegTokenResp`, the lab's IIS stand-in reads the client's
//! `NegTokenInit` and `NegTokenResp`). Random and mutated-valid input must never panic; what is valid
//! round-trips.

use exchange_connector::model::exchange::{EXCHANGE_ONLINE_MINIMUM_EAS, EasProtocolVersion};
use exchange_connector::notify::spnego::{
    self, NTLMSSP_OID, NegState, NegTokenResp, init_token, parse_init, parse_resp, resp_token,
};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any text: a version or `None`, never a panic; a version prints back as `major.minor`.
    #[test]
    fn client_version_never_panics(text in "\\PC{0,24}") {
        if let Some(v) = EasProtocolVersion::parse(&text) {
            prop_assert_eq!(EasProtocolVersion::parse(&v.to_string()), Some(v));
        }
    }

    /// Digits and dots in any arrangement (the likely malformations): the same.
    #[test]
    fn dotted_numbers_parse_or_refuse(text in "[0-9.]{0,20}") {
        let _ = EasProtocolVersion::parse(&text);
    }

    /// Well-formed versions compare as numbers: only those below 16.1 are below the floor.
    #[test]
    fn versions_compare_numerically(major in 0u16..100, minor in 0u16..100) {
        let v = EasProtocolVersion::parse(&format!("{major}.{minor}")).unwrap();
        prop_assert_eq!(v < EXCHANGE_ONLINE_MINIMUM_EAS, major < 16 || (major == 16 && minor < 1));
    }

    /// Arbitrary bytes: both readers return a typed result.
    #[test]
    fn spnego_readers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse_init(&bytes);
        let _ = parse_resp(&bytes);
    }

    /// Valid tokens, truncated or with one byte changed: never a panic; intact ones round-trip.
    #[test]
    fn mutated_tokens_never_panic(
        ntlm in proptest::collection::vec(any::<u8>(), 0..400),
        cut in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
        value in any::<u8>(),
    ) {
        let init = init_token(&ntlm);
        let parsed = parse_init(&init).unwrap();
        prop_assert_eq!(parsed.mech_types, vec![NTLMSSP_OID.to_vec()]);
        prop_assert_eq!(parsed.mech_token, Some(ntlm.clone()));
        let resp = NegTokenResp {
            neg_state: Some(NegState::AcceptIncomplete),
            supported_mech: Some(NTLMSSP_OID.to_vec()),
            response_token: Some(ntlm),
        };
        let encoded = resp_token(&resp);
        prop_assert_eq!(parse_resp(&encoded).unwrap(), resp);
        for token in [init, encoded] {
            let _ = parse_init(&token[..cut.index(token.len())]);
            let _ = parse_resp(&token[..cut.index(token.len())]);
            let mut changed = token.clone();
            let at = flip.index(changed.len());
            changed[at] = value;
            let _ = parse_init(&changed);
            let _ = parse_resp(&changed);
        }
        prop_assert!(!spnego::is_raw_ntlm(&[0x60]));
    }
}
