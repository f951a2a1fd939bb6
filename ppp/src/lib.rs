//! PPP over L2TP sans-IO engine: LCP, PAP, CHAP-MD5, MS-CHAPv2, IPCP, IPv6CP.
//!
//! Not built yet: see the open issues.
