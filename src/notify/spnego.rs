//! SPNEGO (RFC 4178) around NTLM, as Windows sends it to IIS when the server offers `Negotiate` and
//! Kerberos is not available (no ticket for the server's SPN, or no domain controller in reach): the
//! first message is a GSS-API `InitialContextToken` (RFC 2743 §3.1) carrying a `NegTokenInit` whose
//! only mechanism is NTLMSSP (OID 1.3.6.1.4.1.311.2.2.10) and whose `mechToken` is the NTLM NEGOTIATE;
//! the server answers a `NegTokenResp` (`accept-incomplete`, NTLMSSP, the NTLM CHALLENGE); the client's
//! next `NegTokenResp` carries the NTLM AUTHENTICATE. No `mechListMIC` is sent: the NTLM messages here
//! carry no MIC, and then SPNEGO requires none (RFC 4178 §5, MS-SPNG 3.1.5.1).
//!
//! Kerberos itself is not implemented: it needs a KDC (and on Windows SSPI). The lab has none, so it
//! cannot be tested here; the connector speaks what Windows speaks without one.
//!
//! Only the DER this needs is read and written. The reader is bounded and never panics: a malformed
//! token is a typed [`SpnegoError`] (the property tests in `tests/integration/prop_hosted.rs` feed it
//! arbitrary bytes). Both sides use it: the connector's EWS client and the lab's IIS stand-in.

/// The SPNEGO mechanism, 1.3.6.1.5.5.2 (DER content octets).
pub const SPNEGO_OID: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x02];
/// NTLMSSP, 1.3.6.1.4.1.311.2.2.10 (DER content octets).
pub const NTLMSSP_OID: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a];
/// Kerberos V5, 1.2.840.113554.1.2.2 (what Windows lists first when it has a ticket).
pub const KERBEROS_OID: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02];
/// Microsoft's legacy Kerberos OID, 1.2.840.48018.1.2.2.
pub const MS_KERBEROS_OID: &[u8] = &[0x2a, 0x86, 0x48, 0x82, 0xf7, 0x12, 0x01, 0x02, 0x02];

/// The deepest a token may nest (SPNEGO needs five levels).
const MAX_DEPTH: usize = 8;

/// `negState` of a `NegTokenResp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NegState {
    /// `accept-completed` (0).
    AcceptCompleted,
    /// `accept-incomplete` (1): another round follows.
    AcceptIncomplete,
    /// `reject` (2).
    Reject,
    /// `request-mic` (3).
    RequestMic,
}

impl NegState {
    fn from_byte(b: u8) -> Option<Self> {
        match b {
            0 => Some(NegState::AcceptCompleted),
            1 => Some(NegState::AcceptIncomplete),
            2 => Some(NegState::Reject),
            3 => Some(NegState::RequestMic),
            _ => None,
        }
    }

    fn byte(self) -> u8 {
        match self {
            NegState::AcceptCompleted => 0,
            NegState::AcceptIncomplete => 1,
            NegState::Reject => 2,
            NegState::RequestMic => 3,
        }
    }
}

/// A `NegTokenInit` (the client's first message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegTokenInit {
    /// The mechanisms the client offers, most preferred first (DER content octets of each OID).
    pub mech_types: Vec<Vec<u8>>,
    /// The optimistic token of the first mechanism.
    pub mech_token: Option<Vec<u8>>,
}

/// A `NegTokenResp` (every later message, both ways).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegTokenResp {
    /// Where the negotiation stands (absent in the client's later messages).
    pub neg_state: Option<NegState>,
    /// The mechanism the server chose (its first answer only).
    pub supported_mech: Option<Vec<u8>>,
    /// The mechanism's token.
    pub response_token: Option<Vec<u8>>,
}

/// Why a token could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpnegoError {
    /// Truncated, a length past the end, or a tag where another was required.
    #[error("malformed SPNEGO token: {0}")]
    Malformed(&'static str),
    /// A GSS-API token of another mechanism than SPNEGO.
    #[error("not an SPNEGO token (another GSS-API mechanism)")]
    NotSpnego,
}

// ---- DER ----

fn push_tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .iter()
            .copied()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend_from_slice(&bytes);
    }
    out.extend_from_slice(content);
}

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    push_tlv(&mut out, tag, content);
    out
}

/// Reads one TLV from the front of `input`: (tag, content, rest).
fn read_tlv(input: &[u8]) -> Result<(u8, &[u8], &[u8]), SpnegoError> {
    let (&tag, rest) = input.split_first().ok_or(SpnegoError::Malformed("empty"))?;
    let (&first, rest) = rest
        .split_first()
        .ok_or(SpnegoError::Malformed("no length"))?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return Err(SpnegoError::Malformed("bad length"));
        }
        let len = rest[..count]
            .iter()
            .fold(0usize, |n, b| (n << 8) | usize::from(*b));
        (len, &rest[count..])
    };
    if rest.len() < len {
        return Err(SpnegoError::Malformed("length past the end"));
    }
    Ok((tag, &rest[..len], &rest[len..]))
}

/// Reads one TLV that must have `tag`.
fn expect<'a>(
    input: &'a [u8],
    tag: u8,
    what: &'static str,
) -> Result<(&'a [u8], &'a [u8]), SpnegoError> {
    let (found, content, rest) = read_tlv(input)?;
    if found != tag {
        return Err(SpnegoError::Malformed(what));
    }
    Ok((content, rest))
}

/// The context-tagged fields `[n]` of a SEQUENCE, in order.
fn fields(mut seq: &[u8]) -> Result<Vec<(u8, &[u8])>, SpnegoError> {
    let mut out = Vec::new();
    while !seq.is_empty() {
        if out.len() >= MAX_DEPTH {
            return Err(SpnegoError::Malformed("too many fields"));
        }
        let (tag, content, rest) = read_tlv(seq)?;
        if tag & 0xe0 != 0xa0 {
            return Err(SpnegoError::Malformed("a field that is not context-tagged"));
        }
        out.push((tag & 0x1f, content));
        seq = rest;
    }
    Ok(out)
}

// ---- tokens ----

/// The client's first token: `InitialContextToken { SPNEGO, NegTokenInit { mechTypes [NTLMSSP],
/// mechToken <ntlm_negotiate> } }`.
pub fn init_token(ntlm_negotiate: &[u8]) -> Vec<u8> {
    let mech_list = tlv(0x30, &tlv(0x06, NTLMSSP_OID));
    let mut init = tlv(0xa0, &mech_list);
    push_tlv(&mut init, 0xa2, &tlv(0x04, ntlm_negotiate));
    let neg_token_init = tlv(0xa0, &tlv(0x30, &init));
    let mut inner = tlv(0x06, SPNEGO_OID);
    inner.extend_from_slice(&neg_token_init);
    tlv(0x60, &inner)
}

/// A `NegTokenResp` (`[1] SEQUENCE {...}`), as both sides send after the first message.
pub fn resp_token(resp: &NegTokenResp) -> Vec<u8> {
    let mut seq = Vec::new();
    if let Some(state) = resp.neg_state {
        push_tlv(&mut seq, 0xa0, &tlv(0x0a, &[state.byte()]));
    }
    if let Some(mech) = &resp.supported_mech {
        push_tlv(&mut seq, 0xa1, &tlv(0x06, mech));
    }
    if let Some(token) = &resp.response_token {
        push_tlv(&mut seq, 0xa2, &tlv(0x04, token));
    }
    tlv(0xa1, &tlv(0x30, &seq))
}

/// Reads the client's first token (GSS-API framed `NegTokenInit`).
pub fn parse_init(token: &[u8]) -> Result<NegTokenInit, SpnegoError> {
    let (inner, _) = expect(token, 0x60, "not a GSS-API initial token")?;
    let (oid, rest) = expect(inner, 0x06, "no mechanism OID")?;
    if oid != SPNEGO_OID {
        return Err(SpnegoError::NotSpnego);
    }
    let (choice, _) = expect(rest, 0xa0, "not a NegTokenInit")?;
    let (seq, _) = expect(choice, 0x30, "NegTokenInit is not a SEQUENCE")?;
    let mut init = NegTokenInit {
        mech_types: Vec::new(),
        mech_token: None,
    };
    for (n, content) in fields(seq)? {
        match n {
            0 => {
                let (mut list, _) = expect(content, 0x30, "mechTypes is not a SEQUENCE")?;
                while !list.is_empty() {
                    if init.mech_types.len() >= 16 {
                        return Err(SpnegoError::Malformed("too many mechanisms"));
                    }
                    let (oid, rest) = expect(list, 0x06, "a mechanism that is not an OID")?;
                    init.mech_types.push(oid.to_vec());
                    list = rest;
                }
            }
            2 => {
                let (octets, _) = expect(content, 0x04, "mechToken is not an OCTET STRING")?;
                init.mech_token = Some(octets.to_vec());
            }
            // reqFlags [1] and mechListMIC [3]: not used.
            _ => {}
        }
    }
    if init.mech_types.is_empty() {
        return Err(SpnegoError::Malformed("no mechanism offered"));
    }
    Ok(init)
}

/// Reads a `NegTokenResp`.
pub fn parse_resp(token: &[u8]) -> Result<NegTokenResp, SpnegoError> {
    let (choice, _) = expect(token, 0xa1, "not a NegTokenResp")?;
    let (seq, _) = expect(choice, 0x30, "NegTokenResp is not a SEQUENCE")?;
    let mut resp = NegTokenResp {
        neg_state: None,
        supported_mech: None,
        response_token: None,
    };
    for (n, content) in fields(seq)? {
        match n {
            0 => {
                let (value, _) = expect(content, 0x0a, "negState is not ENUMERATED")?;
                let [b] = value else {
                    return Err(SpnegoError::Malformed("negState is not one byte"));
                };
                resp.neg_state = Some(
                    NegState::from_byte(*b).ok_or(SpnegoError::Malformed("unknown negState"))?,
                );
            }
            1 => {
                let (oid, _) = expect(content, 0x06, "supportedMech is not an OID")?;
                resp.supported_mech = Some(oid.to_vec());
            }
            2 => {
                let (octets, _) = expect(content, 0x04, "responseToken is not an OCTET STRING")?;
                resp.response_token = Some(octets.to_vec());
            }
            _ => {}
        }
    }
    Ok(resp)
}

/// Whether `token` is a raw NTLMSSP message (some clients send NTLM under `Negotiate` unwrapped).
pub fn is_raw_ntlm(token: &[u8]) -> bool {
    token.starts_with(b"NTLMSSP\0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_init_token_is_what_windows_sends_without_kerberos() {
        let token = init_token(b"NTLMSSP\0\x01\0\0\0");
        // GSS-API framing, the SPNEGO OID, then NegTokenInit with NTLMSSP only.
        assert_eq!(&token[..2], &[0x60, token.len() as u8 - 2]);
        assert_eq!(
            &token[2..10],
            &[0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02]
        );
        let init = parse_init(&token).unwrap();
        assert_eq!(init.mech_types, vec![NTLMSSP_OID.to_vec()]);
        assert_eq!(
            init.mech_token.as_deref(),
            Some(&b"NTLMSSP\0\x01\0\0\0"[..])
        );
    }

    #[test]
    fn responses_round_trip_with_long_lengths() {
        let resp = NegTokenResp {
            neg_state: Some(NegState::AcceptIncomplete),
            supported_mech: Some(NTLMSSP_OID.to_vec()),
            response_token: Some(vec![7; 300]),
        };
        assert_eq!(parse_resp(&resp_token(&resp)).unwrap(), resp);
        let done = NegTokenResp {
            neg_state: Some(NegState::AcceptCompleted),
            supported_mech: None,
            response_token: None,
        };
        assert_eq!(parse_resp(&resp_token(&done)).unwrap(), done);
    }

    #[test]
    fn a_kerberos_first_list_is_read_and_other_mechanisms_refused() {
        // Windows with a ticket lists MS-Kerberos, Kerberos, then NTLM.
        let list = [MS_KERBEROS_OID, KERBEROS_OID, NTLMSSP_OID]
            .iter()
            .flat_map(|oid| tlv(0x06, oid))
            .collect::<Vec<u8>>();
        let init = tlv(0xa0, &tlv(0x30, &tlv(0xa0, &tlv(0x30, &list))));
        let mut inner = tlv(0x06, SPNEGO_OID);
        inner.extend_from_slice(&init);
        let parsed = parse_init(&tlv(0x60, &inner)).unwrap();
        assert_eq!(parsed.mech_types.len(), 3);
        assert_eq!(parsed.mech_token, None);
        let mut krb = tlv(0x06, KERBEROS_OID);
        krb.extend_from_slice(&[0x01, 0x00]);
        assert_eq!(parse_init(&tlv(0x60, &krb)), Err(SpnegoError::NotSpnego));
        assert!(parse_init(&[0x60, 0x84, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(parse_resp(&[]).is_err());
        assert!(is_raw_ntlm(b"NTLMSSP\0\x03"));
    }
}
