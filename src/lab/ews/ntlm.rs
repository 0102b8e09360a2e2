//! The server side of NTLM (MS-NLMP) as IIS runs it in front of Autodiscover and EWS: it reads the
//! client's NEGOTIATE (type 1), answers a CHALLENGE (type 2) with a random server challenge and the
//! target information AV pairs, and checks the AUTHENTICATE (type 3) message's NTLMv2 response. NTLMv1
//! and anonymous logons are refused (LmCompatibilityLevel 5, as hardened servers run).
//!
//! NTLM authenticates a TCP connection, but axum hides the connection from handlers. The lab therefore
//! keeps a short-lived table of outstanding challenges ([`ChallengeTable`]) and accepts a type 3 message
//! on *any* connection if it answers an outstanding challenge; each challenge is used once. That is more
//! lenient than IIS (which would refuse a type 3 arriving on another connection) but clients that keep
//! the connection, as they must, see the same exchange.

use hmac::{Hmac, Mac};
use md4::{Digest, Md4};
use md5::Md5;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// `NTLMSSP_NEGOTIATE_UNICODE`.
pub const NEGOTIATE_UNICODE: u32 = 0x0000_0001;
/// `NTLM_NEGOTIATE_OEM`.
pub const NEGOTIATE_OEM: u32 = 0x0000_0002;
/// `NTLMSSP_REQUEST_TARGET`.
pub const REQUEST_TARGET: u32 = 0x0000_0004;
/// `NTLMSSP_NEGOTIATE_SIGN`.
pub const NEGOTIATE_SIGN: u32 = 0x0000_0010;
/// `NTLMSSP_NEGOTIATE_SEAL`.
pub const NEGOTIATE_SEAL: u32 = 0x0000_0020;
/// `NTLMSSP_NEGOTIATE_NTLM`.
pub const NEGOTIATE_NTLM: u32 = 0x0000_0200;
/// `NTLMSSP_NEGOTIATE_ANONYMOUS`.
pub const NEGOTIATE_ANONYMOUS: u32 = 0x0000_0800;
/// `NTLMSSP_NEGOTIATE_ALWAYS_SIGN`.
pub const NEGOTIATE_ALWAYS_SIGN: u32 = 0x0000_8000;
/// `NTLMSSP_TARGET_TYPE_DOMAIN`.
pub const TARGET_TYPE_DOMAIN: u32 = 0x0001_0000;
/// `NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY`.
pub const NEGOTIATE_EXTENDED_SESSIONSECURITY: u32 = 0x0008_0000;
/// `NTLMSSP_NEGOTIATE_TARGET_INFO`.
pub const NEGOTIATE_TARGET_INFO: u32 = 0x0080_0000;
/// `NTLMSSP_NEGOTIATE_VERSION`.
pub const NEGOTIATE_VERSION: u32 = 0x0200_0000;
/// `NTLMSSP_NEGOTIATE_128`.
pub const NEGOTIATE_128: u32 = 0x2000_0000;
/// `NTLMSSP_NEGOTIATE_KEY_EXCH`.
pub const NEGOTIATE_KEY_EXCH: u32 = 0x4000_0000;
/// `NTLMSSP_NEGOTIATE_56`.
pub const NEGOTIATE_56: u32 = 0x8000_0000;

const SIGNATURE: &[u8; 8] = b"NTLMSSP\0";
/// How long a challenge stays valid: clients answer within milliseconds.
const CHALLENGE_TTL: Duration = Duration::from_secs(120);
/// Bound on outstanding challenges, so a client that only ever sends type 1 cannot grow the table.
const MAX_OUTSTANDING: usize = 50_000;
/// Seconds between 1601-01-01 (FILETIME epoch) and 1970-01-01.
const FILETIME_UNIX_OFFSET_SECS: u64 = 11_644_473_600;

/// AV pair ids (MS-NLMP 2.2.2.1).
mod av {
    pub const EOL: u16 = 0;
    pub const NB_COMPUTER_NAME: u16 = 1;
    pub const NB_DOMAIN_NAME: u16 = 2;
    pub const DNS_COMPUTER_NAME: u16 = 3;
    pub const DNS_DOMAIN_NAME: u16 = 4;
    pub const DNS_TREE_NAME: u16 = 5;
    pub const TIMESTAMP: u16 = 7;
}

/// Why an NTLM message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NtlmError {
    /// Not an NTLMSSP message of the expected type, or truncated.
    #[error("malformed NTLM message: {0}")]
    Malformed(&'static str),
    /// The type 3 message answers no outstanding challenge (expired, used, or never issued).
    #[error("no outstanding challenge matches")]
    UnknownChallenge,
    /// An NTLMv1 or anonymous response: refused.
    #[error("only NTLMv2 is accepted")]
    NotNtlmV2,
    /// The proof does not match the password.
    #[error("wrong credentials")]
    WrongCredentials,
}

/// The parts of a NEGOTIATE message the server uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiate {
    /// Flags the client asked for.
    pub flags: u32,
}

/// Parses a NEGOTIATE (type 1) message.
pub fn parse_negotiate(msg: &[u8]) -> Result<Negotiate, NtlmError> {
    check_header(msg, 1)?;
    let flags = read_u32(msg, 12).ok_or(NtlmError::Malformed("negotiate flags"))?;
    Ok(Negotiate { flags })
}

/// The identity the server presents in its CHALLENGE message.
#[derive(Debug, Clone)]
pub struct ServerIdentity {
    /// NetBIOS domain, e.g. `CONTOSO`.
    pub nb_domain: String,
    /// NetBIOS computer name, e.g. `CAS01`.
    pub nb_computer: String,
    /// DNS domain, e.g. `contoso.lab`.
    pub dns_domain: String,
    /// DNS computer name, e.g. `cas01.contoso.lab`.
    pub dns_computer: String,
}

/// The parts of an AUTHENTICATE message the server uses.
#[derive(Debug, Clone)]
pub struct Authenticate {
    /// `NtChallengeResponse`: NTProofStr (16 bytes) followed by the NTLMv2 client blob.
    pub nt_response: Vec<u8>,
    /// Domain as the client sent it (may be empty).
    pub domain: String,
    /// User name as the client sent it (`user`, or a UPN).
    pub user: String,
    /// Client workstation.
    pub workstation: String,
    /// Flags.
    pub flags: u32,
}

/// Parses an AUTHENTICATE (type 3) message.
pub fn parse_authenticate(msg: &[u8]) -> Result<Authenticate, NtlmError> {
    check_header(msg, 3)?;
    let flags = read_u32(msg, 60).ok_or(NtlmError::Malformed("authenticate flags"))?;
    let unicode = flags & NEGOTIATE_UNICODE != 0;
    let field = |at: usize, what: &'static str| -> Result<&[u8], NtlmError> {
        let len = read_u16(msg, at).ok_or(NtlmError::Malformed(what))? as usize;
        let off = read_u32(msg, at + 4).ok_or(NtlmError::Malformed(what))? as usize;
        if len == 0 {
            return Ok(&[]);
        }
        msg.get(off..off.checked_add(len).ok_or(NtlmError::Malformed(what))?)
            .ok_or(NtlmError::Malformed(what))
    };
    let text = |bytes: &[u8], what: &'static str| -> Result<String, NtlmError> {
        if unicode {
            if !bytes.len().is_multiple_of(2) {
                return Err(NtlmError::Malformed(what));
            }
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).map_err(|_| NtlmError::Malformed(what))
        } else {
            // OEM code page: the lab treats it as Latin-1, enough for ASCII names.
            Ok(bytes.iter().map(|&b| b as char).collect())
        }
    };
    Ok(Authenticate {
        nt_response: field(20, "nt response")?.to_vec(),
        domain: text(field(28, "domain")?, "domain")?,
        user: text(field(36, "user")?, "user")?,
        workstation: text(field(44, "workstation")?, "workstation")?,
        flags,
    })
}

/// Builds a CHALLENGE (type 2) message answering `negotiate`, with `challenge` and `timestamp`
/// (FILETIME) in its target information.
pub fn challenge_message(
    negotiate: &Negotiate,
    identity: &ServerIdentity,
    challenge: [u8; 8],
    timestamp: u64,
) -> Vec<u8> {
    let asked = negotiate.flags;
    let mut flags = NEGOTIATE_NTLM
        | REQUEST_TARGET
        | TARGET_TYPE_DOMAIN
        | NEGOTIATE_TARGET_INFO
        | NEGOTIATE_VERSION
        | NEGOTIATE_EXTENDED_SESSIONSECURITY;
    // Unicode unless the client can only do OEM.
    if asked & NEGOTIATE_UNICODE != 0 || asked & NEGOTIATE_OEM == 0 {
        flags |= NEGOTIATE_UNICODE;
    } else {
        flags |= NEGOTIATE_OEM;
    }
    // Echo the security options the client asked for, as Windows does.
    flags |= asked
        & (NEGOTIATE_SIGN
            | NEGOTIATE_SEAL
            | NEGOTIATE_ALWAYS_SIGN
            | NEGOTIATE_128
            | NEGOTIATE_56
            | NEGOTIATE_KEY_EXCH);
    let unicode = flags & NEGOTIATE_UNICODE != 0;
    let encode = |s: &str| -> Vec<u8> {
        if unicode {
            utf16le(s)
        } else {
            s.bytes().collect()
        }
    };
    let target_name = encode(&identity.nb_domain);

    let mut info = Vec::new();
    let mut pair = |id: u16, value: &[u8]| {
        info.extend_from_slice(&id.to_le_bytes());
        info.extend_from_slice(&(value.len() as u16).to_le_bytes());
        info.extend_from_slice(value);
    };
    pair(av::NB_DOMAIN_NAME, &utf16le(&identity.nb_domain));
    pair(av::NB_COMPUTER_NAME, &utf16le(&identity.nb_computer));
    pair(av::DNS_DOMAIN_NAME, &utf16le(&identity.dns_domain));
    pair(av::DNS_COMPUTER_NAME, &utf16le(&identity.dns_computer));
    pair(av::DNS_TREE_NAME, &utf16le(&identity.dns_domain));
    pair(av::TIMESTAMP, &timestamp.to_le_bytes());
    pair(av::EOL, &[]);

    const HEADER: usize = 56;
    let mut msg = Vec::with_capacity(HEADER + target_name.len() + info.len());
    msg.extend_from_slice(SIGNATURE);
    msg.extend_from_slice(&2u32.to_le_bytes());
    push_field(&mut msg, target_name.len(), HEADER);
    msg.extend_from_slice(&flags.to_le_bytes());
    msg.extend_from_slice(&challenge);
    msg.extend_from_slice(&[0; 8]);
    push_field(&mut msg, info.len(), HEADER + target_name.len());
    // Version: Windows Server 2019 (10.0.17763), NTLMSSP revision 15.
    msg.extend_from_slice(&[10, 0]);
    msg.extend_from_slice(&17763u16.to_le_bytes());
    msg.extend_from_slice(&[0, 0, 0, 15]);
    msg.extend_from_slice(&target_name);
    msg.extend_from_slice(&info);
    msg
}

/// NTOWFv2: HMAC-MD5 keyed with the NT hash (MD4 of the UTF-16LE password) over UTF-16LE of the
/// upper-cased user name followed by the domain.
pub fn ntowf_v2(password: &str, user: &str, domain: &str) -> Option<[u8; 16]> {
    let nt_hash = Md4::digest(utf16le(password));
    let mut data = utf16le(&user.to_uppercase());
    data.extend(utf16le(domain));
    hmac_md5(&nt_hash, &[&data])
}

/// Checks an NTLMv2 response: `NTProofStr = HMAC-MD5(NTOWFv2, server_challenge + blob)` must equal the
/// first 16 bytes of the `NtChallengeResponse`. Tries the domain as sent, upper-cased and empty
/// (clients differ in what they feed NTOWFv2; Windows DCs accept the same variants).
pub fn verify_v2(
    auth: &Authenticate,
    server_challenge: &[u8; 8],
    password: &str,
) -> Result<(), NtlmError> {
    if auth.nt_response.len() <= 24 {
        return Err(NtlmError::NotNtlmV2);
    }
    let (proof, blob) = auth.nt_response.split_at(16);
    let upper = auth.domain.to_uppercase();
    let mut domains = vec![auth.domain.as_str()];
    if upper != auth.domain {
        domains.push(&upper);
    }
    if !auth.domain.is_empty() {
        domains.push("");
    }
    for domain in domains {
        let Some(key) = ntowf_v2(password, &auth.user, domain) else {
            continue;
        };
        if hmac_md5(&key, &[server_challenge, blob]).is_some_and(|p| constant_time_eq(&p, proof)) {
            return Ok(());
        }
    }
    Err(NtlmError::WrongCredentials)
}

/// The `MsvAvTimestamp` the server sent, as echoed in the client's NTLMv2 blob (used to find the
/// challenge it answers).
pub fn blob_timestamp(nt_response: &[u8]) -> Option<u64> {
    // NTProofStr(16) + RespType(1) HiRespType(1) Reserved(6) TimeStamp(8) ChallengeFromClient(8)
    // Reserved(4), then the AV pairs.
    let mut at = 16 + 28;
    loop {
        let id = read_u16(nt_response, at)?;
        let len = read_u16(nt_response, at + 2)? as usize;
        let value = nt_response.get(at + 4..at + 4 + len)?;
        match id {
            av::EOL => return None,
            av::TIMESTAMP => return Some(u64::from_le_bytes(value.try_into().ok()?)),
            _ => at += 4 + len,
        }
    }
}

#[derive(Debug)]
struct Outstanding {
    challenge: [u8; 8],
    issued: Instant,
}

/// Outstanding server challenges, keyed by the unique `MsvAvTimestamp` sent with each (clients echo it
/// in their NTLMv2 blob, so the answer finds its challenge without knowing the connection).
#[derive(Debug, Default)]
pub struct ChallengeTable {
    outstanding: Mutex<HashMap<u64, Outstanding>>,
    last_timestamp: AtomicU64,
}

impl ChallengeTable {
    /// Issues a new random challenge; returns it with its unique timestamp (FILETIME).
    pub fn issue(&self) -> ([u8; 8], u64) {
        let challenge: [u8; 8] = rand::random();
        let now = filetime_now();
        // Unique and increasing, so it can key the table.
        let mut timestamp = now;
        let _ = self
            .last_timestamp
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
                timestamp = now.max(last + 1);
                Some(timestamp)
            });
        let mut table = self.outstanding.lock().unwrap_or_else(|e| e.into_inner());
        table.retain(|_, o| o.issued.elapsed() < CHALLENGE_TTL);
        if table.len() >= MAX_OUTSTANDING {
            table.clear();
        }
        table.insert(
            timestamp,
            Outstanding {
                challenge,
                issued: Instant::now(),
            },
        );
        (challenge, timestamp)
    }

    /// Takes (removes) the challenge a type 3 message answers. Found by the echoed timestamp; a client
    /// that does not echo it gets the only outstanding challenge it can prove, tried one by one by
    /// `prove` (lab scale keeps this short).
    pub fn take(
        &self,
        auth: &Authenticate,
        prove: impl Fn(&[u8; 8]) -> bool,
    ) -> Result<[u8; 8], NtlmError> {
        let mut table = self.outstanding.lock().unwrap_or_else(|e| e.into_inner());
        table.retain(|_, o| o.issued.elapsed() < CHALLENGE_TTL);
        if let Some(ts) = blob_timestamp(&auth.nt_response)
            && let Some(o) = table.remove(&ts)
        {
            return Ok(o.challenge);
        }
        let found = table
            .iter()
            .find(|(_, o)| prove(&o.challenge))
            .map(|(ts, o)| (*ts, o.challenge));
        match found {
            Some((ts, challenge)) => {
                table.remove(&ts);
                Ok(challenge)
            }
            None => Err(NtlmError::UnknownChallenge),
        }
    }

    /// Number of outstanding challenges (for tests).
    pub fn len(&self) -> usize {
        self.outstanding
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// Whether no challenge is outstanding.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Now as a FILETIME (100 ns ticks since 1601).
pub fn filetime_now() -> u64 {
    let since_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (since_unix.as_secs() + FILETIME_UNIX_OFFSET_SECS) * 10_000_000
        + u64::from(since_unix.subsec_nanos() / 100)
}

fn check_header(msg: &[u8], kind: u32) -> Result<(), NtlmError> {
    if msg.get(..8) != Some(SIGNATURE.as_slice()) {
        return Err(NtlmError::Malformed("signature"));
    }
    if read_u32(msg, 8) != Some(kind) {
        return Err(NtlmError::Malformed("message type"));
    }
    Ok(())
}

fn push_field(msg: &mut Vec<u8>, len: usize, offset: usize) {
    msg.extend_from_slice(&(len as u16).to_le_bytes());
    msg.extend_from_slice(&(len as u16).to_le_bytes());
    msg.extend_from_slice(&(offset as u32).to_le_bytes());
}

fn read_u16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn read_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn utf16le(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> Option<[u8; 16]> {
    let mut mac = <Hmac<Md5> as Mac>::new_from_slice(key).ok()?;
    for part in parts {
        mac.update(part);
    }
    Some(mac.finalize().into_bytes().into())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ntowf_v2_matches_ms_nlmp_test_vector() {
        // MS-NLMP 4.2.4.1.1: User "User", domain "Domain", password "Password".
        let key = ntowf_v2("Password", "User", "Domain").unwrap();
        assert_eq!(
            key,
            [
                0x0c, 0x86, 0x8a, 0x40, 0x3b, 0xfd, 0x7a, 0x93, 0xa3, 0x00, 0x1e, 0xf2, 0x2e, 0xf0,
                0x2e, 0x3f
            ]
        );
    }

    #[test]
    fn challenge_round_trips_through_the_parser_fields() {
        let identity = ServerIdentity {
            nb_domain: "CONTOSO".into(),
            nb_computer: "CAS01".into(),
            dns_domain: "contoso.lab".into(),
            dns_computer: "cas01.contoso.lab".into(),
        };
        let msg = challenge_message(
            &Negotiate {
                flags: NEGOTIATE_UNICODE | NEGOTIATE_KEY_EXCH,
            },
            &identity,
            [1, 2, 3, 4, 5, 6, 7, 8],
            42,
        );
        assert_eq!(&msg[..8], SIGNATURE);
        assert_eq!(read_u32(&msg, 8), Some(2));
        let flags = read_u32(&msg, 20).unwrap();
        assert!(flags & NEGOTIATE_KEY_EXCH != 0 && flags & NEGOTIATE_TARGET_INFO != 0);
        assert_eq!(&msg[24..32], &[1, 2, 3, 4, 5, 6, 7, 8]);
    }

    /// An NTLMv2 response computed here, with a blob that does not echo the server timestamp.
    fn response_without_timestamp(challenge: &[u8; 8], password: &str) -> Authenticate {
        let mut blob = vec![1, 1, 0, 0, 0, 0, 0, 0];
        blob.extend_from_slice(&filetime_now().to_le_bytes());
        blob.extend_from_slice(&[9; 8]);
        blob.extend_from_slice(&[0; 4]);
        blob.extend_from_slice(&[0; 4]); // MsvAvEOL only
        let key = ntowf_v2(password, "notify", "CONTOSO").unwrap();
        let proof = hmac_md5(&key, &[challenge, &blob]).unwrap();
        let mut nt_response = proof.to_vec();
        nt_response.extend(blob);
        Authenticate {
            nt_response,
            domain: "CONTOSO".into(),
            user: "notify".into(),
            workstation: String::new(),
            flags: NEGOTIATE_UNICODE,
        }
    }

    #[test]
    fn a_response_without_the_timestamp_finds_its_challenge_by_proof() {
        let table = ChallengeTable::default();
        let (_other, _) = table.issue();
        let (challenge, _) = table.issue();
        let auth = response_without_timestamp(&challenge, "pw");
        assert_eq!(blob_timestamp(&auth.nt_response), None);
        let found = table
            .take(&auth, |c| verify_v2(&auth, c, "pw").is_ok())
            .unwrap();
        assert_eq!(found, challenge);
        assert_eq!(table.len(), 1);
        // Used once: a replay finds nothing.
        assert_eq!(
            table.take(&auth, |c| verify_v2(&auth, c, "pw").is_ok()),
            Err(NtlmError::UnknownChallenge)
        );
        // A wrong password proves no challenge.
        let (challenge, _) = table.issue();
        let auth = response_without_timestamp(&challenge, "other");
        assert_eq!(
            table.take(&auth, |c| verify_v2(&auth, c, "pw").is_ok()),
            Err(NtlmError::UnknownChallenge)
        );
    }

    #[test]
    fn ntlm_v1_and_garbage_are_refused() {
        let mut auth = response_without_timestamp(&[0; 8], "pw");
        auth.nt_response.truncate(24);
        assert_eq!(verify_v2(&auth, &[0; 8], "pw"), Err(NtlmError::NotNtlmV2));
        assert!(parse_authenticate(b"NTLMSSP\0\x03\0\0\0").is_err());
        assert!(parse_negotiate(b"not ntlm").is_err());
        assert!(parse_authenticate(&[0; 100]).is_err());
    }
}
