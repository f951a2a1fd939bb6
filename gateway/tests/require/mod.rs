//! Skipping a test this machine cannot run (no root, no network namespace, a missing
//! tool): it prints `SKIPPED <what>` and the test returns, except under CI
//! (`L2TPGW_REQUIRE_ALL=1`, set by `.ci/run`), where CI machines have all of it and a
//! skip would hide a test that never ran: there the test fails with the same reason.

/// True when skips are failures (`L2TPGW_REQUIRE_ALL=1`).
pub(crate) fn required() -> bool {
    std::env::var("L2TPGW_REQUIRE_ALL").as_deref() == Ok("1")
}

/// Prints `SKIPPED <what>`, or panics with it under `L2TPGW_REQUIRE_ALL=1`.
pub(crate) fn skip(what: &str) {
    assert!(
        !required(),
        "SKIPPED {what}: L2TPGW_REQUIRE_ALL=1 (CI) requires this test to run"
    );
    eprintln!("SKIPPED {what}");
}
