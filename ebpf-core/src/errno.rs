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
    EINTR = 4, "interrupted by a signal";
    ENXIO = 6, "no such device";
    ENODEV = 19, "no such network device";
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
    ENOLINK = 67, "link detached";
    EPROTO = 71, "protocol error";
    EOVERFLOW = 75, "value too large";
    EDEADLK = 35, "a value's lock was held too long";
    ENOTTY = 25, "unknown request";
    ENOSYS = 38, "not implemented";
    ELOOP = 40, "too many levels";
    EOPNOTSUPP = 95, "not supported";
    EALREADY = 114, "already done";
    ENOTSUPP = 524, "operation not supported";
}

impl Errno {
    /// The same condition in FreeBSD's numbering (sys/errno.h), for a
    /// kernel port that returns errnos to FreeBSD userspace.
    pub const fn to_freebsd(self) -> i32 {
        match self.0 {
            11 => 35,          // EAGAIN
            35 => 11,          // EDEADLK
            38 => 78,          // ENOSYS
            40 => 62,          // ELOOP
            67 => 91,          // ENOLINK
            71 => 92,          // EPROTO
            75 => 84,          // EOVERFLOW
            95 | 524 => 45,    // EOPNOTSUPP
            114 => 37,         // EALREADY
            n if n <= 34 => n, // EPERM..ERANGE share their numbers
            _ => 22,           // EINVAL
        }
    }

    /// The Linux errno for a FreeBSD one (inverse of
    /// [`to_freebsd`](Errno::to_freebsd) for the errnos the core uses).
    pub const fn from_freebsd(n: i32) -> Errno {
        Errno(match n {
            35 => 11,
            11 => 35,
            78 => 38,
            62 => 40,
            84 => 75,
            45 => 95,
            37 => 114,
            91 => 67,
            92 => 71,
            n => n,
        })
    }

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

#[cfg(test)]
mod tests {
    use super::Errno;

    #[test]
    fn freebsd_numbers_follow_sys_errno_h() {
        // Values from FreeBSD's sys/errno.h.
        for (e, bsd) in [
            (Errno::EPERM, 1),
            (Errno::ENOENT, 2),
            (Errno::E2BIG, 7),
            (Errno::EBADF, 9),
            (Errno::ENOMEM, 12),
            (Errno::EFAULT, 14),
            (Errno::EEXIST, 17),
            (Errno::EINVAL, 22),
            (Errno::ENOTTY, 25),
            (Errno::ENOSPC, 28),
            (Errno::ERANGE, 34),
            (Errno::EAGAIN, 35),
            (Errno::EPROTO, 92),
            (Errno::EDEADLK, 11),
            (Errno::EINTR, 4),
            (Errno::ELOOP, 62),
            (Errno::ENOSYS, 78),
            (Errno::EOPNOTSUPP, 45),
            (Errno::ENOTSUPP, 45),
            (Errno::EALREADY, 37),
        ] {
            assert_eq!(e.to_freebsd(), bsd, "{e}");
            if e != Errno::ENOTSUPP {
                assert_eq!(Errno::from_freebsd(bsd), e, "{e}");
            }
        }
    }
}
