//! IKEv1 (RFC 2407/2408/2409) sans-IO engine: Main, Aggressive, Quick Mode, Informational, NAT-T.
//!
//! Not built yet: see the open issues.
