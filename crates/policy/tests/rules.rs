//! One named test per rule of PRODUCT.md that the engine owns (`p1_...` to `p15_...`),
//! then named attacks (`attack_...`): each tries to break a rule and asserts the code
//! that refuses it. Every command runs through [`Account::try_run`], which checks that a
//! refused command leaves the state unchanged.
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
/// How long a step-up grant stays valid in these tests (the facade's challenge TTL).
const TTL: i64 = 300;
const ICLOUD: &str = "fbfc3007-154e-4ecc-8c0b-6e020557d7bd";
const BITWARDEN: &str = "d548826e-79b4-db40-a3d8-11116f7e8349";

/// One account under test.
struct Account {
    state: AccountState,
    config: PolicyConfig,
    now: Timestamp,
    /// Proof ids handed out so far: each grant gets a fresh one, as the facade's random
    /// token would.
    proofs: u32,
}

fn id(n: u8) -> CredentialId {
    CredentialId::new(vec![n; 16])
}

/// A verified registration of passkey `n`, created with user verification.
fn new(n: u8, scope: Scope) -> NewCredential {
    NewCredential {
        id: id(n),
        scope,
        public_key: vec![n],
        aaguid: Aaguid::ZERO,
        sign_count: 0,
        backup_eligible: true,
        backed_up: true,
        user_verified: true,
        attestation: AttestationFacts::default(),
        transports: vec!["internal".into()],
        name: None,
        cred_protect: None,
        app_id: None,
    }
}

/// A fresh, user-verified assertion by passkey `n`: its counter is higher than any
/// before it.
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

/// The same without user verification.
fn no_uv(n: u8) -> AssertionFacts {
    AssertionFacts {
        user_verified: false,
        ..facts(n)
    }
}

/// Two distinct factors: enough for any scope by default.
fn factors() -> StepUp {
    StepUp::Factors(vec![Factor::Email, Factor::Totp])
}

/// One factor: enough for Pay by default, not for Exchange.
fn email() -> StepUp {
    StepUp::Factors(vec![Factor::Email])
}

fn proof_of(step_up: &StepUp) -> ProofId {
    match step_up {
        StepUp::Passkey(proof) => *proof,
        other => panic!("not a passkey step-up: {other:?}"),
    }
}

impl Account {
    fn new() -> Self {
        Self {
            state: AccountState::default(),
            config: PolicyConfig::default(),
            now: T0,
            proofs: 0,
        }
    }

    fn try_run(&mut self, command: Command) -> Result<Decision, PolicyError> {
        let before = self.state.clone();
        // An operator's revocation comes with an operator's context, as the facade sends
        // it; the engine refuses it from anyone else (P20).
        let context = match command {
            Command::RevokeCompromised { .. } => RequestContext {
                actor: latchkey_policy::Actor::Operator("ops-rules".into()),
                ..RequestContext::default()
            },
            _ => RequestContext::default(),
        };
        let result = decide(&self.state, &command, self.now, &context, &self.config);
        match &result {
            Ok(decision) => self.state = apply(self.state.clone(), &decision.events),
            Err(_) => assert_eq!(self.state, before, "a refusal changed the state"),
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

    fn fresh_proof(&mut self) -> ProofId {
        self.proofs += 1;
        let mut bytes = [0x5a; 32];
        bytes[..4].copy_from_slice(&self.proofs.to_be_bytes());
        ProofId::new(bytes)
    }

    /// Records a step-up grant made by `assertion` for `change` in `scope`.
    fn grant_with(
        &mut self,
        assertion: AssertionFacts,
        scope: Scope,
        change: Change,
        expires_at: Timestamp,
    ) -> Result<ProofId, PolicyError> {
        let proof = self.fresh_proof();
        self.try_run(Command::GrantStepUp {
            assertion,
            scope,
            change,
            proof,
            expires_at,
            freeze_changes: self.state.freeze_changes,
            factors: vec![],
        })?;
        Ok(proof)
    }

    /// A user-verified assertion by passkey `n` grants a step-up for `change` in `scope`,
    /// valid for [`TTL`] seconds.
    fn grant_proof(&mut self, n: u8, scope: Scope, change: Change) -> Result<ProofId, PolicyError> {
        let expires_at = self.now.plus_seconds(TTL);
        self.grant_with(facts(n), scope, change, expires_at)
    }

    /// The same, as the step-up a change command carries.
    fn grant(&mut self, n: u8, scope: Scope, change: Change) -> Result<StepUp, PolicyError> {
        self.grant_proof(n, scope, change).map(StepUp::Passkey)
    }

    /// A passkey step-up by `n` (in its own scope) for `change`, which must be granted.
    fn passkey(&mut self, n: u8, change: Change) -> StepUp {
        let scope = self
            .state
            .credential(&id(n))
            .map_or(Scope::Exchange, |c| c.scope);
        self.grant(n, scope, change)
            .unwrap_or_else(|e| panic!("grant refused: {e}"))
    }

    fn register(&mut self, n: u8, scope: Scope, step_up: StepUp) -> Decision {
        self.run(Command::Register {
            credential: new(n, scope),
            step_up,
        })
    }

    /// Adds passkey `n` to `scope`, stepped up by passkey `by`.
    fn add(&mut self, n: u8, scope: Scope, by: u8) -> Decision {
        let step_up = self.passkey(by, Change::AddPasskey);
        self.register(n, scope, step_up)
    }

    /// Authorizes passkey `n` for DEX through its own grant, terms accepted.
    fn authorize_dex(&mut self, n: u8) -> Decision {
        let proof = self
            .grant_proof(n, Scope::Exchange, Change::AuthorizeDex(id(n)))
            .unwrap();
        self.run(Command::AuthorizeDex {
            credential: id(n),
            proof,
            terms_accepted: true,
        })
    }

    fn use_for(&mut self, n: u8, intent: Intent) -> Result<Decision, PolicyError> {
        self.try_run(Command::Use {
            assertion: facts(n),
            intent,
            factors: vec![],
            freeze_changes: None,
        })
    }

    fn use_code(&mut self, n: u8, intent: Intent) -> String {
        self.use_for(n, intent)
            .expect_err("use should be refused")
            .code()
            .to_owned()
    }

    fn names(&self, scope: Scope) -> Vec<&str> {
        self.state
            .credentials
            .iter()
            .filter(|c| c.scope == scope)
            .map(|c| c.name.as_str())
            .collect()
    }

    fn locked(&self) -> bool {
        self.state.withdrawals_locked(self.now)
    }
}

/// An account with Exchange passkeys 1 and 2 and Pay passkey 10.
fn exchange_and_pay() -> Account {
    let mut account = Account::new();
    account.register(1, Scope::Exchange, factors());
    account.add(2, Scope::Exchange, 1);
    account.register(10, Scope::Pay, email());
    account
}

fn has(decision: &Decision, pred: impl Fn(&EventKind) -> bool) -> bool {
    decision.events.iter().any(|e| pred(&e.kind))
}

fn locks(decision: &Decision) -> bool {
    has(decision, |k| {
        matches!(k, EventKind::WithdrawalLocked { .. })
    })
}

fn dex_authorized(decision: &Decision) -> Vec<CredentialId> {
    decision
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::DexAuthorized { credential } => Some(credential.clone()),
            _ => None,
        })
        .collect()
}

fn deleted_kind(decision: &Decision) -> StepUpKind {
    decision
        .events
        .iter()
        .find_map(|e| match e.kind {
            EventKind::Deleted { step_up, .. } => Some(step_up),
            _ => None,
        })
        .expect("a Deleted event")
}

// ---------------------------------------------------------------------------------------
// One test per rule.
// ---------------------------------------------------------------------------------------

#[test]
fn p1_scopes_are_isolated() {
    let mut account = exchange_and_pay();
    for intent in [
        Intent::Login,
        Intent::Withdrawal,
        Intent::SecurityChange,
        Intent::DexTrade,
        Intent::DexTransfer,
    ] {
        assert_eq!(account.use_code(10, intent), "scope_mismatch", "{intent:?}");
    }
    for intent in [Intent::PaySign, Intent::PaySecurityChange] {
        assert_eq!(account.use_code(1, intent), "scope_mismatch", "{intent:?}");
    }
    assert!(account.use_for(10, Intent::PaySign).is_ok());
    assert!(account.use_for(10, Intent::PaySecurityChange).is_ok());

    // `Intent` is the one authority: every intent has one scope and admits only it.
    let exchange = account.state.credential(&id(1)).unwrap().clone();
    let pay = account.state.credential(&id(10)).unwrap().clone();
    for intent in Intent::ALL {
        assert_eq!(
            intent.admits(&pay).is_ok(),
            intent.scope() == Scope::Pay,
            "{intent:?}"
        );
        if !intent.needs_dex() {
            assert_eq!(
                intent.admits(&exchange).is_ok(),
                intent.scope() == Scope::Exchange,
                "{intent:?}"
            );
        }
    }
    assert_eq!(
        Intent::security_change(Scope::Pay),
        Intent::PaySecurityChange
    );
    assert_eq!(
        Intent::security_change(Scope::Exchange),
        Intent::SecurityChange
    );

    // A step-up belongs to one scope: only that scope's passkeys grant it...
    let pay_for_exchange = account.grant(10, Scope::Exchange, Change::Delete(id(2)));
    assert_eq!(pay_for_exchange.unwrap_err().code(), "scope_mismatch");
    let exchange_for_pay = account.grant(1, Scope::Pay, Change::AddPasskey);
    assert_eq!(exchange_for_pay.unwrap_err().code(), "scope_mismatch");
    // ... and a grant of one scope steps up nothing in the other.
    let exchange_grant = account.passkey(1, Change::AddPasskey);
    let pay_by_exchange = Command::Register {
        credential: new(11, Scope::Pay),
        step_up: exchange_grant,
    };
    assert_eq!(account.refused(pay_by_exchange), "step_up_required");

    // Changing Pay passkeys never touches Exchange ones.
    let exchange_before: Vec<Credential> = account
        .state
        .credentials
        .iter()
        .filter(|c| c.scope == Scope::Exchange)
        .cloned()
        .collect();
    account.add(11, Scope::Pay, 10);
    let step_up = account.passkey(11, Change::Delete(id(10)));
    account.run(Command::Delete {
        credential: id(10),
        step_up,
    });
    let exchange_after: Vec<Credential> = account
        .state
        .credentials
        .iter()
        .filter(|c| c.scope == Scope::Exchange)
        .cloned()
        .collect();
    assert_eq!(exchange_before, exchange_after);
    assert!(!account.locked());
}

#[test]
fn p2_dex_authorization() {
    let mut account = exchange_and_pay();
    assert_eq!(account.use_code(1, Intent::DexTrade), "dex_not_authorized");
    let proof = account
        .grant_proof(1, Scope::Exchange, Change::AuthorizeDex(id(1)))
        .unwrap();
    let authorize = |n: u8, proof, terms_accepted| Command::AuthorizeDex {
        credential: id(n),
        proof,
        terms_accepted,
    };
    assert_eq!(
        account.refused(authorize(1, proof, false)),
        "terms_not_accepted"
    );
    // Only through a user-verified assertion.
    let expires_at = account.now.plus_seconds(TTL);
    let weak = account.grant_with(
        no_uv(1),
        Scope::Exchange,
        Change::AuthorizeDex(id(1)),
        expires_at,
    );
    assert_eq!(weak.unwrap_err().code(), "user_verification_required");
    // Only an Exchange credential.
    let pay = account.grant(10, Scope::Pay, Change::AuthorizeDex(id(10)));
    assert_eq!(pay.unwrap_err().code(), "scope_mismatch");
    assert_eq!(
        account.refused(authorize(10, proof, true)),
        "scope_mismatch"
    );
    assert_eq!(
        account.refused(authorize(99, proof, true)),
        "unknown_credential"
    );
    // Only its own assertion: 2 cannot vouch for 1, 1's grant does not authorize 2.
    let other = account.grant(2, Scope::Exchange, Change::AuthorizeDex(id(1)));
    assert_eq!(other.unwrap_err().code(), "step_up_required");
    assert_eq!(
        account.refused(authorize(2, proof, true)),
        "step_up_required"
    );

    let decision = account.run(authorize(1, proof, true));
    assert!(has(&decision, |k| matches!(
        k,
        EventKind::StepUpRedeemed { proof: p, change: Change::AuthorizeDex(c) } if *p == proof && *c == id(1)
    )));
    assert_eq!(dex_authorized(&decision), [id(1)]);
    assert!(
        decision
            .events
            .iter()
            .any(|e| matches!(e.kind, EventKind::DexAuthorized { .. }) && e.notify())
    );
    assert!(account.use_for(1, Intent::DexTrade).is_ok());
    assert!(account.use_for(1, Intent::DexTransfer).is_ok());
    assert_eq!(account.use_code(2, Intent::DexTrade), "dex_not_authorized");
    assert!(
        account
            .state
            .credential(&id(1))
            .unwrap()
            .in_realm(Realm::Dex)
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
    let own = account.passkey(1, Change::Delete(id(1)));
    assert_eq!(
        account.refused(Command::Delete {
            credential: id(1),
            step_up: own
        }),
        "last_passkey"
    );
    account.add(2, Scope::Exchange, 1);
    let step_up = account.passkey(2, Change::Delete(id(1)));
    account.run(Command::Delete {
        credential: id(1),
        step_up,
    });
    let step_up = account.passkey(2, Change::Delete(id(2)));
    assert_eq!(
        account.refused(Command::Delete {
            credential: id(2),
            step_up
        }),
        "last_passkey"
    );

    // The last DEX passkey: neither revoked nor deleted, even with other Exchange passkeys.
    account.add(3, Scope::Exchange, 2);
    account.authorize_dex(2);
    let step_up = account.passkey(3, Change::RevokeDex(id(2)));
    assert_eq!(
        account.refused(Command::RevokeDex {
            credential: id(2),
            step_up
        }),
        "last_passkey"
    );
    let step_up = account.passkey(3, Change::Delete(id(2)));
    assert_eq!(
        account.refused(Command::Delete {
            credential: id(2),
            step_up
        }),
        "last_passkey"
    );
    account.authorize_dex(3);
    let step_up = account.passkey(3, Change::RevokeDex(id(2)));
    account.run(Command::RevokeDex {
        credential: id(2),
        step_up,
    });
    assert_eq!(account.state.count(Realm::Dex), 1);

    // The last Pay passkey.
    account.register(10, Scope::Pay, StepUp::Factors(vec![Factor::Sms]));
    let own = account.passkey(10, Change::Delete(id(10)));
    assert_eq!(
        account.refused(Command::Delete {
            credential: id(10),
            step_up: own
        }),
        "last_passkey"
    );
    assert_eq!(
        account.refused(Command::Delete {
            credential: id(10),
            step_up: email()
        }),
        "last_passkey"
    );
}

#[test]
fn p4_replace_swaps_in_one_step() {
    let mut account = Account::new();
    account.register(1, Scope::Exchange, factors());
    account.authorize_dex(1);
    // The last passkey of a scope (and the last DEX one) is swapped in one step.
    let step_up = account.passkey(1, Change::Replace(id(1)));
    let proof = proof_of(&step_up);
    let decision = account.run(Command::Replace {
        old: id(1),
        new: new(2, Scope::Exchange),
        step_up,
        dex_terms_accepted: true,
    });
    assert_eq!(account.state.credentials.len(), 1);
    assert_eq!(account.state.credentials[0].id, id(2));
    assert!(account.state.credentials[0].dex_authorized);
    let kinds: Vec<&EventKind> = decision.events.iter().map(|e| &e.kind).collect();
    assert!(
        matches!(kinds[0], EventKind::StepUpRedeemed { proof: p, change: Change::Replace(c) } if *p == proof && *c == id(1))
    );
    assert!(matches!(kinds[1], EventKind::Registered { credential } if credential.id == id(2)));
    assert!(matches!(kinds[2], EventKind::DexAuthorized { credential } if *credential == id(2)));
    assert!(matches!(
        kinds[3],
        EventKind::Deleted { credential, step_up: StepUpKind::OwnPasskey, replaced_by: Some(by) }
            if *credential == id(1) && *by == id(2)
    ));
    assert!(matches!(kinds[4], EventKind::WithdrawalLocked { .. }));
    assert_eq!(kinds.len(), 5);

    // Replacing across scopes is refused.
    account.register(10, Scope::Pay, email());
    let step_up = account.passkey(2, Change::Replace(id(2)));
    let across = Command::Replace {
        old: id(2),
        new: new(3, Scope::Pay),
        step_up,
        dex_terms_accepted: false,
    };
    assert_eq!(account.refused(across), "scope_mismatch");
    // A passkey that is gone can be neither stepped up for nor replaced.
    let gone = account.grant(2, Scope::Exchange, Change::Replace(id(1)));
    assert_eq!(gone.unwrap_err().code(), "unknown_credential");
    let gone = Command::Replace {
        old: id(1),
        new: new(3, Scope::Exchange),
        step_up: factors(),
        dex_terms_accepted: false,
    };
    assert_eq!(account.refused(gone), "unknown_credential");
    // The successor's id must be new.
    let step_up = account.passkey(2, Change::Replace(id(2)));
    let taken = Command::Replace {
        old: id(2),
        new: new(10, Scope::Exchange),
        step_up,
        dex_terms_accepted: true,
    };
    assert_eq!(account.refused(taken), "duplicate_credential");
    // The last Pay passkey too.
    let step_up = account.passkey(10, Change::Replace(id(10)));
    account.run(Command::Replace {
        old: id(10),
        new: new(11, Scope::Pay),
        step_up,
        dex_terms_accepted: false,
    });
    assert_eq!(account.names(Scope::Pay), ["Passkey"]);
    assert!(account.state.credential(&id(11)).is_some());
}

#[test]
fn p5_limits() {
    let mut account = Account::new();
    account.register(1, Scope::Exchange, factors());
    for n in 2..=10 {
        account.add(n, Scope::Exchange, 1);
    }
    let step_up = account.passkey(1, Change::AddPasskey);
    let eleventh = Command::Register {
        credential: new(11, Scope::Exchange),
        step_up,
    };
    assert_eq!(account.refused(eleventh), "limit_reached");
    let eleventh = Command::Register {
        credential: new(11, Scope::Exchange),
        step_up: factors(),
    };
    assert_eq!(account.refused(eleventh), "limit_reached");
    for n in 1..=5 {
        account.authorize_dex(n);
    }
    let proof = account
        .grant_proof(6, Scope::Exchange, Change::AuthorizeDex(id(6)))
        .unwrap();
    let sixth = Command::AuthorizeDex {
        credential: id(6),
        proof,
        terms_accepted: true,
    };
    assert_eq!(account.refused(sixth), "limit_reached");
    account.register(20, Scope::Pay, email());
    account.add(21, Scope::Pay, 20);
    account.add(22, Scope::Pay, 20);
    let step_up = account.passkey(20, Change::AddPasskey);
    let fourth = Command::Register {
        credential: new(23, Scope::Pay),
        step_up,
    };
    assert_eq!(account.refused(fourth), "limit_reached");
    // A replacement does not add one.
    let step_up = account.passkey(20, Change::Replace(id(22)));
    account.run(Command::Replace {
        old: id(22),
        new: new(23, Scope::Pay),
        step_up,
        dex_terms_accepted: false,
    });
    assert_eq!(account.state.count(Realm::Pay), 3);
    // Configurable.
    account.config.limits.pay = 4;
    account.add(24, Scope::Pay, 20);
    assert_eq!(account.state.count(Realm::Pay), 4);
}

#[test]
fn p6_names() {
    let mut account = Account::new();
    account.config.aaguids = AaguidTable::from_json(&format!(
        r#"{{"{ICLOUD}": {{"name": "iCloud Keychain", "class": "platform"}}}}"#
    ))
    .unwrap();
    account.register(1, Scope::Exchange, factors());
    account.add(2, Scope::Exchange, 1);
    let mut icloud = new(3, Scope::Exchange);
    icloud.aaguid = ICLOUD.parse().unwrap();
    let step_up = account.passkey(1, Change::AddPasskey);
    account.run(Command::Register {
        credential: icloud,
        step_up,
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
    for bad in [
        "",
        "   ",
        &"x".repeat(65),
        "a\u{7}b",
        "invoice\u{202E}fdp.exe", // right-to-left override
        "iso\u{2067}late",        // right-to-left isolate
        "Blue\u{200B}key",        // zero-width space
        "\u{FEFF}Blue key",       // byte order mark
        "Blue\u{AD}key",          // soft hyphen
    ] {
        let rename = Command::Rename {
            credential: id(1),
            name: bad.to_owned(),
        };
        assert_eq!(account.refused(rename), "invalid_name", "{bad:?}");
        assert!(!is_valid_name(bad), "{bad:?}");
    }
    assert!(is_valid_name("Clé de Zoë 🔑"));
    assert!(is_valid_name(&"é".repeat(MAX_NAME_CHARS)));
    // A chosen name at registration is held to the same rule.
    let mut hidden = new(4, Scope::Exchange);
    hidden.name = Some("Blue\u{200D}key".into());
    let step_up = account.passkey(1, Change::AddPasskey);
    let register = Command::Register {
        credential: hidden,
        step_up,
    };
    assert_eq!(account.refused(register), "invalid_name");
    // A rename changes nothing else.
    let before: Vec<_> = account
        .state
        .credentials
        .iter()
        .map(|c| (c.id.clone(), c.dex_authorized, c.sign_count, c.created_at))
        .collect();
    account.run(Command::Rename {
        credential: id(3),
        name: "Laptop".into(),
    });
    let after: Vec<_> = account
        .state
        .credentials
        .iter()
        .map(|c| (c.id.clone(), c.dex_authorized, c.sign_count, c.created_at))
        .collect();
    assert_eq!(before, after);
    // Names are unique per scope, not across scopes.
    account.register(10, Scope::Pay, email());
    assert_eq!(account.names(Scope::Pay), ["Passkey"]);
    assert_eq!(DEFAULT_NAME, "Passkey");
}

#[test]
fn p7_step_up() {
    let mut account = Account::new();
    // The first passkey of a scope: the other factors only, two distinct for Exchange.
    for step_up in [
        StepUp::None,
        StepUp::Factors(vec![]),
        email(),
        StepUp::Factors(vec![Factor::Email, Factor::Email]),
        StepUp::Passkey(ProofId::new([7; 32])),
    ] {
        let register = Command::Register {
            credential: new(1, Scope::Exchange),
            step_up: step_up.clone(),
        };
        assert_eq!(account.refused(register), "step_up_required", "{step_up:?}");
    }
    account.register(1, Scope::Exchange, factors());

    // Later changes: a user-verified passkey grant for exactly that change...
    let expires_at = account.now.plus_seconds(TTL);
    let weak = account.grant_with(no_uv(1), Scope::Exchange, Change::AddPasskey, expires_at);
    assert_eq!(weak.unwrap_err().code(), "user_verification_required");
    let forged = Command::Register {
        credential: new(2, Scope::Exchange),
        step_up: StepUp::Passkey(ProofId::new([0xEE; 32])),
    };
    assert_eq!(account.refused(forged), "step_up_required");
    let step_up = account.passkey(1, Change::AddPasskey);
    let proof = proof_of(&step_up);
    let grant = account.state.pending_step_up(&proof).unwrap().clone();
    assert_eq!(
        (
            grant.credential,
            grant.scope,
            grant.change,
            grant.expires_at
        ),
        (
            id(1),
            Scope::Exchange,
            Change::AddPasskey,
            T0.plus_seconds(TTL)
        )
    );
    let decision = account.register(2, Scope::Exchange, step_up);
    assert!(matches!(
        decision.events[0].kind,
        EventKind::StepUpRedeemed { proof: p, change: Change::AddPasskey } if p == proof
    ));
    assert!(account.state.pending_step_up(&proof).is_none());
    // ... or the other factors.
    account.register(3, Scope::Exchange, factors());
    assert_eq!(
        account.refused(Command::Delete {
            credential: id(2),
            step_up: StepUp::None
        }),
        "step_up_required"
    );
    // Renaming needs none.
    account.run(Command::Rename {
        credential: id(2),
        name: "Work".into(),
    });
    let step_up = account.passkey(1, Change::RevokeDex(id(2)));
    assert_eq!(
        account.refused(Command::RevokeDex {
            credential: id(2),
            step_up
        }),
        "dex_not_authorized"
    );
    // The first Pay passkey is enabled with the factors, never with a passkey.
    let exchange_grant = account.passkey(1, Change::AddPasskey);
    let pay_first = Command::Register {
        credential: new(10, Scope::Pay),
        step_up: exchange_grant,
    };
    assert_eq!(account.refused(pay_first), "step_up_required");
    account.register(10, Scope::Pay, email());
    // Grants are history, not alerts; the change they step up is the alert.
    let decision = account.run(Command::GrantStepUp {
        assertion: facts(10),
        scope: Scope::Pay,
        change: Change::AddPasskey,
        proof: ProofId::new([0x10; 32]),
        expires_at: account.now.plus_seconds(TTL),
        freeze_changes: account.state.freeze_changes,
        factors: vec![],
    });
    assert!(decision.events.iter().all(|e| !e.notify()));
    assert!(has(&decision, |k| matches!(
        k,
        EventKind::Used {
            intent: Intent::PaySecurityChange,
            ..
        }
    )));
}

#[test]
fn p8_withdrawal_lock() {
    let mut account = exchange_and_pay();
    // Adding, and deleting with another passkey's step-up, do not lock.
    let added = account.add(3, Scope::Exchange, 1);
    assert!(!locks(&added));
    let step_up = account.passkey(1, Change::Delete(id(3)));
    let deleted = account.run(Command::Delete {
        credential: id(3),
        step_up,
    });
    assert_eq!(deleted_kind(&deleted), StepUpKind::Passkey);
    assert!(!locks(&deleted));
    assert!(account.use_for(1, Intent::Withdrawal).is_ok());
    // Deleting with the other factors locks for 24 hours.
    account.add(3, Scope::Exchange, 1);
    let deleted = account.run(Command::Delete {
        credential: id(3),
        step_up: factors(),
    });
    assert_eq!(deleted_kind(&deleted), StepUpKind::Factors);
    assert!(locks(&deleted));
    assert_eq!(
        account.state.withdrawals_locked_until(account.now),
        Some(T0.plus_seconds(24 * HOUR))
    );
    account.now = T0.plus_seconds(23 * HOUR);
    assert_eq!(account.use_code(1, Intent::Withdrawal), "withdrawal_locked");
    assert!(
        account.use_for(1, Intent::Login).is_ok(),
        "only money out is locked"
    );
    assert!(account.use_for(1, Intent::SecurityChange).is_ok());
    assert!(account.use_for(10, Intent::PaySign).is_ok());
    account.now = T0.plus_seconds(24 * HOUR);
    assert!(account.use_for(1, Intent::Withdrawal).is_ok());
    assert_eq!(account.state.withdrawals_locked_until(account.now), None);
    // Replacing an Exchange passkey locks, even with a passkey step-up.
    let step_up = account.passkey(1, Change::Replace(id(2)));
    account.run(Command::Replace {
        old: id(2),
        new: new(4, Scope::Exchange),
        step_up,
        dex_terms_accepted: false,
    });
    assert_eq!(account.use_code(1, Intent::Withdrawal), "withdrawal_locked");
    // A lock is never shortened.
    account.config.withdrawal_lock_seconds = HOUR;
    account.add(5, Scope::Exchange, 1);
    account.run(Command::Delete {
        credential: id(5),
        step_up: factors(),
    });
    assert_eq!(
        account.state.withdrawals_locked_until(account.now),
        Some(T0.plus_seconds(48 * HOUR))
    );

    // Pay changes never lock Exchange withdrawals.
    let mut other = exchange_and_pay();
    other.add(11, Scope::Pay, 10);
    other.run(Command::Delete {
        credential: id(11),
        step_up: factors(),
    });
    let step_up = other.passkey(10, Change::Replace(id(10)));
    other.run(Command::Replace {
        old: id(10),
        new: new(12, Scope::Pay),
        step_up,
        dex_terms_accepted: false,
    });
    assert!(other.use_for(1, Intent::Withdrawal).is_ok());
    // The lock duration is configurable.
    let mut short = exchange_and_pay();
    short.config.withdrawal_lock_seconds = HOUR;
    short.add(3, Scope::Exchange, 1);
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
    account.authorize_dex(1);
    let attempt = |n: u8, intent| Command::Use {
        assertion: no_uv(n),
        intent,
        factors: vec![],
        freeze_changes: None,
    };
    assert!(
        account.try_run(attempt(1, Intent::Login)).is_ok(),
        "login prefers UV"
    );
    for intent in Intent::ALL {
        let expected = if intent == Intent::Login {
            UserVerificationRule::Preferred
        } else {
            UserVerificationRule::Required
        };
        assert_eq!(intent.user_verification(), expected, "{intent:?}");
        assert_eq!(intent.needs_account(), intent != Intent::Login);
        if intent == Intent::Login {
            continue;
        }
        let n = if intent.scope() == Scope::Pay { 10 } else { 1 };
        assert_eq!(
            account.refused(attempt(n, intent)),
            "user_verification_required",
            "{intent:?}"
        );
        assert!(account.use_for(n, intent).is_ok(), "{intent:?}");
    }
    // Extra factors per intent.
    account
        .config
        .intent_factors
        .insert(Intent::Withdrawal, vec![Factor::Totp, Factor::Email]);
    assert_eq!(account.use_code(1, Intent::Withdrawal), "step_up_required");
    let one_short = Command::Use {
        assertion: facts(1),
        intent: Intent::Withdrawal,
        factors: vec![Factor::Email],
        freeze_changes: None,
    };
    assert_eq!(account.refused(one_short), "step_up_required");
    let with_factors = Command::Use {
        assertion: facts(1),
        intent: Intent::Withdrawal,
        factors: vec![Factor::Email, Factor::Totp],
        freeze_changes: None,
    };
    let used = account.run(with_factors);
    assert!(matches!(
        &used.events[0].kind,
        EventKind::Used { credential, intent: Intent::Withdrawal, .. } if *credential == id(1)
    ));
    assert_eq!(account.use_code(99, Intent::Login), "unknown_credential");
    // P10's signing intents: the ones whose challenge commits to a transaction.
    let signing: Vec<Intent> = Intent::ALL.into_iter().filter(|i| i.is_signing()).collect();
    assert_eq!(
        signing,
        [Intent::DexTrade, Intent::DexTransfer, Intent::PaySign]
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
    let proof = account
        .grant_proof(1, Scope::Exchange, Change::AuthorizeDex(id(1)))
        .unwrap();
    let dex = Command::AuthorizeDex {
        credential: id(1),
        proof,
        terms_accepted: true,
    };
    assert_eq!(account.refused(dex), "provider_denied");
    // An unknown AAGUID is class unknown, allowed by default.
    let unknown = account.add(2, Scope::Exchange, 1);
    assert!(unknown.warnings.is_empty());
    assert_eq!(
        account.state.credential(&id(2)).unwrap().provider,
        ProviderClass::Unknown
    );
    // A successor that would inherit DEX is held to the DEX rule.
    account.authorize_dex(2);
    let step_up = account.passkey(2, Change::Replace(id(2)));
    let mut successor = bitwarden.clone();
    successor.id = id(3);
    let inherit = Command::Replace {
        old: id(2),
        new: successor,
        step_up,
        dex_terms_accepted: true,
    };
    assert_eq!(account.refused(inherit), "provider_denied");
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

#[test]
fn p12_counters_and_backup_state() {
    let mut account = exchange_and_pay();
    let mut regressed = facts(1);
    regressed.counter_regressed = true;
    let login = |facts: AssertionFacts| Command::Use {
        assertion: facts,
        intent: Intent::Login,
        factors: vec![],
        freeze_changes: None,
    };
    assert_eq!(
        account.refused(login(regressed.clone())),
        "counter_regression"
    );
    // A step-up grant is a use: its counter is held to the same rule.
    let grant = account.grant_with(
        regressed.clone(),
        Scope::Exchange,
        Change::AddPasskey,
        account.now.plus_seconds(TTL),
    );
    assert_eq!(grant.unwrap_err().code(), "counter_regression");
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
fn p13_unknown_credentials_in_the_engine() {
    // The Signal API payload is the facade's (crates/latchkey); the engine names the code.
    let mut account = exchange_and_pay();
    assert_eq!(account.use_code(99, Intent::Login), "unknown_credential");
    assert_eq!(account.use_code(99, Intent::PaySign), "unknown_credential");
    let grant = account.grant(99, Scope::Exchange, Change::AddPasskey);
    assert_eq!(grant.unwrap_err().code(), "unknown_credential");
    for command in [
        Command::Rename {
            credential: id(99),
            name: "x".into(),
        },
        Command::Delete {
            credential: id(99),
            step_up: factors(),
        },
        Command::RevokeDex {
            credential: id(99),
            step_up: factors(),
        },
    ] {
        assert_eq!(account.refused(command), "unknown_credential");
    }
}

#[test]
fn p14_events_carry_time_scope_and_context() {
    let mut account = Account::new();
    let context = RequestContext {
        ip: Some("203.0.113.7".into()),
        user_agent: Some("Firefox".into()),
        actor: Actor::Operator("ops-17".into()),
        request_id: Some("req-42".into()),
        session_challenge: Some("not-for-the-history".into()),
        ..RequestContext::default()
    };
    let command = Command::Register {
        credential: new(1, Scope::Pay),
        step_up: factors(),
    };
    let decision = decide(&account.state, &command, T0, &context, &account.config).unwrap();
    let event = &decision.events[0];
    assert_eq!(
        (event.at, event.scope, &event.context),
        (T0, Scope::Pay, &context.recorded())
    );
    assert_eq!(event.context.actor, Actor::Operator("ops-17".into()));
    assert_eq!(event.context.session_challenge, None);
    assert!(event.notify());
    // Events round-trip through JSON, the form stores keep them in.
    let json = serde_json::to_string(&decision.events).unwrap();
    let back: Vec<Event> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, decision.events);
    account.state = apply(account.state, &back);
    assert_eq!(account.state.count(Realm::Pay), 1);
    let used = account.use_for(1, Intent::PaySign).unwrap();
    assert!(!used.events[0].notify());
    // Grants and redemptions too, and the state that holds the pending ones.
    account.add(2, Scope::Pay, 1);
    let step_up = account.passkey(1, Change::Delete(id(2)));
    let granted = account.state.clone();
    let json = serde_json::to_string(&granted).unwrap();
    assert_eq!(
        serde_json::from_str::<AccountState>(&json).unwrap(),
        granted
    );
    let deleted = account.run(Command::Delete {
        credential: id(2),
        step_up,
    });
    let json = serde_json::to_string(&deleted.events).unwrap();
    assert_eq!(
        serde_json::from_str::<Vec<Event>>(&json).unwrap(),
        deleted.events
    );
    assert!(deleted.events.iter().all(|e| e.scope == Scope::Pay));
    let notified: Vec<bool> = deleted.events.iter().map(Event::notify).collect();
    assert_eq!(
        notified,
        [false, true],
        "redemption is history, deletion an alert"
    );
}

#[test]
fn p15_duplicate_credential_within_an_account() {
    let mut account = exchange_and_pay();
    let step_up = account.passkey(2, Change::AddPasskey);
    let again = Command::Register {
        credential: new(1, Scope::Exchange),
        step_up,
    };
    assert_eq!(account.refused(again), "duplicate_credential");
    let step_up = account.passkey(10, Change::AddPasskey);
    let as_pay = Command::Register {
        credential: new(2, Scope::Pay),
        step_up,
    };
    assert_eq!(account.refused(as_pay), "duplicate_credential");
}

// ---------------------------------------------------------------------------------------
// Attacks.
// ---------------------------------------------------------------------------------------

/// P1, P7: a step-up's scope is answered only by that scope's passkeys, both ways.
#[test]
fn attack_pay_passkey_grants_an_exchange_step_up() {
    let mut account = exchange_and_pay();
    for change in [
        Change::AddPasskey,
        Change::Delete(id(2)),
        Change::Replace(id(2)),
        Change::AuthorizeDex(id(2)),
    ] {
        let grant = account.grant(10, Scope::Exchange, change.clone());
        assert_eq!(grant.unwrap_err().code(), "scope_mismatch", "{change:?}");
    }
    // And back: an Exchange passkey never grants a Pay step-up.
    for change in [
        Change::AddPasskey,
        Change::Delete(id(10)),
        Change::Replace(id(10)),
    ] {
        let grant = account.grant(1, Scope::Pay, change.clone());
        assert_eq!(grant.unwrap_err().code(), "scope_mismatch", "{change:?}");
    }
    // Naming the Pay scope while the change is an Exchange one does not help.
    let grant = account.grant(10, Scope::Pay, Change::Delete(id(2)));
    assert_eq!(grant.unwrap_err().code(), "scope_mismatch");
    assert!(account.state.step_ups.is_empty());
}

/// P1: a service gating its own Exchange changes with `security_change` never accepts a
/// Pay passkey, and a Pay change never accepts an Exchange one.
#[test]
fn attack_pay_passkey_serves_security_change() {
    let mut account = exchange_and_pay();
    assert_eq!(
        account.use_code(10, Intent::SecurityChange),
        "scope_mismatch"
    );
    assert_eq!(
        account.use_code(1, Intent::PaySecurityChange),
        "scope_mismatch"
    );
    let pay = account.state.credential(&id(10)).unwrap();
    assert_eq!(
        Intent::SecurityChange.admits(pay),
        Err(PolicyError::ScopeMismatch)
    );
    assert!(account.use_for(1, Intent::SecurityChange).is_ok());
}

/// P7: a grant for deleting one passkey does not delete another.
#[test]
fn attack_grant_redeemed_for_another_passkey() {
    let mut account = exchange_and_pay();
    account.add(3, Scope::Exchange, 1);
    let step_up = account.passkey(1, Change::Delete(id(2)));
    let other = Command::Delete {
        credential: id(3),
        step_up: step_up.clone(),
    };
    assert_eq!(account.refused(other), "step_up_required");
    account.run(Command::Delete {
        credential: id(2),
        step_up,
    });
}

/// P7: a grant for one kind of change does not serve another kind on the same passkey.
#[test]
fn attack_grant_redeemed_for_another_kind_of_change() {
    let mut account = exchange_and_pay();
    account.add(3, Scope::Exchange, 1);
    account.authorize_dex(2);
    account.authorize_dex(3);
    let delete = account.passkey(1, Change::Delete(id(2)));
    let attempts = [
        Command::Replace {
            old: id(2),
            new: new(4, Scope::Exchange),
            step_up: delete.clone(),
            dex_terms_accepted: true,
        },
        Command::RevokeDex {
            credential: id(2),
            step_up: delete.clone(),
        },
        Command::Register {
            credential: new(4, Scope::Exchange),
            step_up: delete.clone(),
        },
        Command::AuthorizeDex {
            credential: id(1),
            proof: proof_of(&delete),
            terms_accepted: true,
        },
    ];
    for attempt in attempts {
        assert_eq!(
            account.refused(attempt.clone()),
            "step_up_required",
            "{attempt:?}"
        );
    }
    let add = account.passkey(1, Change::AddPasskey);
    let delete_with_add = Command::Delete {
        credential: id(2),
        step_up: add,
    };
    assert_eq!(account.refused(delete_with_add), "step_up_required");
    // The grant still serves the change it was made for.
    account.run(Command::Delete {
        credential: id(2),
        step_up: delete,
    });
}

/// P1, P7: a grant of one scope does not step up the other scope's change.
#[test]
fn attack_grant_redeemed_in_another_scope() {
    let mut account = exchange_and_pay();
    let pay_add = account.passkey(10, Change::AddPasskey);
    let exchange_add = account.passkey(1, Change::AddPasskey);
    let into_exchange = Command::Register {
        credential: new(3, Scope::Exchange),
        step_up: pay_add.clone(),
    };
    assert_eq!(account.refused(into_exchange), "step_up_required");
    let into_pay = Command::Register {
        credential: new(11, Scope::Pay),
        step_up: exchange_add.clone(),
    };
    assert_eq!(account.refused(into_pay), "step_up_required");
    account.register(3, Scope::Exchange, exchange_add);
    account.register(11, Scope::Pay, pay_add);
}

/// P7: single use; the second redemption finds nothing.
#[test]
fn attack_grant_redeemed_twice() {
    let mut account = exchange_and_pay();
    let step_up = account.passkey(1, Change::AddPasskey);
    account.register(3, Scope::Exchange, step_up.clone());
    let again = Command::Register {
        credential: new(4, Scope::Exchange),
        step_up,
    };
    assert_eq!(account.refused(again), "step_up_required");
    // Also when the change itself would be a no-op the second time.
    let proof = account
        .grant_proof(1, Scope::Exchange, Change::AuthorizeDex(id(1)))
        .unwrap();
    let authorize = Command::AuthorizeDex {
        credential: id(1),
        proof,
        terms_accepted: true,
    };
    account.run(authorize.clone());
    assert_eq!(account.refused(authorize), "step_up_required");
}

/// P7: a grant expires with its challenge.
#[test]
fn attack_grant_redeemed_after_expiry() {
    let mut account = exchange_and_pay();
    let late = account.passkey(1, Change::AddPasskey);
    let on_time = account.passkey(1, Change::AddPasskey);
    account.now = account.now.plus_seconds(TTL + 1);
    let register = Command::Register {
        credential: new(3, Scope::Exchange),
        step_up: late,
    };
    assert_eq!(account.refused(register), "step_up_required");
    // At the deadline itself it still holds; one second on it does not.
    account.now = T0.plus_seconds(TTL);
    account.register(3, Scope::Exchange, on_time);
    // A grant made already expired, or meant to outlive any challenge, is refused.
    for seconds in [-1, TTL + 1] {
        let expires_at = account.now.plus_seconds(seconds);
        let grant = account.grant_with(facts(1), Scope::Exchange, Change::AddPasskey, expires_at);
        assert_eq!(grant.unwrap_err().code(), "step_up_required", "{seconds}");
    }
    // Expired grants are dropped when the next one is recorded.
    account.now = account.now.plus_seconds(TTL + 1);
    account.passkey(1, Change::AddPasskey);
    assert_eq!(account.state.step_ups.len(), 1);
}

/// P7: a proof id is granted once: a second grant under a pending id would let one
/// token stand for two changes, or refresh a proof after its deadline.
#[test]
fn attack_grant_under_a_pending_proof_id() {
    let mut account = exchange_and_pay();
    let proof = account
        .grant_proof(1, Scope::Exchange, Change::AddPasskey)
        .unwrap();
    let again = Command::GrantStepUp {
        assertion: facts(2),
        scope: Scope::Exchange,
        change: Change::Delete(id(1)),
        proof,
        expires_at: account.now.plus_seconds(TTL),
        freeze_changes: account.state.freeze_changes,
        factors: vec![],
    };
    assert_eq!(account.refused(again), "step_up_required");
    let delete = Command::Delete {
        credential: id(1),
        step_up: StepUp::Passkey(proof),
    };
    assert_eq!(account.refused(delete), "step_up_required");
    account.register(3, Scope::Exchange, StepUp::Passkey(proof));
}

/// P7 with P9: factors the service requires of a scope's `security_change` are required
/// of a passkey step-up in that scope too, and only in that scope.
#[test]
fn attack_step_up_skips_the_security_change_factors() {
    let mut account = exchange_and_pay();
    account
        .config
        .intent_factors
        .insert(Intent::SecurityChange, vec![Factor::Totp]);
    let grant = |factors: Vec<Factor>, n: u8, scope: Scope, proof: u8| Command::GrantStepUp {
        assertion: facts(n),
        scope,
        change: Change::AddPasskey,
        proof: ProofId::new([proof; 32]),
        expires_at: T0.plus_seconds(TTL),
        freeze_changes: 0,
        factors,
    };
    assert_eq!(
        account.refused(grant(vec![], 1, Scope::Exchange, 1)),
        "step_up_required"
    );
    assert_eq!(
        account.refused(grant(vec![Factor::Email], 1, Scope::Exchange, 1)),
        "step_up_required"
    );
    account.run(grant(vec![Factor::Totp], 1, Scope::Exchange, 1));
    // Pay's security change is its own intent: Exchange's factors are not asked of it.
    account.run(grant(vec![], 10, Scope::Pay, 2));
}

/// P7: a grant dies with the passkey that made it, deleted or replaced.
#[test]
fn attack_grant_redeemed_after_its_passkey_is_gone() {
    let mut account = exchange_and_pay();
    account.add(3, Scope::Exchange, 1);
    let by_three = account.passkey(3, Change::Delete(id(2)));
    let add_by_three = account.passkey(3, Change::AddPasskey);
    let step_up = account.passkey(1, Change::Delete(id(3)));
    account.run(Command::Delete {
        credential: id(3),
        step_up,
    });
    assert!(
        account
            .state
            .step_ups
            .iter()
            .all(|grant| grant.credential != id(3))
    );
    let delete = Command::Delete {
        credential: id(2),
        step_up: by_three,
    };
    assert_eq!(account.refused(delete), "step_up_required");
    let register = Command::Register {
        credential: new(4, Scope::Exchange),
        step_up: add_by_three,
    };
    assert_eq!(account.refused(register), "step_up_required");
    // Replaced.
    let add_by_two = account.passkey(2, Change::AddPasskey);
    let step_up = account.passkey(1, Change::Replace(id(2)));
    account.run(Command::Replace {
        old: id(2),
        new: new(5, Scope::Exchange),
        step_up,
        dex_terms_accepted: false,
    });
    let register = Command::Register {
        credential: new(6, Scope::Exchange),
        step_up: add_by_two,
    };
    assert_eq!(account.refused(register), "step_up_required");
}

/// P7: a grant for a change of a passkey dies with that passkey too: if the same id is
/// registered again, the old grant does not delete the new registration.
#[test]
fn attack_grant_outlives_the_passkey_it_names() {
    let mut account = exchange_and_pay();
    account.add(3, Scope::Exchange, 1);
    let stale = account.passkey(1, Change::Delete(id(3)));
    account.run(Command::Delete {
        credential: id(3),
        step_up: factors(),
    });
    account.add(3, Scope::Exchange, 1);
    let delete = Command::Delete {
        credential: id(3),
        step_up: stale,
    };
    assert_eq!(account.refused(delete), "step_up_required");
}

/// P2: AuthorizeDex takes only a grant made by the very passkey it authorizes.
#[test]
fn attack_authorize_dex_with_another_passkeys_grant() {
    let mut account = exchange_and_pay();
    let vouch = account.grant(2, Scope::Exchange, Change::AuthorizeDex(id(1)));
    assert_eq!(vouch.unwrap_err().code(), "step_up_required");
    let twos = account
        .grant_proof(2, Scope::Exchange, Change::AuthorizeDex(id(2)))
        .unwrap();
    let borrowed = Command::AuthorizeDex {
        credential: id(1),
        proof: twos,
        terms_accepted: true,
    };
    assert_eq!(account.refused(borrowed), "step_up_required");
    // Nor a grant of 1's for something else.
    for change in [
        Change::AddPasskey,
        Change::Delete(id(1)),
        Change::Replace(id(1)),
    ] {
        let ones = account.grant_proof(1, Scope::Exchange, change).unwrap();
        let misused = Command::AuthorizeDex {
            credential: id(1),
            proof: ones,
            terms_accepted: true,
        };
        assert_eq!(account.refused(misused), "step_up_required");
    }
    assert!(!account.state.credential(&id(1)).unwrap().dex_authorized);
    let decision = account.run(Command::AuthorizeDex {
        credential: id(2),
        proof: twos,
        terms_accepted: true,
    });
    assert_eq!(dex_authorized(&decision), [id(2)]);
}

/// An account whose only DEX passkey is 1, with another Exchange passkey 2.
fn one_dex_passkey() -> Account {
    let mut account = Account::new();
    account.register(1, Scope::Exchange, factors());
    account.authorize_dex(1);
    account.add(2, Scope::Exchange, 1);
    account
}

fn replace_one(account: &mut Account, successor: NewCredential, terms: bool) -> Command {
    let step_up = account.passkey(1, Change::Replace(id(1)));
    Command::Replace {
        old: id(1),
        new: successor,
        step_up,
        dex_terms_accepted: terms,
    }
}

/// P2, P3: the last DEX passkey replaced without the terms would leave DEX empty.
#[test]
fn attack_replace_last_dex_passkey_without_terms() {
    let mut account = one_dex_passkey();
    let replace = replace_one(&mut account, new(3, Scope::Exchange), false);
    assert_eq!(account.refused(replace), "last_passkey");
}

/// P2, P3: a successor created without user verification is never DEX-authorized.
#[test]
fn attack_replace_last_dex_passkey_without_uv() {
    let mut account = one_dex_passkey();
    let mut unverified = new(3, Scope::Exchange);
    unverified.user_verified = false;
    let replace = replace_one(&mut account, unverified, true);
    assert_eq!(account.refused(replace), "last_passkey");
}

/// P2, P4: with its own UV and the terms, the successor is authorized, by its own event.
#[test]
fn replace_last_dex_passkey_with_uv_and_terms_authorizes_the_successor() {
    let mut account = one_dex_passkey();
    let replace = replace_one(&mut account, new(3, Scope::Exchange), true);
    let decision = account.run(replace);
    assert_eq!(dex_authorized(&decision), [id(3)]);
    assert!(account.state.credential(&id(3)).unwrap().dex_authorized);
    assert_eq!(account.state.count(Realm::Dex), 1);
    assert!(account.use_for(3, Intent::DexTrade).is_ok());
}

/// P2: with another DEX passkey left, the replace is allowed and the successor is not
/// authorized unless it qualifies.
#[test]
fn replace_dex_passkey_with_another_left_does_not_authorize_the_successor() {
    let mut unverified = new(3, Scope::Exchange);
    unverified.user_verified = false;
    for (successor, terms) in [(new(3, Scope::Exchange), false), (unverified, true)] {
        let mut attempt = one_dex_passkey();
        attempt.authorize_dex(2);
        let replace = replace_one(&mut attempt, successor, terms);
        let decision = attempt.run(replace);
        assert!(dex_authorized(&decision).is_empty());
        assert!(!attempt.state.credential(&id(3)).unwrap().dex_authorized);
        assert_eq!(attempt.state.count(Realm::Dex), 1);
        assert_eq!(attempt.use_code(3, Intent::DexTrade), "dex_not_authorized");
    }
}

/// P2: a replacement never mints a DEX authorization the old passkey did not have.
#[test]
fn attack_replace_mints_dex() {
    let mut account = one_dex_passkey();
    let step_up = account.passkey(1, Change::Replace(id(2)));
    let decision = account.run(Command::Replace {
        old: id(2),
        new: new(3, Scope::Exchange),
        step_up,
        dex_terms_accepted: true,
    });
    assert!(dex_authorized(&decision).is_empty());
    assert!(!account.state.credential(&id(3)).unwrap().dex_authorized);
}

/// P8: the lock covers the configured money-out intents: by default withdrawal and
/// dex_transfer, not dex_trade.
#[test]
fn attack_dex_transfer_during_the_lock() {
    let mut account = exchange_and_pay();
    account.authorize_dex(1);
    account.add(3, Scope::Exchange, 1);
    account.run(Command::Delete {
        credential: id(3),
        step_up: factors(),
    });
    assert_eq!(
        account.state.withdrawals_locked_until(account.now),
        Some(T0.plus_seconds(24 * HOUR))
    );
    assert_eq!(
        account.use_code(1, Intent::DexTransfer),
        "withdrawal_locked"
    );
    assert_eq!(account.use_code(1, Intent::Withdrawal), "withdrawal_locked");
    assert!(account.use_for(1, Intent::DexTrade).is_ok());
    assert!(account.use_for(1, Intent::Login).is_ok());
    assert!(account.use_for(10, Intent::PaySign).is_ok());
    // The set is config.
    account.config.locked_intents = vec![Intent::Withdrawal];
    assert!(account.use_for(1, Intent::DexTransfer).is_ok());
    account.config.locked_intents = vec![
        Intent::Withdrawal,
        Intent::DexTransfer,
        Intent::DexTrade,
        Intent::PaySign,
    ];
    assert_eq!(account.use_code(1, Intent::DexTrade), "withdrawal_locked");
    assert_eq!(account.use_code(10, Intent::PaySign), "withdrawal_locked");
    assert!(account.config.is_locked_intent(Intent::DexTrade));
    account.now = T0.plus_seconds(24 * HOUR);
    assert!(account.use_for(1, Intent::DexTrade).is_ok());
}

/// P7: a factor step-up needs the scope's number of distinct factors.
#[test]
fn attack_weak_factor_step_up() {
    let mut account = Account::new();
    let sms = StepUp::Factors(vec![Factor::Sms]);
    let sms_twice = StepUp::Factors(vec![Factor::Sms, Factor::Sms]);
    for step_up in [sms.clone(), sms_twice.clone()] {
        let register = Command::Register {
            credential: new(1, Scope::Exchange),
            step_up,
        };
        assert_eq!(account.refused(register), "step_up_required");
    }
    account.register(
        1,
        Scope::Exchange,
        StepUp::Factors(vec![Factor::Sms, Factor::Email]),
    );
    account.add(2, Scope::Exchange, 1);
    for step_up in [sms.clone(), sms_twice.clone()] {
        let delete = Command::Delete {
            credential: id(2),
            step_up,
        };
        assert_eq!(account.refused(delete), "step_up_required");
    }
    // One is enough for Pay.
    account.register(10, Scope::Pay, sms.clone());
    account.register(11, Scope::Pay, sms.clone());
    // Config per scope; never below one.
    account.config.step_up_factors.pay = 3;
    let two = Command::Register {
        credential: new(12, Scope::Pay),
        step_up: StepUp::Factors(vec![Factor::Sms, Factor::Email, Factor::Sms]),
    };
    assert_eq!(account.refused(two), "step_up_required");
    account.register(
        12,
        Scope::Pay,
        StepUp::Factors(vec![Factor::Sms, Factor::Email, Factor::Totp]),
    );
    account.config.step_up_factors.exchange = 0;
    assert_eq!(account.config.step_up_factors.of(Scope::Exchange), 1);
    let none = Command::Delete {
        credential: id(2),
        step_up: StepUp::Factors(vec![]),
    };
    assert_eq!(account.refused(none), "step_up_required");
    account.run(Command::Delete {
        credential: id(2),
        step_up: sms,
    });
}

/// P7, P8: a passkey's own grant for its deletion counts as the factors and locks;
/// another passkey's grant does not lock.
#[test]
fn attack_own_passkey_deletes_itself_without_a_lock() {
    let mut account = exchange_and_pay();
    account.add(3, Scope::Exchange, 1);
    let own = account.passkey(3, Change::Delete(id(3)));
    let decision = account.run(Command::Delete {
        credential: id(3),
        step_up: own,
    });
    assert_eq!(deleted_kind(&decision), StepUpKind::OwnPasskey);
    assert!(locks(&decision));
    assert_eq!(account.use_code(1, Intent::Withdrawal), "withdrawal_locked");

    let mut other = exchange_and_pay();
    other.add(3, Scope::Exchange, 1);
    let by_one = other.passkey(1, Change::Delete(id(3)));
    let decision = other.run(Command::Delete {
        credential: id(3),
        step_up: by_one,
    });
    assert_eq!(deleted_kind(&decision), StepUpKind::Passkey);
    assert!(!locks(&decision));
    assert!(other.use_for(1, Intent::Withdrawal).is_ok());

    // A Pay passkey deleting itself does not lock Exchange withdrawals.
    other.add(11, Scope::Pay, 10);
    let own = other.passkey(11, Change::Delete(id(11)));
    let decision = other.run(Command::Delete {
        credential: id(11),
        step_up: own,
    });
    assert_eq!(deleted_kind(&decision), StepUpKind::OwnPasskey);
    assert!(!locks(&decision));
    assert!(StepUpKind::OwnPasskey.locks_withdrawals());
    assert!(StepUpKind::Factors.locks_withdrawals());
    assert!(!StepUpKind::Passkey.locks_withdrawals());
}

/// P7: asking for step-ups never grows the state past MAX_PENDING_STEP_UPS; the oldest
/// grant goes first.
#[test]
fn attack_grant_flood_drops_the_oldest() {
    let mut account = exchange_and_pay();
    let proofs: Vec<ProofId> = (0..=MAX_PENDING_STEP_UPS)
        .map(|_| {
            account
                .grant_proof(1, Scope::Exchange, Change::Delete(id(2)))
                .unwrap()
        })
        .collect();
    assert_eq!(account.state.step_ups.len(), MAX_PENDING_STEP_UPS);
    assert!(account.state.pending_step_up(&proofs[0]).is_none());
    assert!(
        proofs[1..]
            .iter()
            .all(|p| account.state.pending_step_up(p).is_some())
    );
    let oldest = Command::Delete {
        credential: id(2),
        step_up: StepUp::Passkey(proofs[0]),
    };
    assert_eq!(account.refused(oldest), "step_up_required");
    account.run(Command::Delete {
        credential: id(2),
        step_up: StepUp::Passkey(proofs[MAX_PENDING_STEP_UPS]),
    });
}

/// P7: a registration's start judges what its finish will, and spends nothing.
#[test]
fn attack_preflight_disagrees_with_the_finish() {
    let mut account = Account::new();
    let start = |account: &Account, scope, change: &Change, step_up: &StepUp| {
        preflight(
            &account.state,
            scope,
            change,
            step_up,
            account.now,
            &account.config,
        )
        .map_err(|e| e.code().to_owned())
    };
    // The first passkey: the factors, at the start as at the finish.
    for step_up in [StepUp::None, StepUp::Factors(vec![Factor::Sms])] {
        assert_eq!(
            start(&account, Scope::Exchange, &Change::AddPasskey, &step_up),
            Err("step_up_required".to_owned())
        );
        let finish = Command::Register {
            credential: new(1, Scope::Exchange),
            step_up,
        };
        assert_eq!(account.refused(finish), "step_up_required");
    }
    assert_eq!(
        start(&account, Scope::Exchange, &Change::AddPasskey, &factors()),
        Ok(())
    );
    account.register(1, Scope::Exchange, factors());
    // The limit.
    account.config.limits.exchange = 2;
    account.add(2, Scope::Exchange, 1);
    let step_up = account.passkey(1, Change::AddPasskey);
    assert_eq!(
        start(&account, Scope::Exchange, &Change::AddPasskey, &step_up),
        Err("limit_reached".to_owned())
    );
    let finish = Command::Register {
        credential: new(3, Scope::Exchange),
        step_up,
    };
    assert_eq!(account.refused(finish), "limit_reached");
    // A proof is judged, not spent: the start passes twice and the finish redeems it.
    let step_up = account.passkey(1, Change::Replace(id(2)));
    let proof = proof_of(&step_up);
    let change = Change::Replace(id(2));
    for _ in 0..2 {
        assert_eq!(start(&account, Scope::Exchange, &change, &step_up), Ok(()));
        assert!(account.state.pending_step_up(&proof).is_some());
    }
    account.run(Command::Replace {
        old: id(2),
        new: new(3, Scope::Exchange),
        step_up: step_up.clone(),
        dex_terms_accepted: false,
    });
    // Once spent, neither passes.
    assert_eq!(
        start(&account, Scope::Exchange, &Change::Replace(id(3)), &step_up),
        Err("step_up_required".to_owned())
    );
    // A proof for another change fails at the start as at the finish.
    account.config.limits.exchange = 10;
    let delete = account.passkey(1, Change::Delete(id(3)));
    assert_eq!(
        start(&account, Scope::Exchange, &Change::AddPasskey, &delete),
        Err("step_up_required".to_owned())
    );
    let finish = Command::Register {
        credential: new(4, Scope::Exchange),
        step_up: delete,
    };
    assert_eq!(account.refused(finish), "step_up_required");
    // The old passkey of a replacement: known, and of the same scope.
    assert_eq!(
        start(
            &account,
            Scope::Exchange,
            &Change::Replace(id(99)),
            &factors()
        ),
        Err("unknown_credential".to_owned())
    );
    assert_eq!(
        start(&account, Scope::Pay, &Change::Replace(id(1)), &factors()),
        Err("scope_mismatch".to_owned())
    );
    // A scope that denies every provider class refuses before the authenticator runs.
    for class in [
        ProviderClass::Platform,
        ProviderClass::ThirdParty,
        ProviderClass::Hardware,
        ProviderClass::Unknown,
    ] {
        account
            .config
            .providers
            .set(Realm::Pay, class, ProviderVerdict::Deny);
    }
    assert_eq!(
        start(&account, Scope::Pay, &Change::AddPasskey, &email()),
        Err("provider_denied".to_owned())
    );
    let finish = Command::Register {
        credential: new(10, Scope::Pay),
        step_up: email(),
    };
    assert_eq!(account.refused(finish), "provider_denied");
}

/// A scope that requires trusted attestation refuses the rest; a compromised model is
/// refused everywhere.
#[test]
fn attack_untrusted_attestation() {
    let mut account = Account::new();
    account.config.trusted_attestation = vec![Scope::Pay];
    account.register(1, Scope::Exchange, factors()); // not required there
    let mut pay = new(10, Scope::Pay);
    let register = Command::Register {
        credential: pay.clone(),
        step_up: email(),
    };
    assert_eq!(account.refused(register), "attestation_untrusted");
    pay.attestation.trusted = true;
    account.run(Command::Register {
        credential: pay,
        step_up: email(),
    });
    // A replacement in that scope is held to it too.
    let step_up = account.passkey(10, Change::Replace(id(10)));
    let replace = Command::Replace {
        old: id(10),
        new: new(11, Scope::Pay),
        step_up,
        dex_terms_accepted: false,
    };
    assert_eq!(account.refused(replace), "attestation_untrusted");
}

#[test]
fn attack_compromised_authenticator_model() {
    let mut account = Account::new();
    let compromised = AttestationFacts {
        trusted: true,
        compromised: true,
    };
    let mut first = new(1, Scope::Exchange);
    first.attestation = compromised;
    let register = Command::Register {
        credential: first,
        step_up: factors(),
    };
    assert_eq!(account.refused(register), "attestation_untrusted");
    account.register(1, Scope::Exchange, factors());
    let mut successor = new(2, Scope::Exchange);
    successor.attestation = compromised;
    let step_up = account.passkey(1, Change::Replace(id(1)));
    let replace = Command::Replace {
        old: id(1),
        new: successor,
        step_up,
        dex_terms_accepted: false,
    };
    assert_eq!(account.refused(replace), "attestation_untrusted");
}

#[test]
fn attack_grant_by_unknown_credential() {
    let mut account = exchange_and_pay();
    let grant = account.grant(99, Scope::Exchange, Change::AddPasskey);
    assert_eq!(grant.unwrap_err().code(), "unknown_credential");
    let grant = account.grant(1, Scope::Exchange, Change::Delete(id(99)));
    assert_eq!(grant.unwrap_err().code(), "unknown_credential");
}

/// P1: an Exchange grant cannot be made for a change of a Pay passkey.
#[test]
fn attack_grant_for_a_pay_passkey_in_the_exchange_scope() {
    let mut account = exchange_and_pay();
    for change in [
        Change::Delete(id(10)),
        Change::Replace(id(10)),
        Change::RevokeDex(id(10)),
        Change::AuthorizeDex(id(10)),
    ] {
        let grant = account.grant(1, Scope::Exchange, change.clone());
        assert_eq!(grant.unwrap_err().code(), "scope_mismatch", "{change:?}");
    }
    let grant = account.grant(10, Scope::Pay, Change::RevokeDex(id(10)));
    assert_eq!(grant.unwrap_err().code(), "scope_mismatch");
}

/// A refused change spends nothing: its grant still serves once the change is allowed.
#[test]
fn refused_change_keeps_its_grant() {
    let mut account = Account::new();
    account.register(1, Scope::Exchange, factors());
    let own = account.passkey(1, Change::Delete(id(1)));
    let delete = Command::Delete {
        credential: id(1),
        step_up: own,
    };
    assert_eq!(account.refused(delete.clone()), "last_passkey");
    account.register(2, Scope::Exchange, factors());
    let decision = account.run(delete);
    assert_eq!(deleted_kind(&decision), StepUpKind::OwnPasskey);
}

// ---------------------------------------------------------------------------------------
// P17-P20 and the sharpened P6.
// ---------------------------------------------------------------------------------------

/// The identity check of P18 and P20.
fn identity() -> StepUp {
    StepUp::Factors(vec![Factor::IdDocument, Factor::Face])
}

fn revoked(decision: &Decision) -> Vec<CredentialId> {
    decision
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Revoked { credential, .. } => Some(credential.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn p6_names_refuse_every_format_character() {
    let mut account = exchange_and_pay();
    for bad in [
        "Work\u{202E}yek",
        "Work\u{2066}key\u{2069}",
        "Wo\u{200B}rk",
        "Wo\u{200D}rk",
        "\u{FEFF}Work",
        "Work\u{2060}",
        "Work\u{061C}",
    ] {
        let code = account.refused(Command::Rename {
            credential: id(1),
            name: bad.into(),
        });
        assert_eq!(code, "invalid_name", "{bad:?}");
        assert!(!is_valid_name(bad), "{bad:?}");
        let mut named = new(50, Scope::Exchange);
        named.name = Some(bad.into());
        let step_up = account.passkey(1, Change::AddPasskey);
        let code = account.refused(Command::Register {
            credential: named,
            step_up,
        });
        assert_eq!(code, "invalid_name", "{bad:?}");
    }
    // Visible non-ASCII text stays fine.
    account.run(Command::Rename {
        credential: id(1),
        name: "Clé de travail \u{1F511}".into(),
    });
}

#[test]
fn p17_labels_per_scope() {
    let mut config = PolicyConfig::default();
    assert_eq!(config.label(Scope::Pay), Some("Pay"));
    assert_eq!(config.label(Scope::Exchange), None);
    assert_eq!(config.labelled("alice", Scope::Pay), "alice (Pay)");
    assert_eq!(config.labelled("alice", Scope::Exchange), "alice");
    config.labels.insert(Scope::Exchange, "Exchange".into());
    config.labels.insert(Scope::Pay, "OKX Pay".into());
    assert_eq!(
        config.labelled("alice", Scope::Exchange),
        "alice (Exchange)"
    );
    assert_eq!(config.labelled("alice", Scope::Pay), "alice (OKX Pay)");
    // A blank label is no label.
    config.labels.insert(Scope::Pay, "  ".into());
    assert_eq!(config.labelled("alice", Scope::Pay), "alice");
    // The Pay entry never logs in (P1): the engine says scope_mismatch.
    let mut account = exchange_and_pay();
    assert_eq!(account.use_code(10, Intent::Login), "scope_mismatch");
}

#[test]
fn p18_a_frozen_account_changes_nothing_and_only_logs_in() {
    let mut account = exchange_and_pay();
    account.authorize_dex(1);
    // A grant made before the freeze is worthless while frozen.
    let early = account.passkey(1, Change::Delete(id(2)));
    let frozen = account.run(Command::Freeze {
        reason: " risk\u{202E}: new device \n".into(),
    });
    assert!(frozen.events.iter().all(Event::notify));
    let freeze = account.state.frozen.clone().unwrap();
    assert_eq!(
        (freeze.reason.as_str(), freeze.since),
        ("risk: new device", T0)
    );
    // A second freeze changes nothing.
    assert!(
        account
            .run(Command::Freeze {
                reason: "again".into()
            })
            .events
            .is_empty()
    );
    let refused = [
        Command::Register {
            credential: new(3, Scope::Exchange),
            step_up: factors(),
        },
        Command::Register {
            credential: new(11, Scope::Pay),
            step_up: email(),
        },
        Command::Rename {
            credential: id(1),
            name: "x".into(),
        },
        Command::Delete {
            credential: id(2),
            step_up: early,
        },
        Command::Delete {
            credential: id(2),
            step_up: factors(),
        },
        Command::Replace {
            old: id(2),
            new: new(4, Scope::Exchange),
            step_up: factors(),
            dex_terms_accepted: false,
        },
        Command::AuthorizeDex {
            credential: id(2),
            proof: ProofId::new([1; 32]),
            terms_accepted: true,
        },
        Command::RevokeDex {
            credential: id(1),
            step_up: factors(),
        },
        Command::SetPasskeyRequired {
            on: true,
            step_up: factors(),
        },
        Command::GrantStepUp {
            assertion: facts(1),
            scope: Scope::Exchange,
            change: Change::AddPasskey,
            proof: ProofId::new([2; 32]),
            expires_at: T0.plus_seconds(TTL),
            freeze_changes: 0,
            factors: vec![],
        },
    ];
    for command in refused {
        assert_eq!(
            account.refused(command.clone()),
            "account_frozen",
            "{command:?}"
        );
    }
    for intent in [
        Intent::Withdrawal,
        Intent::SecurityChange,
        Intent::DexTrade,
        Intent::DexTransfer,
    ] {
        assert_eq!(account.use_code(1, intent), "account_frozen", "{intent:?}");
    }
    assert_eq!(account.use_code(10, Intent::PaySign), "account_frozen");
    assert_eq!(
        preflight(
            &account.state,
            Scope::Exchange,
            &Change::AddPasskey,
            &factors(),
            T0,
            &account.config
        ),
        Err(PolicyError::AccountFrozen)
    );
    // Login goes through, unless the config refuses it.
    account.use_for(1, Intent::Login).unwrap();
    account.config.frozen_login = FrozenLogin::Refuse;
    assert_eq!(account.use_code(1, Intent::Login), "account_frozen");
    // Unfreezing needs the identity check: never a passkey, never other factors.
    let by_passkey = StepUp::Passkey(ProofId::new([3; 32]));
    for step_up in [
        StepUp::None,
        by_passkey,
        factors(),
        StepUp::Factors(vec![Factor::IdDocument, Factor::Email]),
        StepUp::Factors(vec![Factor::Face, Factor::Totp, Factor::Email]),
    ] {
        assert_eq!(
            account.refused(Command::Unfreeze { step_up }),
            "step_up_required"
        );
    }
    let unfrozen = account.run(Command::Unfreeze {
        step_up: identity(),
    });
    assert!(has(&unfrozen, |k| matches!(k, EventKind::Unfrozen)));
    assert!(unfrozen.events.iter().all(Event::notify));
    assert!(!account.state.is_frozen());
    account.use_for(1, Intent::Withdrawal).unwrap();
    account.run(Command::Rename {
        credential: id(1),
        name: "Back".into(),
    });
}

#[test]
fn p19_passkey_required_mode() {
    let mut account = exchange_and_pay();
    assert!(!account.state.passkey_required);
    // On: the step-up is needed.
    assert_eq!(
        account.refused(Command::SetPasskeyRequired {
            on: true,
            step_up: StepUp::None
        }),
        "step_up_required"
    );
    let on = account.run(Command::SetPasskeyRequired {
        on: true,
        step_up: factors(),
    });
    assert!(has(&on, |k| matches!(
        k,
        EventKind::PasskeyRequiredSet { on: true }
    )));
    assert!(on.events.iter().any(Event::notify));
    assert!(account.state.passkey_required);
    // Off: never factors alone, however many.
    let all = StepUp::Factors(vec![
        Factor::Email,
        Factor::Totp,
        Factor::Sms,
        Factor::Face,
        Factor::IdDocument,
    ]);
    assert_eq!(
        account.refused(Command::SetPasskeyRequired {
            on: false,
            step_up: all
        }),
        "step_up_required"
    );
    // Never a Pay passkey: its grant cannot even be made for this change.
    assert_eq!(
        account
            .grant_proof(10, Scope::Pay, Change::PasskeyRequiredOff)
            .unwrap_err()
            .code(),
        "scope_mismatch"
    );
    assert_eq!(
        account
            .grant_proof(10, Scope::Exchange, Change::PasskeyRequiredOff)
            .unwrap_err()
            .code(),
        "scope_mismatch"
    );
    // A grant made for turning it on does not turn it off.
    let wrong = account
        .grant(1, Scope::Exchange, Change::PasskeyRequiredOn)
        .unwrap();
    assert_eq!(
        account.refused(Command::SetPasskeyRequired {
            on: false,
            step_up: wrong
        }),
        "step_up_required"
    );
    let step_up = account.passkey(1, Change::PasskeyRequiredOff);
    let off = account.run(Command::SetPasskeyRequired {
        on: false,
        step_up: step_up.clone(),
    });
    assert!(has(&off, |k| matches!(k, EventKind::StepUpRedeemed { .. })));
    assert!(!account.state.passkey_required);
    // Single use: on again, and the spent proof does not turn it off.
    account.run(Command::SetPasskeyRequired {
        on: true,
        step_up: factors(),
    });
    assert_eq!(
        account.refused(Command::SetPasskeyRequired { on: false, step_up }),
        "step_up_required"
    );
    // On with a passkey step-up works too.
    let mut other = exchange_and_pay();
    let step_up = other.passkey(2, Change::PasskeyRequiredOn);
    other.run(Command::SetPasskeyRequired { on: true, step_up });
    assert!(other.state.passkey_required);
}

#[test]
fn p20_operator_revokes_even_the_last_passkey() {
    let mut account = Account::new();
    account.register(1, Scope::Exchange, factors());
    account.authorize_dex(1);
    account.register(10, Scope::Pay, email());
    // A grant by the passkey, made before: it dies with it.
    let grant = account.passkey(1, Change::AddPasskey);
    let decision = account.run(Command::RevokeCompromised {
        credential: id(1),
        reason: "phished".into(),
    });
    assert_eq!(revoked(&decision), [id(1)]);
    assert!(
        locks(&decision),
        "revoking an Exchange passkey locks withdrawals"
    );
    assert!(decision.events.iter().all(Event::notify));
    assert_eq!(account.state.count(Realm::Exchange), 0);
    assert_eq!(account.state.count(Realm::Dex), 0);
    assert!(account.state.is_revoked(&id(1)));
    // Never usable again: not for an intent, not for a step-up, not registered again.
    assert_eq!(account.use_code(1, Intent::Login), "unknown_credential");
    assert_eq!(
        account
            .grant_proof(1, Scope::Exchange, Change::AddPasskey)
            .unwrap_err()
            .code(),
        "unknown_credential"
    );
    assert_eq!(
        account.refused(Command::Register {
            credential: new(1, Scope::Exchange),
            step_up: factors()
        }),
        "duplicate_credential"
    );
    // The scope's next registration needs the factors: the old grant is gone.
    assert_eq!(
        account.refused(Command::Register {
            credential: new(2, Scope::Exchange),
            step_up: grant
        }),
        "step_up_required"
    );
    account.register(2, Scope::Exchange, factors());
    assert!(account.locked());
    // A Pay revocation locks withdrawals too (P20 names no scope), and the last Pay
    // passkey goes.
    account.now = account.now.plus_seconds(25 * HOUR);
    assert!(!account.locked());
    let pay = account.run(Command::RevokeCompromised {
        credential: id(10),
        reason: String::new(),
    });
    assert!(locks(&pay), "revoking a Pay passkey locks withdrawals");
    assert!(account.locked());
    assert!(
        pay.events
            .iter()
            .all(|e| e.scope == Scope::Pay || matches!(e.kind, EventKind::WithdrawalLocked { .. }))
    );
    match &pay.events[0].kind {
        EventKind::Revoked { reason, .. } => assert_eq!(reason, "compromised"),
        other => panic!("{other:?}"),
    }
    assert_eq!(account.use_code(10, Intent::PaySign), "unknown_credential");
    // An operator revokes on a frozen account too.
    account.run(Command::Freeze {
        reason: "risk".into(),
    });
    account.run(Command::RevokeCompromised {
        credential: id(2),
        reason: "x".into(),
    });
    assert_eq!(
        account.refused(Command::RevokeCompromised {
            credential: id(2),
            reason: "x".into()
        }),
        "unknown_credential"
    );
}

/// P20: the engine itself refuses a revocation whose context is not an operator's: it is
/// the one command that may empty a scope, and the history must say an operator did it.
#[test]
fn p20_the_engine_refuses_a_revocation_from_a_user() {
    let account = exchange_and_pay();
    let refused = decide(
        &account.state,
        &Command::RevokeCompromised {
            credential: id(1),
            reason: "mine".into(),
        },
        account.now,
        &RequestContext::default(),
        &account.config,
    );
    assert_eq!(refused, Err(PolicyError::OperatorRequired));
    assert_eq!(PolicyError::OperatorRequired.code(), "internal");
}

/// P20: "nothing that recovery (or revocation) revokes can be used again": the revoked
/// key under a new credential id is refused on every path that registers a passkey.
/// P18: a withdrawal whose challenge noted a freeze count the account has moved past is
/// refused `challenge_expired`; with the current count it serves, and a use whose
/// challenge noted no count (a login) is not judged by it.
#[test]
fn p18_a_use_begun_before_a_freeze_or_unfreeze_serves_nothing() {
    let mut account = exchange_and_pay();
    let withdraw = |freeze_changes: Option<u64>| Command::Use {
        assertion: facts(1),
        intent: Intent::Withdrawal,
        factors: vec![Factor::Email, Factor::Totp],
        freeze_changes,
    };
    account.run(Command::Freeze {
        reason: "risk".into(),
    });
    account.run(Command::Unfreeze {
        step_up: StepUp::Factors(vec![Factor::IdDocument, Factor::Face]),
    });
    for stale in [0, 1, 3] {
        assert_eq!(
            account.refused(withdraw(Some(stale))),
            "challenge_expired",
            "{stale}"
        );
    }
    account.run(withdraw(Some(2)));
    account.run(Command::Use {
        assertion: facts(1),
        intent: Intent::Login,
        factors: vec![],
        freeze_changes: None,
    });
}

/// A recovery answered by a passkey holding one of the keys it revokes (the same
/// authenticator key under a new id) is refused whole: the key would be revoked and
/// registered in one step.
#[test]
fn p20_a_recovery_never_registers_a_key_it_revokes() {
    let mut account = exchange_and_pay();
    for (old, scope) in [(1, Scope::Exchange), (2, Scope::Exchange), (10, Scope::Pay)] {
        assert_eq!(
            account.refused(Command::Recover {
                new: NewCredential {
                    public_key: vec![old],
                    ..new(30 + old, scope)
                },
                step_up: StepUp::Factors(vec![Factor::IdDocument, Factor::Face]),
            }),
            "duplicate_credential",
            "key {old}"
        );
    }
    // A fresh key recovers.
    account.run(Command::Recover {
        new: new(40, Scope::Exchange),
        step_up: StepUp::Factors(vec![Factor::IdDocument, Factor::Face]),
    });
}

#[test]
fn p20_a_revoked_key_comes_back_under_no_new_id() {
    let mut account = exchange_and_pay();
    account.run(Command::RevokeCompromised {
        credential: id(1),
        reason: "phished".into(),
    });
    let same_key = |n: u8, scope: Scope| NewCredential {
        public_key: vec![1],
        ..new(n, scope)
    };
    for scope in [Scope::Exchange, Scope::Pay] {
        assert_eq!(
            account.refused(Command::Register {
                credential: same_key(7, scope),
                step_up: factors()
            }),
            "duplicate_credential"
        );
        // A U2F import is a registration with its AppID.
        assert_eq!(
            account.refused(Command::Register {
                credential: NewCredential {
                    app_id: Some("https://example.com/appid.json".into()),
                    ..same_key(7, scope)
                },
                step_up: factors()
            }),
            "duplicate_credential"
        );
        assert_eq!(
            account.refused(Command::Recover {
                new: same_key(9, scope),
                step_up: StepUp::Factors(vec![Factor::IdDocument, Factor::Face]),
            }),
            "duplicate_credential"
        );
    }
    for (old, scope) in [(2, Scope::Exchange), (10, Scope::Pay)] {
        assert_eq!(
            account.refused(Command::Replace {
                old: id(old),
                new: same_key(8, scope),
                step_up: factors(),
                dex_terms_accepted: false,
            }),
            "duplicate_credential"
        );
    }
    // Another key under a new id is welcome.
    account.register(7, Scope::Exchange, factors());
}

/// P20: the key is what is compromised: a passkey of the account holding the same key
/// under another id is revoked with the one the operator named.
#[test]
fn p20_a_revocation_takes_every_passkey_holding_the_key() {
    let mut account = exchange_and_pay();
    account.run(Command::Register {
        credential: NewCredential {
            public_key: vec![1],
            ..new(5, Scope::Pay)
        },
        step_up: email(),
    });
    let decision = account.run(Command::RevokeCompromised {
        credential: id(1),
        reason: "phished".into(),
    });
    assert_eq!(revoked(&decision), [id(1), id(5)]);
    assert!(account.state.credential(&id(5)).is_none());
    assert!(account.state.is_revoked(&id(5)));
    assert_eq!(account.use_code(5, Intent::PaySign), "unknown_credential");
}

/// P20: a recovery revokes the keys of its scope: a passkey of the other scope holding
/// one of them under another id goes too; the other scope's own passkeys stay.
#[test]
fn p20_a_recovery_takes_a_passkey_of_the_other_scope_holding_a_recovered_key() {
    let mut account = exchange_and_pay();
    account.run(Command::Register {
        credential: NewCredential {
            public_key: vec![2],
            ..new(5, Scope::Pay)
        },
        step_up: email(),
    });
    let decision = account.run(Command::Recover {
        new: new(3, Scope::Exchange),
        step_up: StepUp::Factors(vec![Factor::IdDocument, Factor::Face]),
    });
    assert_eq!(revoked(&decision), [id(1), id(2), id(5)]);
    assert!(account.state.credential(&id(10)).is_some());
    assert!(account.state.is_revoked(&id(5)));
}

/// P18: a freeze voids every step-up granted before it; after the unfreeze none serves.
#[test]
fn p18_a_freeze_voids_the_step_ups_granted_before_it() {
    let mut account = exchange_and_pay();
    let delete = account.passkey(1, Change::Delete(id(2)));
    let add = account.passkey(10, Change::AddPasskey);
    assert_eq!(account.state.step_ups.len(), 2);
    account.run(Command::Freeze {
        reason: "risk".into(),
    });
    assert!(account.state.step_ups.is_empty());
    account.run(Command::Unfreeze {
        step_up: StepUp::Factors(vec![Factor::IdDocument, Factor::Face]),
    });
    assert_eq!(
        account.refused(Command::Delete {
            credential: id(2),
            step_up: delete
        }),
        "step_up_required"
    );
    assert_eq!(
        account.refused(Command::Register {
            credential: new(11, Scope::Pay),
            step_up: add
        }),
        "step_up_required"
    );
    // A grant made after the unfreeze serves, in the same second too.
    let delete = account.passkey(1, Change::Delete(id(2)));
    account.run(Command::Delete {
        credential: id(2),
        step_up: delete,
    });
}

/// P18: a step-up ceremony begun before a freeze or an unfreeze (the account's freeze
/// count has moved since its challenge was issued) grants nothing when it finishes after
/// the unfreeze, whatever the clocks say; one begun after the unfreeze does.
#[test]
fn p18_a_step_up_begun_before_a_freeze_or_unfreeze_grants_nothing() {
    let mut account = exchange_and_pay();
    let grant = |freeze_changes: u64, proof: u8| Command::GrantStepUp {
        assertion: facts(1),
        scope: Scope::Exchange,
        change: Change::Delete(id(2)),
        proof: ProofId::new([proof; 32]),
        expires_at: T0.plus_seconds(TTL / 2),
        freeze_changes,
        factors: vec![],
    };
    assert_eq!(account.state.freeze_changes, 0);
    account.run(Command::Freeze {
        reason: "risk".into(),
    });
    assert_eq!(account.state.freeze_changes, 1);
    account.run(Command::Unfreeze {
        step_up: StepUp::Factors(vec![Factor::IdDocument, Factor::Face]),
    });
    // Same second, no clock moved: the count orders them.
    assert_eq!(account.state.freeze_changes, 2);
    for (begun_at, proof) in [(0, 1), (1, 2), (3, 3), (u64::MAX, 4)] {
        assert_eq!(
            account.refused(grant(begun_at, proof)),
            "step_up_required",
            "begun at count {begun_at}"
        );
    }
    account.run(grant(2, 5));
    assert_eq!(account.state.step_ups.len(), 1);
}

#[test]
fn p20_recovery_replaces_every_passkey_of_a_scope() {
    let mut account = exchange_and_pay();
    account.authorize_dex(1);
    account.authorize_dex(2);
    account.add(11, Scope::Pay, 10);
    let pending = account.passkey(2, Change::AddPasskey);
    // Only the identity check recovers.
    for step_up in [
        StepUp::None,
        factors(),
        pending.clone(),
        StepUp::Factors(vec![Factor::Face]),
    ] {
        assert_eq!(
            account.refused(Command::Recover {
                new: new(3, Scope::Exchange),
                step_up: step_up.clone()
            }),
            "step_up_required"
        );
        assert_eq!(
            preflight_recovery(&account.state, Scope::Exchange, &step_up, &account.config),
            Err(PolicyError::StepUpRequired)
        );
    }
    assert_eq!(
        preflight_recovery(
            &account.state,
            Scope::Exchange,
            &identity(),
            &account.config
        ),
        Ok(())
    );
    // A passkey the account holds, or one revoked, is no recovery.
    assert_eq!(
        account.refused(Command::Recover {
            new: new(2, Scope::Exchange),
            step_up: identity()
        }),
        "duplicate_credential"
    );
    let decision = account.run(Command::Recover {
        new: new(3, Scope::Exchange),
        step_up: identity(),
    });
    assert_eq!(revoked(&decision), [id(1), id(2)]);
    assert!(locks(&decision));
    assert!(dex_authorized(&decision).is_empty());
    let exchange: Vec<&CredentialId> = account
        .state
        .credentials
        .iter()
        .filter(|c| c.scope == Scope::Exchange)
        .map(|c| &c.id)
        .collect();
    assert_eq!(exchange, [&id(3)]);
    assert_eq!(
        account.state.count(Realm::Dex),
        0,
        "every DEX authorization is cleared"
    );
    assert_eq!(account.names(Scope::Exchange), ["Passkey"]);
    // Pay untouched.
    assert_eq!(account.state.count(Realm::Pay), 2);
    // What recovery revoked is never accepted again, nor its pending grants.
    for n in [1, 2] {
        assert_eq!(account.use_code(n, Intent::Login), "unknown_credential");
    }
    assert_eq!(
        account.refused(Command::Register {
            credential: new(4, Scope::Exchange),
            step_up: pending
        }),
        "step_up_required"
    );
    assert_eq!(
        account.refused(Command::Recover {
            new: new(1, Scope::Exchange),
            step_up: identity()
        }),
        "duplicate_credential"
    );
    // DEX again only through P2.
    assert_eq!(account.use_code(3, Intent::DexTrade), "dex_not_authorized");
    account.authorize_dex(3);
    // Pay recovery: no lock, Exchange untouched. Not on a frozen account (P18: a
    // recovery registers a passkey, a change); after the unfreeze it goes through.
    account.now = account.now.plus_seconds(25 * HOUR);
    account.run(Command::Freeze {
        reason: "user_request".into(),
    });
    let recover_pay = || Command::Recover {
        new: new(12, Scope::Pay),
        step_up: identity(),
    };
    assert_eq!(account.refused(recover_pay()), "account_frozen");
    assert_eq!(
        preflight_recovery(
            &account.state,
            Scope::Pay,
            &identity(),
            &PolicyConfig::default()
        )
        .map_err(|e| e.code()),
        Err("account_frozen")
    );
    account.run(Command::Unfreeze {
        step_up: identity(),
    });
    let pay = account.run(recover_pay());
    assert_eq!(revoked(&pay), [id(10), id(11)]);
    assert!(!locks(&pay));
    assert_eq!(account.state.count(Realm::Exchange), 1);
    assert_eq!(account.state.count(Realm::Dex), 1);
}
