//! Wire formats only (RFC 2661 §3–§4): the header, AVPs, control messages, Result Codes
//! and the MD5 constructions of hidden AVPs and tunnel authentication.

pub mod avp;
pub mod control;
pub mod header;
pub mod hidden;
pub mod result;

pub use avp::{Avp, AvpIter, AvpType, AvpValue, RawAvp};
pub use control::{ControlMessage, MessageType};
pub use header::{Header, MessageKind, Sequence};
pub use hidden::Secret;
pub use result::{CdnResult, ErrorCode, ResultCode, StopCcnResult};
