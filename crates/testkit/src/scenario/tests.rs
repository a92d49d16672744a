use super::*;

fn one_step(step: &str) -> Result<Step, ScenarioError> {
    let scenario = Scenario::from_json(&format!(r#"{{"steps": [{step}]}}"#))?;
    Ok(scenario.steps.into_iter().next().unwrap())
}

fn refusal(step: &str) -> String {
    one_step(step).unwrap_err().to_string()
}

#[test]
fn register_takes_every_field_and_defaults() {
    let Step::Register(register) = one_step(
        r#"{"op": "register", "account": "a", "scope": "exchange", "key": "k", "expect": "ok"}"#,
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(register.scope, ScopeName::Exchange);
    assert_eq!(
        register.new_key(),
        NewKey {
            alg: Alg::Es256,
            aaguid: Aaguid::ZERO,
            attestation: AttestationKind::None,
            backup_eligible: true,
            backed_up: true,
            uv: true,
        }
    );
    assert_eq!(register.name, None);
    assert_eq!(register.step_up, None);
    assert_eq!(register.at, None);
    assert_eq!(register.expect, Expect::Ok);
    assert!(register.expect_warnings.is_empty());

    let Step::Register(register) = one_step(
        r#"{"at": "2026-01-01T00:00:00Z", "op": "register", "account": "a", "scope": "pay",
            "key": "k", "alg": "EdDSA", "aaguid": "fbfc3007-154e-4ecc-8c0b-6e020557d7bd",
            "attestation": "packed", "backup_eligible": false, "backed_up": false, "uv": false,
            "name": "Mine", "step_up": {"factors": ["email", "id_document"]},
            "expect": {"error": "limit_reached"}, "expect_warnings": ["third_party_provider"]}"#,
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(register.scope, ScopeName::Pay);
    assert_eq!(register.alg, Alg::EdDsa);
    assert_eq!(
        register.aaguid.to_string(),
        "fbfc3007-154e-4ecc-8c0b-6e020557d7bd"
    );
    assert_eq!(register.attestation, AttestationKind::Packed);
    assert!(!register.backup_eligible && !register.backed_up && !register.uv);
    assert_eq!(register.name.as_deref(), Some("Mine"));
    assert_eq!(
        register.step_up,
        Some(StepUp::Factors(vec![
            FactorName::Email,
            FactorName::IdDocument
        ]))
    );
    assert_eq!(register.at, Some(UnixTime(1_767_225_600)));
    assert_eq!(register.expect, Expect::Error("limit_reached".into()));
    assert_eq!(register.expect_warnings, ["third_party_provider"]);
}

#[test]
fn every_alg_has_its_readme_name() {
    for (name, alg) in [
        ("ES256", Alg::Es256),
        ("ES384", Alg::Es384),
        ("EdDSA", Alg::EdDsa),
        ("RS256", Alg::Rs256),
    ] {
        let step = format!(
            r#"{{"op": "register", "account": "a", "scope": "exchange", "key": "k", "alg": "{name}", "expect": "ok"}}"#
        );
        let Step::Register(register) = one_step(&step).unwrap() else {
            panic!()
        };
        assert_eq!(register.alg, alg);
    }
}

#[test]
fn authorize_dex_accepts_terms_by_default() {
    let Step::AuthorizeDex(step) =
        one_step(r#"{"op": "authorize_dex", "account": "a", "key": "k", "expect": "ok"}"#).unwrap()
    else {
        panic!()
    };
    assert!(step.terms_accepted && step.uv);
    let Step::AuthorizeDex(step) = one_step(
        r#"{"op": "authorize_dex", "account": "a", "key": "k", "terms_accepted": false, "uv": false, "expect": "ok"}"#,
    )
    .unwrap() else {
        panic!()
    };
    assert!(!step.terms_accepted && !step.uv);
}

#[test]
fn revoke_dex_rename_delete_and_list() {
    let Step::RevokeDex(step) = one_step(
        r#"{"op": "revoke_dex", "account": "a", "key": "k", "step_up": {"key": "other"}, "expect": "ok"}"#,
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(step.step_up, Some(StepUp::Key("other".into())));

    let Step::Rename(step) = one_step(
        r#"{"op": "rename", "account": "a", "key": "k", "name": " Blue key ", "expect": "ok"}"#,
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(step.name, " Blue key ");

    let Step::Delete(step) = one_step(
        r#"{"op": "delete", "account": "a", "key": "k", "step_up": {"reuse": true}, "expect": "ok"}"#,
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(step.step_up, Some(StepUp::Reuse));

    let Step::List(step) = one_step(
        r#"{"op": "list", "account": "a", "scope": "exchange", "expect_names": ["A", "B"], "expect_dex": [], "expect": "ok"}"#,
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(step.expect_names, Some(vec!["A".into(), "B".into()]));
    assert_eq!(step.expect_dex, Some(vec![]));
    let Step::List(step) =
        one_step(r#"{"op": "list", "account": "a", "scope": "pay", "expect": "ok"}"#).unwrap()
    else {
        panic!()
    };
    assert_eq!((step.expect_names, step.expect_dex), (None, None));
}

#[test]
fn replace_describes_the_new_key_and_refuses_terms_by_default() {
    let Step::Replace(step) = one_step(
        r#"{"op": "replace", "account": "a", "key": "old", "new_key": "new", "step_up": {"key": "old"}, "expect": "ok"}"#,
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!((step.key.as_str(), step.new_key.as_str()), ("old", "new"));
    assert!(!step.terms_accepted);
    assert!(step.new_key().uv);
    let Step::Replace(step) = one_step(
        r#"{"op": "replace", "account": "a", "key": "old", "new_key": "new", "alg": "RS256",
            "uv": false, "backed_up": false, "terms_accepted": true, "expect": "ok"}"#,
    )
    .unwrap() else {
        panic!()
    };
    assert!(step.terms_accepted);
    assert_eq!(step.new_key().alg, Alg::Rs256);
    assert!(!step.new_key().uv && !step.new_key().backed_up && step.new_key().backup_eligible);
}

#[test]
fn authenticate_fields_and_defaults() {
    let Step::Authenticate(step) =
        one_step(r#"{"op": "authenticate", "key": "k", "intent": "login", "expect": "ok"}"#)
            .unwrap()
    else {
        panic!()
    };
    assert_eq!(step.account, None);
    assert_eq!(step.intent, IntentName::Login);
    assert!(step.uv && step.up);
    assert_eq!((step.backup_eligible, step.backed_up), (None, None));
    assert_eq!((step.counter, step.scope, step.tamper), (None, None, None));

    // `counter: 0` means 0, not "unset".
    let Step::Authenticate(step) = one_step(
        r#"{"op": "authenticate", "account": "a", "key": "k", "intent": "security_change",
            "scope": "pay", "uv": false, "up": false, "backup_eligible": false, "backed_up": true,
            "counter": 0, "tamper": "other_account", "expect": {"error": "unknown_credential"}}"#,
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(step.scope, Some(ScopeName::Pay));
    assert_eq!(step.counter, Some(0));
    assert_eq!(step.tamper, Some(Tamper::OtherAccount));
    assert_eq!(
        (step.backup_eligible, step.backed_up),
        (Some(false), Some(true))
    );
    assert!(!step.uv && !step.up);

    let Step::Authenticate(step) = one_step(
        r#"{"op": "authenticate", "account": "a", "key": "k", "intent": "pay_sign",
            "transaction": "pay 1", "tamper": "transaction", "expect": {"error": "challenge_mismatch"}}"#,
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(step.transaction.as_deref(), Some("pay 1"));
}

#[test]
fn every_tamper_has_its_readme_name() {
    for (name, tamper) in [
        ("origin", Tamper::Origin),
        ("rp_id", Tamper::RpId),
        ("challenge", Tamper::Challenge),
        ("type", Tamper::Type),
        ("signature", Tamper::Signature),
        ("replay", Tamper::Replay),
        ("expire", Tamper::Expire),
        ("other_account", Tamper::OtherAccount),
    ] {
        let step = format!(
            r#"{{"op": "authenticate", "account": "a", "key": "k", "intent": "login", "tamper": "{name}", "expect": "ok"}}"#
        );
        let Step::Authenticate(step) = one_step(&step).unwrap() else {
            panic!()
        };
        assert_eq!(step.tamper, Some(tamper));
    }
}

#[test]
fn only_a_login_may_omit_the_account() {
    let error =
        refusal(r#"{"op": "authenticate", "key": "k", "intent": "withdrawal", "expect": "ok"}"#);
    assert_eq!(
        error,
        "step 1 (authenticate): account: missing (only a login may omit it)"
    );
    let error = refusal(
        r#"{"op": "authenticate", "account": "a", "key": "k", "intent": "login", "scope": "pay", "expect": "ok"}"#,
    );
    assert!(
        error.starts_with("step 1 (authenticate): scope:"),
        "{error}"
    );
}

#[test]
fn an_unknown_field_is_refused_by_name() {
    let error = refusal(
        r#"{"op": "delete", "account": "a", "key": "k", "step_upp": {"key": "k"}, "expect": "ok"}"#,
    );
    assert!(
        error.starts_with("step 1 (delete): unknown field `step_upp`"),
        "{error}"
    );
    // Fields of one op are not accepted on another.
    let error = refusal(
        r#"{"op": "delete", "account": "a", "key": "k", "terms_accepted": true, "expect": "ok"}"#,
    );
    assert!(error.contains("unknown field `terms_accepted`"), "{error}");
    // Inside nested objects too.
    let error = refusal(
        r#"{"op": "delete", "account": "a", "key": "k", "step_up": {"keys": "k"}, "expect": "ok"}"#,
    );
    assert!(
        error.starts_with("step 1 (delete): step_up: unknown field `keys`"),
        "{error}"
    );
}

#[test]
fn a_wrong_value_names_its_field() {
    let error = refusal(
        r#"{"op": "register", "account": "a", "scope": "bank", "key": "k", "expect": "ok"}"#,
    );
    assert!(
        error.starts_with("step 1 (register): scope: unknown variant `bank`"),
        "{error}"
    );
    let error = refusal(
        r#"{"op": "authenticate", "account": "a", "key": "k", "intent": "login", "counter": -1, "expect": "ok"}"#,
    );
    assert!(
        error.starts_with("step 1 (authenticate): counter:"),
        "{error}"
    );
    let error = refusal(
        r#"{"op": "register", "account": "a", "scope": "exchange", "key": "k", "aaguid": "nope", "expect": "ok"}"#,
    );
    assert!(error.starts_with("step 1 (register): aaguid:"), "{error}");
    let error = refusal(r#"{"op": "list", "account": "a", "scope": "pay", "expect": "fine"}"#);
    assert!(error.starts_with("step 1 (list): expect:"), "{error}");
    let error = refusal(r#"{"op": "list", "account": "a", "scope": "pay"}"#);
    assert_eq!(error, "step 1 (list): missing field `expect`");
    let error = refusal(
        r#"{"op": "delete", "account": "a", "key": "k", "step_up": {"key": "k", "factors": []}, "expect": "ok"}"#,
    );
    assert!(error.starts_with("step 1 (delete): step_up:"), "{error}");
    let error = refusal(
        r#"{"op": "delete", "account": "a", "key": "k", "step_up": {"reuse": false}, "expect": "ok"}"#,
    );
    assert!(error.contains("reuse"), "{error}");
    let error = refusal(
        r#"{"op": "delete", "account": "a", "key": "k", "at": "yesterday", "expect": "ok"}"#,
    );
    assert!(error.starts_with("step 1 (delete): at:"), "{error}");
}

#[test]
fn an_unknown_op_is_refused() {
    let error = refusal(r#"{"op": "explode", "account": "a", "expect": "ok"}"#);
    assert_eq!(error, r#"step 1: op: "explode" is not an op"#);
    let error = refusal(r#"{"account": "a", "expect": "ok"}"#);
    assert_eq!(error, "step 1: op: missing");
}

#[test]
fn the_account_ops_and_fields_parse() {
    let text = r#"{"config": {"labels": {"pay": "OKX Pay"}, "frozen_login": "refuse"}, "steps": [
        {"op": "register", "account": "a", "scope": "pay", "key": "k", "expect_user_name": "a (OKX Pay)",
         "step_up": {"factors": ["id_document", "face"]}, "expect": "ok"},
        {"op": "freeze", "account": "a", "expect": "ok"},
        {"op": "unfreeze", "account": "a", "step_up": {"factors": ["id_document", "face"]}, "expect": "ok"},
        {"op": "passkey_required", "account": "a", "on": true, "step_up": {"key": "k"}, "expect": "ok"},
        {"op": "revoke", "account": "a", "key": "k", "expect": "ok"},
        {"op": "recover", "account": "a", "scope": "pay", "new_key": "k2", "expect": "ok"},
        {"op": "status", "account": "a", "expect_frozen": false, "expect_locked": true, "expect": "ok"}
    ]}"#;
    let scenario = Scenario::from_json(text).unwrap();
    let config = scenario.config.clone().unwrap();
    assert_eq!(config.frozen_login, Some(FrozenLogin::Refuse));
    let ops: Vec<&str> = scenario.steps.iter().map(Step::op).collect();
    assert_eq!(
        ops,
        [
            "register",
            "freeze",
            "unfreeze",
            "passkey_required",
            "revoke",
            "recover",
            "status"
        ]
    );
    let Some(Step::Freeze(freeze)) = scenario.steps.get(1) else {
        panic!()
    };
    assert_eq!(freeze.reason, "user_request");
    let Some(Step::Revoke(revoke)) = scenario.steps.get(4) else {
        panic!()
    };
    assert_eq!(revoke.reason, "compromised");
    let error = refusal(r#"{"op": "passkey_required", "account": "a", "expect": "ok"}"#);
    assert!(error.contains("missing field `on`"), "{error}");
}

#[test]
fn the_second_step_is_named() {
    let error = Scenario::from_json(
        r#"{"steps": [
            {"op": "list", "account": "a", "scope": "pay", "expect": "ok"},
            {"op": "list", "account": "a", "scope": "pay", "expect": "ok", "colour": "red"}
        ]}"#,
    )
    .unwrap_err();
    assert_eq!((error.step(), error.op()), (Some(2), Some("list")));
    assert!(error.message().starts_with("unknown field `colour`"));
}

#[test]
fn config_takes_every_key() {
    let scenario = Scenario::from_json(
        r#"{"name": "n", "rp": {"id": "example.org", "origins": ["https://a.example.org"]},
            "config": {
              "limits": {"pay": 2, "dex": 1},
              "withdrawal_lock_hours": 48,
              "challenge_ttl_seconds": 60,
              "counter": "flag",
              "providers": {"pay": {"third_party": "deny", "unknown": "warn"}, "dex": {"hardware": "allow"}},
              "aaguids": {"d548826e-79b4-db40-a3d8-11116f7e8349": {"name": "Bitwarden", "class": "third_party"}},
              "step_up_factors": {"exchange": 3},
              "locked_intents": ["withdrawal", "dex_trade"]
            },
            "steps": []}"#,
    )
    .unwrap();
    assert_eq!(scenario.name, "n");
    let rp = scenario.rp.unwrap();
    assert_eq!(rp.id, "example.org");
    assert_eq!(rp.origins, ["https://a.example.org"]);
    let config = scenario.config.unwrap();
    assert_eq!(
        config.limits,
        Some(Limits {
            exchange: None,
            dex: Some(1),
            pay: Some(2)
        })
    );
    assert_eq!(config.withdrawal_lock_hours, Some(48));
    assert_eq!(config.challenge_ttl_seconds, Some(60));
    assert_eq!(config.counter, Some(CounterMode::Flag));
    assert_eq!(
        config.providers[&RealmName::Pay][&ProviderClass::ThirdParty],
        ProviderVerdict::Deny
    );
    assert_eq!(
        config.providers[&RealmName::Dex][&ProviderClass::Hardware],
        ProviderVerdict::Allow
    );
    assert_eq!(config.aaguids.len(), 1);
    assert_eq!(config.aaguids[0].1.name, "Bitwarden");
    assert_eq!(config.aaguids[0].1.class, ProviderClass::ThirdParty);
    assert_eq!(
        config.step_up_factors,
        Some(StepUpFactors {
            exchange: Some(3),
            pay: None
        })
    );
    assert_eq!(
        config.locked_intents,
        Some(vec![IntentName::Withdrawal, IntentName::DexTrade])
    );
}

#[test]
fn config_errors_name_the_key() {
    let error = Scenario::from_json(r#"{"config": {"limits": {"bank": 1}}, "steps": []}"#)
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("config: limits: unknown field `bank`"),
        "{error}"
    );
    let error = Scenario::from_json(
        r#"{"config": {"locked_intents": ["pay_security_change"]}, "steps": []}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(error.starts_with("config: locked_intents:"), "{error}");
    let error = Scenario::from_json(
        r#"{"config": {"aaguids": {"x": {"name": "X", "class": "platform"}}}, "steps": []}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(error.starts_with("config: aaguids:"), "{error}");
    let error = Scenario::from_json(r#"{"settings": {}, "steps": []}"#)
        .unwrap_err()
        .to_string();
    assert!(error.starts_with("unknown field `settings`"), "{error}");
    let error = Scenario::from_json(r#"{"name": "no steps"}"#)
        .unwrap_err()
        .to_string();
    assert_eq!(error, "steps: missing or not an array");
}

#[test]
fn time_never_goes_backwards() {
    let error = Scenario::from_json(
        r#"{"steps": [
            {"at": "2026-01-02T00:00:00Z", "op": "list", "account": "a", "scope": "pay", "expect": "ok"},
            {"at": "2026-01-01T23:59:59Z", "op": "list", "account": "a", "scope": "pay", "expect": "ok"}
        ]}"#,
    )
    .unwrap_err();
    assert_eq!(error.to_string(), "step 2 (list): at: time goes backwards");
}

#[test]
fn rfc3339_times() {
    assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
    assert_eq!(parse_rfc3339("2026-04-02T18:00:00Z"), Some(1_775_152_800));
    assert_eq!(
        parse_rfc3339("2024-02-29T12:00:00.250Z"),
        Some(1_709_208_000)
    );
    assert_eq!(
        parse_rfc3339("2026-01-01T01:00:00+01:00"),
        Some(1_767_225_600)
    );
    assert_eq!(
        parse_rfc3339("2025-12-31T23:00:00-01:00"),
        Some(1_767_225_600)
    );
    assert_eq!(parse_rfc3339("1969-12-31T23:59:59Z"), Some(-1));
    for bad in [
        "2026-01-01",
        "2026-01-01T00:00:00",
        "2026-13-01T00:00:00Z",
        "2025-02-29T00:00:00Z",
        "2026-01-01T24:00:00Z",
        "2026-1-01T00:00:00Z",
        "2026-01-01T00:00:00.Z",
        "2026-01-01T00:00:00+0100",
        "２０２６-01-01T00:00:00Z",
    ] {
        assert_eq!(parse_rfc3339(bad), None, "{bad}");
    }
}

/// Plain serde (the derive with `tag = "op"` and `deny_unknown_fields`) refuses what
/// `from_json` refuses, and parses what it parses the same way.
#[test]
fn plain_serde_agrees() {
    let steps = [
        r#"{"op": "register", "account": "a", "scope": "exchange", "key": "k", "step_up": {"factors": ["email"]}, "expect": "ok"}"#,
        r#"{"op": "authorize_dex", "account": "a", "key": "k", "expect": "ok"}"#,
        r#"{"op": "revoke_dex", "account": "a", "key": "k", "expect": "ok"}"#,
        r#"{"op": "rename", "account": "a", "key": "k", "name": "x", "expect": "ok"}"#,
        r#"{"op": "delete", "account": "a", "key": "k", "expect": "ok"}"#,
        r#"{"op": "replace", "account": "a", "key": "k", "new_key": "n", "expect": "ok"}"#,
        r#"{"op": "authenticate", "key": "k", "intent": "login", "counter": 0, "expect": "ok"}"#,
        r#"{"op": "list", "account": "a", "scope": "pay", "expect": "ok"}"#,
    ];
    for text in steps {
        let plain: Step = serde_json::from_str(text).unwrap();
        assert_eq!(plain, one_step(text).unwrap(), "{text}");
        // An extra field is refused both ways, however the enum is tagged.
        let extra = text.replacen('{', r#"{"extra": 1, "#, 1);
        let error = serde_json::from_str::<Step>(&extra)
            .unwrap_err()
            .to_string();
        assert!(error.contains("unknown field `extra`"), "{error}");
        assert!(
            one_step(&extra)
                .unwrap_err()
                .to_string()
                .contains("unknown field `extra`")
        );
    }
    let error = serde_json::from_str::<Step>(
        r#"{"op": "freeze", "account": "a", "expect": "ok", "extra": 1}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("unknown field `extra`"), "{error}");
}

#[test]
fn the_shared_scenarios_parse() {
    let Some(shared) = crate::shared::dir() else {
        return;
    };
    let files = files(&shared.join("scenarios")).unwrap();
    assert!(files.len() >= 4);
    for file in files {
        let scenario = Scenario::load(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(!scenario.steps.is_empty());
    }
}
