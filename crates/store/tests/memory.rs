//! `MemoryStore` passes the conformance suite.

#[test]
fn memory_store_conforms() {
    latchkey_store::conformance::check_all(latchkey_store::MemoryStore::new);
}

#[test]
fn counted_memory_store_conforms() {
    latchkey_store::conformance::check_all(|| {
        latchkey_store::Counted::new(latchkey_store::MemoryStore::new())
    });
}
