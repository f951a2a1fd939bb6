/// Declares an open wire enum: the named values plus `Unknown(v)` for everything else,
/// so a value read from the wire always converts back to the same value.
///
/// ```
/// wire::open_enum! {
///     /// ISAKMP exchange types.
///     pub enum ExchangeType: u8 {
///         /// Main Mode.
///         IdentityProtection = 2,
///         /// Quick Mode.
///         QuickMode = 32,
///     }
/// }
/// assert_eq!(ExchangeType::from(2u8), ExchangeType::IdentityProtection);
/// assert_eq!(u8::from(ExchangeType::from(99u8)), 99);
/// assert_eq!(format!("{:?}", ExchangeType::from(99u8)), "Unknown(0x63)");
/// ```
#[macro_export]
macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident : $repr:ty {
            $(
                $(#[$vmeta:meta])*
                $variant:ident = $value:expr
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $(
                $(#[$vmeta])*
                $variant,
            )*
            /// A value this implementation has no name for.
            Unknown($repr),
        }

        impl $name {
            /// The wire value.
            pub const fn value(self) -> $repr {
                match self {
                    $( Self::$variant => $value, )*
                    Self::Unknown(v) => v,
                }
            }

            /// True when the value has a name here.
            pub const fn is_known(self) -> bool {
                !matches!(self, Self::Unknown(_))
            }
        }

        impl ::core::convert::From<$repr> for $name {
            fn from(v: $repr) -> Self {
                match v {
                    $( x if x == $value => Self::$variant, )*
                    other => Self::Unknown(other),
                }
            }
        }

        impl ::core::convert::From<$name> for $repr {
            fn from(v: $name) -> $repr {
                v.value()
            }
        }

        impl ::core::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                match self {
                    $( Self::$variant => f.write_str(stringify!($variant)), )*
                    Self::Unknown(v) => write!(f, "Unknown({:#x})", v),
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    open_enum! {
        /// Test enum.
        pub enum Proto: u16 {
            /// a
            A = 1,
            /// b
            B = 0x8021,
        }
    }

    #[test]
    fn every_value_round_trips() {
        for v in 0..=u16::MAX {
            assert_eq!(u16::from(Proto::from(v)), v);
        }
        assert_eq!(Proto::from(0x8021), Proto::B);
        assert!(Proto::A.is_known());
        assert!(!Proto::from(7).is_known());
        assert_eq!(format!("{:?}", Proto::Unknown(0xc021)), "Unknown(0xc021)");
    }
}
