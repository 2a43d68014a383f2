//! Error numbers, with Linux's values.
//!
//! The core speaks Linux errnos throughout (they are also what helpers
//! return to programs, negated, as on Linux). A kernel port whose numbering
//! differs converts at its user boundary with [`Errno::name`] or its own
//! table.

use core::fmt;

/// A Linux error number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Errno(pub i32);

macro_rules! errnos {
    ($($name:ident = $value:expr, $text:expr;)*) => {
        impl Errno {
            $(
                #[doc = $text]
                pub const $name: Errno = Errno($value);
            )*

            /// The symbolic name (`"ENOENT"`), or `None` for a number the
            /// core does not use.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($value => Some(stringify!($name)),)*
                    _ => None,
                }
            }

            /// A short description.
            pub fn description(self) -> &'static str {
                match self.0 {
                    $($value => $text,)*
                    _ => "unknown error",
                }
            }
        }
    };
}

errnos! {
    EPERM = 1, "operation not permitted";
    ENOENT = 2, "no such entry";
    ESRCH = 3, "no such object";
    E2BIG = 7, "too big or full";
    EBADF = 9, "bad handle";
    EAGAIN = 11, "try again";
    ENOMEM = 12, "out of memory";
    EACCES = 13, "permission denied";
    EFAULT = 14, "bad address";
    EBUSY = 16, "busy";
    EEXIST = 17, "entry exists";
    EINVAL = 22, "invalid argument";
    ENOSPC = 28, "no space left";
    ERANGE = 34, "out of range";
    ENOTTY = 25, "unknown request";
    ENOSYS = 38, "not implemented";
    ELOOP = 40, "too many levels";
    EOPNOTSUPP = 95, "not supported";
    ENOTSUPP = 524, "operation not supported";
}

impl Errno {
    /// The value a helper returns to a program: the negated errno as u64.
    pub const fn to_helper_ret(self) -> u64 {
        (-(self.0 as i64)) as u64
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} ({})", self.description()),
            None => write!(f, "errno {}", self.0),
        }
    }
}
