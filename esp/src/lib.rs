//! ESP (RFC 4303) transport and tunnel mode with UDP encapsulation (RFC 3948), in place and allocation-free.
//!
//! Not built yet: see the open issues.
