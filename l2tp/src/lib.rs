//! L2TPv2 (RFC 2661) sans-IO engine: LNS and LAC.
//!
//! Not built yet: see the open issues.
