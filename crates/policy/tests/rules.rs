//! One named test per rule of PRODUCT.md that the engine owns.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use latchkey_cose::Aaguid;
use latchkey_policy::*;

const T0: Timestamp = Timestamp(1_767_225_600); // 2026-01-01T00:00:00Z
const HOUR: i64 = 3600;
const ICLOUD: &str = "fbfc3007-154e-4ecc-8c0b-6e020557d7bd";
const BITWARDEN: &str = "d548826e-79b4-db40-a3d8-11116f7e8349";

/// One account under test.
struct Account {
    state: AccountState,
    config: PolicyConfig,
    now: Timestamp,
}

fn id(n: u8) -> CredentialId {
    CredentialId::new(vec![n; 16])
}

fn new(n: u8, scope: Scope) -> NewCredential {
    NewCredential {
        id: id(n),
        scope,
        public_key: vec![n],
        aaguid: Aaguid::ZERO,
        sign_count: 0,
        backup_eligible: true,
        backed_up: true,
        transports: vec!["internal".into()],
        name: None,
        cred_protect: None,
        app_id: None,
    }
}

/// A fresh assertion by passkey `n`: its counter is higher than any before it.
fn facts(n: u8) -> AssertionFacts {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
    AssertionFacts {
        credential: id(n),
        user_verified: true,
        sign_count: COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        backup_eligible: true,
        backed_up: true,
        counter_regressed: false,
    }
}

fn factors() -> StepUp {
    StepUp::Factors(vec![Factor::Email, Factor::Totp])
}

fn passkey(n: u8) -> StepUp {
    StepUp::Passkey(facts(n))
}

impl Account {
    fn new() -> Self {
        Self {
            state: AccountState::default(),
            config: PolicyConfig::default(),
            now: T0,
        }
    }

    fn try_run(&mut self, command: Command) -> Result<Decision, PolicyError> {
        let before = self.state.clone();
        let result = decide(
            &self.state,
            &command,
            self.now,
            &RequestContext::default(),
            &self.config,
        );
        match &result {
            Ok(decision) => self.state = apply(self.state.clone(), &decision.events),
            Err(_) => assert_eq!(self.state, before),
        }
        result
    }

    fn run(&mut self, command: Command) -> Decision {
        self.try_run(command)
            .unwrap_or_else(|e| panic!("refused: {e}"))
    }

    fn refused(&mut self, command: Command) -> String {
        self.try_run(command)
            .expect_err("should be refused")
            .code()
            .to_owned()
    }

    fn register(&mut self, n: u8, scope: Scope, step_up: StepUp) -> Decision {
        self.run(Command::Register {
            credential: new(n, scope),
            step_up,
        })
    }

    fn use_for(&mut self, n: u8, intent: Intent) -> Result<Decision, PolicyError> {
        self.try_run(Command::Use {
            assertion: facts(n),
            intent,
            factors: vec![],
        })
    }

    fn names(&self, scope: Scope) -> Vec<&str> {
        self.state
            .credentials
            .iter()
            .filter(|c| c.scope == scope)
            .map(|c| c.name.as_str())
            .collect()
    }
}

/// An account with Exchange passkeys 1 and 2 and Pay passkey 10.
fn exchange_and_pay() -> Account {
    let mut account = Account::new();
    account.register(1, Scope::Exchange, factors());
    account.register(2, Scope::Exchange, passkey(1));
    account.register(10, Scope::Pay, StepUp::Factors(vec![Factor::Email]));
    account
}

#[test]
fn p1_scopes_are_isolated() {
    let mut account = exchange_and_pay();
    assert_eq!(
        account.use_for(10, Intent::Login).unwrap_err().code(),
        "scope_mismatch"
    );
    assert_eq!(
        account.use_for(10, Intent::Withdrawal).unwrap_err().code(),
        "scope_mismatch"
    );
    assert_eq!(
        account.use_for(10, Intent::DexTrade).unwrap_err().code(),
        "scope_mismatch"
    );
    assert_eq!(
        account.use_for(1, Intent::PaySign).unwrap_err().code(),
        "scope_mismatch"
    );
    assert!(account.use_for(10, Intent::PaySign).is_ok());
    // Stepping up a Pay change with an Exchange passkey, and back.
    let pay_by_exchange = Command::Register {
        credential: new(11, Scope::Pay),
        step_up: passkey(1),
    };
    assert_eq!(account.refused(pay_by_exchange), "scope_mismatch");
    let exchange_by_pay = Command::Delete {
        credential: id(2),
        step_up: passkey(10),
    };
    assert_eq!(account.refused(exchange_by_pay), "scope_mismatch");
    // Changing Pay passkeys never touches Exchange ones.
    account.register(11, Scope::Pay, passkey(10));
    assert_eq!(account.state.count(Realm::Exchange), 2);
}

#[test]
fn p2_dex_authorization() {
    let mut account = exchange_and_pay();
    assert_eq!(
        account.use_for(1, Intent::DexTrade).unwrap_err().code(),
        "dex_not_authorized"
    );
    let authorize = |facts: AssertionFacts, terms_accepted| Command::AuthorizeDex {
        assertion: facts,
        terms_accepted,
    };
    assert_eq!(
        account.refused(authorize(facts(1), false)),
        "terms_not_accepted"
    );
    let mut no_uv = facts(1);
    no_uv.user_verified = false;
    assert_eq!(
        account.refused(authorize(no_uv, true)),
        "user_verification_required"
    );
    assert_eq!(
        account.refused(authorize(facts(10), true)),
        "scope_mismatch"
    );
    assert_eq!(
        account.refused(authorize(facts(99), true)),
        "unknown_credential"
    );
    let decision = account.run(authorize(facts(1), true));
    assert!(
        decision
            .events
            .iter()
            .any(|e| matches!(e.kind, EventKind::DexAuthorized { .. }) && e.notify())
    );
    assert!(account.use_for(1, Intent::DexTrade).is_ok());
    assert!(account.use_for(1, Intent::DexTransfer).is_ok());
    assert_eq!(
        account.use_for(2, Intent::DexTrade).unwrap_err().code(),
        "dex_not_authorized"
    );
}

#[test]
fn p3_never_fewer_than_one() {
    let mut account = Account::new();
    account.register(1, Scope::Exchange, factors());
    assert_eq!(
        account.refused(Command::Delete {
            credential: id(1),
            step_up: factors()
        }),
        "last_passkey"
    );
    account.register(2, Scope::Exchange, passkey(1));
    account.run(Command::Delete {
        credential: id(1),
        step_up: passkey(2),
    });
    assert_eq!(
        account.refused(Command::Delete {
            credential: id(2),
            step_up: passkey(2)
        }),
        "last_passkey"
    );

    // The last DEX passkey: neither revoked nor deleted, even with other Exchange passkeys.
    account.register(3, Scope::Exchange, passkey(2));
    account.run(Command::AuthorizeDex {
        assertion: facts(2),
        terms_accepted: true,
    });
    assert_eq!(
        account.refused(Command::RevokeDex {
            credential: id(2),
            step_up: passkey(3)
        }),
        "last_passkey"
    );
    assert_eq!(
        account.refused(Command::Delete {
            credential: id(2),
            step_up: passkey(3)
        }),
        "last_passkey"
    );
    account.run(Command::AuthorizeDex {
        assertion: facts(3),
        terms_accepted: true,
    });
    account.run(Command::RevokeDex {
        credential: id(2),
        step_up: passkey(3),
    });
    assert_eq!(account.state.count(Realm::Dex), 1);

    // The last Pay passkey.
    account.register(10, Scope::Pay, StepUp::Factors(vec![Factor::Sms]));
    assert_eq!(
        account.refused(Command::Delete {
            credential: id(10),
            step_up: passkey(10)
        }),
        "last_passkey"
    );
}

#[test]
fn p4_replace_swaps_in_one_step() {
    let mut account = Account::new();
    account.register(1, Scope::Exchange, factors());
    account.run(Command::AuthorizeDex {
        assertion: facts(1),
        terms_accepted: true,
    });
    let decision = account.run(Command::Replace {
        old: id(1),
        new: new(2, Scope::Exchange),
        step_up: passkey(1),
    });
    assert_eq!(account.state.credentials.len(), 1);
    assert_eq!(account.state.credentials[0].id, id(2));
    assert!(
        account.state.credentials[0].dex_authorized,
        "the successor keeps DEX"
    );
    assert!(matches!(
        decision.events[0].kind,
        EventKind::Registered { .. }
    ));
    assert!(matches!(
        decision.events[1].kind,
        EventKind::Deleted {
            step_up: StepUpKind::Replaced,
            ..
        }
    ));
    // Replacing across scopes is refused.
    let across = Command::Replace {
        old: id(2),
        new: new(3, Scope::Pay),
        step_up: passkey(2),
    };
    assert_eq!(account.refused(across), "scope_mismatch");
    let gone = Command::Replace {
        old: id(1),
        new: new(3, Scope::Exchange),
        step_up: passkey(2),
    };
    assert_eq!(account.refused(gone), "unknown_credential");
}

#[test]
fn p5_limits() {
    let mut account = Account::new();
    account.register(1, Scope::Exchange, factors());
    for n in 2..=10 {
        account.register(n, Scope::Exchange, passkey(1));
    }
    let eleventh = Command::Register {
        credential: new(11, Scope::Exchange),
        step_up: passkey(1),
    };
    assert_eq!(account.refused(eleventh), "limit_reached");
    for n in 1..=5 {
        account.run(Command::AuthorizeDex {
            assertion: facts(n),
            terms_accepted: true,
        });
    }
    let sixth = Command::AuthorizeDex {
        assertion: facts(6),
        terms_accepted: true,
    };
    assert_eq!(account.refused(sixth), "limit_reached");
    account.register(20, Scope::Pay, factors());
    account.register(21, Scope::Pay, passkey(20));
    account.register(22, Scope::Pay, passkey(20));
    let fourth = Command::Register {
        credential: new(23, Scope::Pay),
        step_up: passkey(20),
    };
    assert_eq!(account.refused(fourth), "limit_reached");
    // Configurable.
    account.config.limits.pay = 4;
    account.register(23, Scope::Pay, passkey(20));
}

#[test]
fn p6_names() {
    let mut account = Account::new();
    account.config.aaguids = AaguidTable::from_json(&format!(
        r#"{{"{ICLOUD}": {{"name": "iCloud Keychain", "class": "platform"}}}}"#
    ))
    .unwrap();
    account.register(1, Scope::Exchange, factors());
    account.register(2, Scope::Exchange, passkey(1));
    let mut icloud = new(3, Scope::Exchange);
    icloud.aaguid = ICLOUD.parse().unwrap();
    account.run(Command::Register {
        credential: icloud,
        step_up: passkey(1),
    });
    assert_eq!(
        account.names(Scope::Exchange),
        ["Passkey", "Passkey 2", "iCloud Keychain"]
    );

    let decision = account.run(Command::Rename {
        credential: id(2),
        name: "  Blue key ".into(),
    });
    assert!(
        !decision.events[0].notify(),
        "renames are history, not alerts"
    );
    account.run(Command::Rename {
        credential: id(1),
        name: "Blue key".into(),
    });
    assert_eq!(
        account.names(Scope::Exchange),
        ["Blue key 2", "Blue key", "iCloud Keychain"]
    );
    for bad in ["", "   ", &"x".repeat(65), "a\u{7}b"] {
        let rename = Command::Rename {
            credential: id(1),
            name: bad.to_owned(),
        };
        assert_eq!(account.refused(rename), "invalid_name");
    }
    // A rename changes nothing else.
    let before: Vec<_> = account
        .state
        .credentials
        .iter()
        .map(|c| (c.id.clone(), c.dex_authorized, c.sign_count))
        .collect();
    account.run(Command::Rename {
        credential: id(3),
        name: "Laptop".into(),
    });
    let after: Vec<_> = account
        .state
        .credentials
        .iter()
        .map(|c| (c.id.clone(), c.dex_authorized, c.sign_count))
        .collect();
    assert_eq!(before, after);
    // Names are unique per scope, not across scopes.
    account.register(10, Scope::Pay, factors());
    assert_eq!(account.names(Scope::Pay), ["Passkey"]);
}

#[test]
fn p7_step_up() {
    let mut account = Account::new();
    // The first passkey of a scope: other factors only.
    let no_step_up = Command::Register {
        credential: new(1, Scope::Exchange),
        step_up: StepUp::None,
    };
    assert_eq!(account.refused(no_step_up), "step_up_required");
    let empty = Command::Register {
        credential: new(1, Scope::Exchange),
        step_up: StepUp::Factors(vec![]),
    };
    assert_eq!(account.refused(empty), "step_up_required");
    account.register(1, Scope::Exchange, factors());
    // Later changes: a UV passkey of the scope, or the other factors.
    let mut no_uv = facts(1);
    no_uv.user_verified = false;
    let weak = Command::Register {
        credential: new(2, Scope::Exchange),
        step_up: StepUp::Passkey(no_uv),
    };
    assert_eq!(account.refused(weak), "user_verification_required");
    let stranger = Command::Register {
        credential: new(2, Scope::Exchange),
        step_up: passkey(77),
    };
    assert_eq!(account.refused(stranger), "step_up_required");
    account.register(2, Scope::Exchange, passkey(1));
    assert_eq!(
        account.refused(Command::Delete {
            credential: id(2),
            step_up: StepUp::None
        }),
        "step_up_required"
    );
    assert_eq!(
        account.refused(Command::RevokeDex {
            credential: id(2),
            step_up: passkey(1)
        }),
        "dex_not_authorized"
    );
    // The first Pay passkey cannot be enabled with an Exchange passkey.
    let pay_first = Command::Register {
        credential: new(10, Scope::Pay),
        step_up: passkey(1),
    };
    assert_eq!(account.refused(pay_first), "step_up_required");
}

#[test]
fn p8_withdrawal_lock() {
    let mut account = exchange_and_pay();
    // Adding, and deleting with a passkey step-up, do not lock.
    account.register(3, Scope::Exchange, passkey(1));
    account.run(Command::Delete {
        credential: id(3),
        step_up: passkey(1),
    });
    assert!(account.use_for(1, Intent::Withdrawal).is_ok());
    // Deleting with the other factors locks for 24 hours.
    account.register(3, Scope::Exchange, passkey(1));
    account.run(Command::Delete {
        credential: id(3),
        step_up: factors(),
    });
    account.now = T0.plus_seconds(23 * HOUR);
    assert_eq!(
        account.use_for(1, Intent::Withdrawal).unwrap_err().code(),
        "withdrawal_locked"
    );
    assert!(
        account.use_for(1, Intent::Login).is_ok(),
        "only withdrawals are locked"
    );
    account.now = T0.plus_seconds(24 * HOUR);
    assert!(account.use_for(1, Intent::Withdrawal).is_ok());
    // Replacing an Exchange passkey locks, even with a passkey step-up.
    account.run(Command::Replace {
        old: id(2),
        new: new(4, Scope::Exchange),
        step_up: passkey(1),
    });
    assert_eq!(
        account.use_for(1, Intent::Withdrawal).unwrap_err().code(),
        "withdrawal_locked"
    );
    // Pay changes never lock Exchange withdrawals.
    let mut other = exchange_and_pay();
    other.register(11, Scope::Pay, passkey(10));
    other.run(Command::Delete {
        credential: id(11),
        step_up: factors(),
    });
    other.run(Command::Replace {
        old: id(10),
        new: new(12, Scope::Pay),
        step_up: passkey(10),
    });
    assert!(other.use_for(1, Intent::Withdrawal).is_ok());
    // The lock duration is configurable.
    let mut short = exchange_and_pay();
    short.config.withdrawal_lock_seconds = HOUR;
    short.register(3, Scope::Exchange, passkey(1));
    short.run(Command::Delete {
        credential: id(3),
        step_up: factors(),
    });
    short.now = T0.plus_seconds(HOUR);
    assert!(short.use_for(1, Intent::Withdrawal).is_ok());
}

#[test]
fn p9_intents() {
    let mut account = exchange_and_pay();
    let mut no_uv = facts(1);
    no_uv.user_verified = false;
    let attempt = |intent| Command::Use {
        assertion: no_uv.clone(),
        intent,
        factors: vec![],
    };
    assert!(
        account.try_run(attempt(Intent::Login)).is_ok(),
        "login prefers UV"
    );
    for intent in [Intent::Withdrawal, Intent::SecurityChange] {
        assert_eq!(
            account.refused(attempt(intent)),
            "user_verification_required"
        );
    }
    // Extra factors per intent.
    account
        .config
        .intent_factors
        .insert(Intent::Withdrawal, vec![Factor::Totp, Factor::Email]);
    assert_eq!(
        account.use_for(1, Intent::Withdrawal).unwrap_err().code(),
        "step_up_required"
    );
    let with_factors = Command::Use {
        assertion: facts(1),
        intent: Intent::Withdrawal,
        factors: vec![Factor::Email, Factor::Totp],
    };
    assert!(account.try_run(with_factors).is_ok());
    assert_eq!(
        account.use_for(99, Intent::Login).unwrap_err().code(),
        "unknown_credential"
    );
    assert!(
        Intent::PaySign.is_signing()
            && Intent::DexTrade.is_signing()
            && !Intent::Login.is_signing()
    );
}

#[test]
fn p11_providers() {
    let mut account = Account::new();
    account.config.aaguids = AaguidTable::from_json(&format!(
        r#"{{"{BITWARDEN}": {{"name": "Bitwarden", "class": "third_party"}}}}"#
    ))
    .unwrap();
    let mut bitwarden = new(1, Scope::Exchange);
    bitwarden.aaguid = BITWARDEN.parse().unwrap();
    let decision = account.run(Command::Register {
        credential: bitwarden.clone(),
        step_up: factors(),
    });
    assert_eq!(
        decision.warnings,
        [Warning::Provider(ProviderClass::ThirdParty)]
    );
    assert_eq!(decision.warnings[0].code(), "third_party_provider");
    assert_eq!(
        account.state.credentials[0].provider,
        ProviderClass::ThirdParty
    );
    assert_eq!(account.state.credentials[0].name, "Bitwarden");

    account
        .config
        .providers
        .set(Realm::Pay, ProviderClass::ThirdParty, ProviderVerdict::Deny);
    let mut pay = bitwarden.clone();
    pay.id = id(10);
    pay.scope = Scope::Pay;
    assert_eq!(
        account.refused(Command::Register {
            credential: pay,
            step_up: factors()
        }),
        "provider_denied"
    );
    account
        .config
        .providers
        .set(Realm::Dex, ProviderClass::ThirdParty, ProviderVerdict::Deny);
    let dex = Command::AuthorizeDex {
        assertion: facts(1),
        terms_accepted: true,
    };
    assert_eq!(account.refused(dex), "provider_denied");
    // An unknown AAGUID is class unknown, allowed by default.
    let unknown = account.register(2, Scope::Exchange, passkey(1));
    assert!(unknown.warnings.is_empty());
    assert!(
        AaguidTable::from_json(r#"{"not-a-uuid": {"name": "x", "class": "platform"}}"#).is_err()
    );
    assert!(
        AaguidTable::from_json(
            r#"{"fbfc3007-154e-4ecc-8c0b-6e020557d7bd": {"name": "x", "class": "alien"}}"#
        )
        .is_err()
    );
}

#[test]
fn p12_counters_and_backup_state() {
    let mut account = exchange_and_pay();
    let mut regressed = facts(1);
    regressed.counter_regressed = true;
    let login = |facts: AssertionFacts| Command::Use {
        assertion: facts,
        intent: Intent::Login,
        factors: vec![],
    };
    assert_eq!(
        account.refused(login(regressed.clone())),
        "counter_regression"
    );
    // Verification compared with the state it loaded; a concurrent login may have
    // raised the stored counter since: the policy compares again with the state it
    // decides on.
    let mut higher = facts(1);
    higher.sign_count = 1_000_000;
    account.run(login(higher));
    let mut stale = facts(1);
    stale.sign_count = 999_999;
    assert_eq!(account.refused(login(stale.clone())), "counter_regression");

    account.config.counter = CounterMode::Flag;
    let flagged = account.run(login(regressed));
    assert_eq!(flagged.warnings, [Warning::CounterRegression]);
    let flagged = account.run(login(stale));
    assert_eq!(flagged.warnings, [Warning::CounterRegression]);

    // The stored counter never goes down; BS follows the assertion; a BE change warns.
    let mut zero = facts(1);
    zero.sign_count = 0;
    zero.backed_up = false;
    zero.backup_eligible = false;
    let decision = account.run(login(zero));
    assert_eq!(
        decision.warnings,
        [
            Warning::CounterRegression,
            Warning::BackupEligibilityChanged
        ]
    );
    let credential = account.state.credential(&id(1)).unwrap();
    assert_eq!(credential.sign_count, 1_000_000);
    assert!(!credential.backed_up);
    assert_eq!(credential.last_used_at, Some(T0));
}

#[test]
fn p14_events_carry_time_scope_and_context() {
    let mut account = Account::new();
    let context = RequestContext {
        ip: Some("203.0.113.7".into()),
        user_agent: Some("Firefox".into()),
        device: None,
    };
    let command = Command::Register {
        credential: new(1, Scope::Pay),
        step_up: factors(),
    };
    let decision = decide(&account.state, &command, T0, &context, &account.config).unwrap();
    let event = &decision.events[0];
    assert_eq!(
        (event.at, event.scope, &event.context),
        (T0, Scope::Pay, &context)
    );
    assert!(event.notify());
    // Events round-trip through JSON, the form stores keep them in.
    let json = serde_json::to_string(&decision.events).unwrap();
    let back: Vec<Event> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, decision.events);
    account.state = apply(account.state, &back);
    assert_eq!(account.state.count(Realm::Pay), 1);
    let used = account.use_for(1, Intent::PaySign).unwrap();
    assert!(!used.events[0].notify());
}

#[test]
fn p15_duplicate_credential_within_an_account() {
    let mut account = exchange_and_pay();
    let again = Command::Register {
        credential: new(1, Scope::Exchange),
        step_up: passkey(2),
    };
    assert_eq!(account.refused(again), "duplicate_credential");
    let as_pay = Command::Register {
        credential: new(2, Scope::Pay),
        step_up: passkey(10),
    };
    assert_eq!(account.refused(as_pay), "duplicate_credential");
}

#[test]
fn p11_loads_the_shared_aaguid_table() {
    // The service's table in the documented shape: shared/data/aaguids.json.
    let Some(shared) = latchkey_testkit::shared::dir() else {
        return;
    };
    let json = std::fs::read_to_string(shared.join("data/aaguids.json")).unwrap();
    let table = AaguidTable::from_json(&json).unwrap();
    assert!(table.len() >= 50, "{} entries", table.len());
    let google = "ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4".parse().unwrap();
    assert_eq!(
        table.lookup(google),
        Some(("Google Password Manager", ProviderClass::Platform))
    );
    assert_eq!(table.lookup(Aaguid::ZERO), None);
}
