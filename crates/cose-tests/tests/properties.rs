//! Properties: encode -> parse round trips, canonical uniqueness, agreement with ciborium,
//! and no panic on arbitrary or mutated bytes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use latchkey_cose::cbor::{self, Map, Value};
use latchkey_cose::{
    Aaguid, Algorithm, AttestationObject, AuthenticatorData, CredentialPublicKey, Curve, Flags,
    KeyParams, ParseOptions,
};
use proptest::prelude::*;

/// An owned mirror of [`Value`], which borrows its strings.
#[derive(Clone, Debug)]
enum Owned {
    Int(i128),
    Bytes(Vec<u8>),
    Text(String),
    Array(Vec<Owned>),
    Map(Vec<(Owned, Owned)>),
    Bool(bool),
    Null,
}

impl Owned {
    fn value(&self) -> Value<'_> {
        match self {
            Self::Int(n) => Value::Integer(*n),
            Self::Bytes(b) => Value::Bytes(b),
            Self::Text(t) => Value::Text(t),
            Self::Array(items) => Value::Array(items.iter().map(Self::value).collect()),
            Self::Map(entries) => {
                // Keep the first of duplicate keys: Map refuses duplicates.
                let mut unique: Vec<(Value<'_>, Value<'_>)> = Vec::new();
                for (k, v) in entries {
                    let key = k.value();
                    if unique.iter().all(|(seen, _)| *seen != key) {
                        unique.push((key, v.value()));
                    }
                }
                Value::Map(Map::new(unique).unwrap())
            }
            Self::Bool(b) => Value::Bool(*b),
            Self::Null => Value::Null,
        }
    }
}

fn owned() -> impl Strategy<Value = Owned> {
    let leaf = prop_oneof![
        any::<u64>().prop_map(|n| Owned::Int(n.into())),
        any::<u64>().prop_map(|n| Owned::Int(-1 - i128::from(n))),
        (-30i128..30).prop_map(Owned::Int),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Owned::Bytes),
        "[a-zA-Z0-9é€ ]{0,12}".prop_map(Owned::Text),
        any::<bool>().prop_map(Owned::Bool),
        Just(Owned::Null),
    ];
    // Depth 3 keeps every generated value within the default nesting limit of 5.
    leaf.prop_recursive(3, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Owned::Array),
            proptest::collection::vec((inner.clone(), inner), 0..6).prop_map(Owned::Map),
        ]
    })
}

fn parse_everything(bytes: &[u8]) {
    for options in [ParseOptions::STRICT, ParseOptions::RELAXED] {
        let _ = cbor::decode(bytes, &options);
        let _ = cbor::decode_prefix(bytes, &options);
        let _ = AuthenticatorData::parse_with(bytes, &options);
        let _ = AttestationObject::parse_with(bytes, &options);
        let _ = CredentialPublicKey::from_cose_with(bytes, &options);
    }
}

fn valid_attestation_object() -> Vec<u8> {
    let auth_data = latchkey_testkit::hex::decode(&common::registration_auth_data_hex());
    let att_stmt = Map::new(vec![
        (Value::Text("alg"), Value::Integer(-7)),
        (
            Value::Text("sig"),
            Value::Bytes(&[0x30, 0x06, 2, 1, 1, 2, 1, 1]),
        ),
    ])
    .unwrap();
    AttestationObject::encode("packed", &Value::Map(att_stmt), &auth_data)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn values_round_trip(owned in owned()) {
        let value = owned.value();
        let bytes = value.to_vec();
        prop_assert_eq!(&cbor::decode(&bytes, &ParseOptions::STRICT).unwrap(), &value);
        prop_assert_eq!(&cbor::decode(&bytes, &ParseOptions::RELAXED).unwrap(), &value);
    }

    #[test]
    fn strict_acceptance_means_canonical_and_ciborium_agrees(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(value) = cbor::decode(&bytes, &ParseOptions::STRICT) {
            // Canonical CBOR has one encoding per value: re-encoding gives the input back.
            prop_assert_eq!(value.to_vec(), bytes.clone());
            // A general-purpose decoder reads the same single item.
            let mut reader = bytes.as_slice();
            let theirs: ciborium::Value = ciborium::from_reader(&mut reader).expect("ciborium reads it");
            prop_assert!(reader.is_empty());
            let mut again = Vec::new();
            ciborium::into_writer(&theirs, &mut again).unwrap();
            prop_assert_eq!(again, bytes);
        }
    }

    #[test]
    fn relaxed_readings_re_encode_strictly(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(value) = cbor::decode(&bytes, &ParseOptions::RELAXED) {
            let canonical = value.to_vec();
            prop_assert_eq!(cbor::decode(&canonical, &ParseOptions::STRICT).unwrap(), value);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        parse_everything(&bytes);
    }

    #[test]
    fn mutated_attestation_objects_never_panic(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6)
    ) {
        let mut bytes = valid_attestation_object();
        for (at, byte, kind) in edits {
            let i = at.index(bytes.len().max(1));
            match kind {
                0 if i < bytes.len() => bytes[i] = byte,
                1 => bytes.insert(i.min(bytes.len()), byte),
                _ if i < bytes.len() => { bytes.remove(i); }
                _ => {}
            }
        }
        parse_everything(&bytes);
        // The authenticator data alone, mutated the same way, too.
        if bytes.len() > 40 {
            parse_everything(&bytes[40..]);
        }
    }

    #[test]
    fn authenticator_data_round_trips(
        rp_id_hash in any::<[u8; 32]>(),
        flags in any::<u8>(),
        sign_count in any::<u32>(),
        aaguid in any::<[u8; 16]>(),
        credential_id in proptest::collection::vec(any::<u8>(), 1..=1023),
        attested in any::<bool>(),
        extension in proptest::option::of(0i128..1000),
    ) {
        let key = common::es256_key();
        let extensions = extension.map(|n| Map::new(vec![(Value::Text("credProtect"), Value::Integer(n))]).unwrap());
        let flags = Flags::from_bits(flags)
            .without(Flags::ATTESTED_CREDENTIAL_DATA)
            .without(Flags::EXTENSION_DATA);
        let mut builder = AuthenticatorData::builder(rp_id_hash).flags(flags).sign_count(sign_count);
        if attested {
            builder = builder.attested_credential_data(Aaguid::from_bytes(aaguid), &credential_id, &key);
        }
        if let Some(extensions) = &extensions {
            builder = builder.extensions(extensions);
        }
        let bytes = builder.build();
        let parsed = AuthenticatorData::parse(&bytes).unwrap();
        prop_assert_eq!(parsed.rp_id_hash(), &rp_id_hash);
        prop_assert_eq!(parsed.sign_count(), sign_count);
        prop_assert_eq!(parsed.flags().without(Flags::ATTESTED_CREDENTIAL_DATA).without(Flags::EXTENSION_DATA), flags);
        prop_assert_eq!(parsed.attested_credential_data().is_some(), attested);
        if let Some(data) = parsed.attested_credential_data() {
            prop_assert_eq!(data.aaguid(), Aaguid::from_bytes(aaguid));
            prop_assert_eq!(data.credential_id(), credential_id.as_slice());
            prop_assert_eq!(data.public_key(), &key);
        }
        prop_assert_eq!(parsed.extensions().map(|e| e.as_map().clone()), extensions);
        prop_assert_eq!(parsed.as_bytes(), bytes.as_slice());
    }

    #[test]
    fn ec2_keys_round_trip(curve in prop_oneof![Just(Curve::P256), Just(Curve::P384), Just(Curve::P521)], seed in any::<u8>()) {
        let alg = match curve { Curve::P256 => Algorithm::Es256, Curve::P384 => Algorithm::Es384, _ => Algorithm::Es512 };
        let len = curve.coordinate_len();
        let params = KeyParams::Ec2 { curve, x: vec![seed; len], y: vec![seed ^ 0xff; len] };
        let key = CredentialPublicKey::new(alg, params.clone()).unwrap();
        prop_assert_eq!(key.params(), &params);
        prop_assert_eq!(CredentialPublicKey::from_cose(key.as_cose_bytes()).unwrap(), key);
    }

    #[test]
    fn rsa_keys_round_trip(
        n in (256usize..=1024).prop_flat_map(|len| proptest::collection::vec(any::<u8>(), len)),
        e in (1u64..(1 << 32)).prop_map(|e| e * 2 + 1),
        alg in prop_oneof![Just(Algorithm::Rs256), Just(Algorithm::Ps256), Just(Algorithm::Rs1)],
    ) {
        let mut n = n;
        n[0] |= 0x80; // full length, no leading zero
        let e: Vec<u8> = e.to_be_bytes().into_iter().skip_while(|&b| b == 0).collect();
        let params = KeyParams::Rsa { n, e };
        let key = CredentialPublicKey::new(alg, params.clone()).unwrap();
        prop_assert_eq!(key.params(), &params);
        prop_assert_eq!(CredentialPublicKey::from_cose(key.as_cose_bytes()).unwrap(), key);
    }
}
