//! `__kconfig` externs, as libbpf resolves them: the kernel's version
//! (`LINUX_KERNEL_VERSION`) and its `CONFIG_*` options, laid out in one
//! read-only `.kconfig` map the program reads them from. Values come from
//! the machine the object is loaded on: `uname` for the version (0 on other
//! systems than Linux), `/boot/config-RELEASE` for the options. An option
//! not found is 0 when its extern is weak (`__weak`); otherwise programs
//! that read it do not load.

use super::btf::{Btf, Type};

/// One extern: where it sits in the map, and whether it has a value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extern {
    /// Its name.
    pub name: String,
    /// Byte offset in the map's value.
    pub offset: u32,
    /// Found on this machine (or weak, and then 0).
    pub resolved: bool,
}

/// The `.kconfig` externs of an object and the map value holding them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Kconfig {
    /// Every extern.
    pub externs: Vec<Extern>,
    /// The map's value.
    pub value: Vec<u8>,
}

impl Kconfig {
    /// The extern named `name`.
    pub fn get(&self, name: &str) -> Option<&Extern> {
        self.externs.iter().find(|e| e.name == name)
    }
}

/// The running Linux kernel's release (`uname -r`), if on Linux.
fn release() -> Option<String> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: `uname` fills the zeroed struct it is given.
        let mut u: libc::utsname = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        if unsafe { libc::uname(&mut u) } == 0 {
            let bytes: Vec<u8> = u
                .release
                .iter()
                .take_while(|&&c| c != 0)
                .map(|&c| c as u8)
                .collect();
            return Some(String::from_utf8_lossy(&bytes).into_owned());
        }
    }
    None
}

/// `KERNEL_VERSION(a, b, c)` of the running Linux kernel, 0 elsewhere.
fn kernel_version() -> u32 {
    let Some(release) = release() else {
        return 0;
    };
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<u32>().unwrap_or(0));
    let mut next = || parts.next().unwrap_or(0);
    let (a, b, c) = (next(), next(), next());
    (a << 16) + (b << 8) + c.min(255)
}

/// The running kernel's configuration, `CONFIG_X=value` lines.
fn kernel_config() -> String {
    release()
        .and_then(|r| std::fs::read_to_string(format!("/boot/config-{r}")).ok())
        .unwrap_or_default()
}

/// The bytes of option `name`'s value for an extern of `size` bytes, if
/// the configuration sets it: `y` is 1, `m` is 2 (libbpf's tristate),
/// numbers as numbers, strings as their bytes.
fn option(config: &str, name: &str, size: usize) -> Option<Vec<u8>> {
    let value = config
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))?;
    let mut out = vec![0u8; size];
    match value {
        "y" => out[0] = 1,
        "m" => out[0] = 2,
        "n" => {}
        v if v.starts_with('"') => {
            let s = v.trim_matches('"').as_bytes();
            let n = s.len().min(size.saturating_sub(1));
            out[..n].copy_from_slice(&s[..n]);
        }
        v => {
            let n = if let Some(hex) = v.strip_prefix("0x") {
                i64::from_str_radix(hex, 16).ok()?
            } else {
                v.parse::<i64>().ok()?
            };
            let bytes = n.to_le_bytes();
            let k = size.min(8);
            out[..k].copy_from_slice(&bytes[..k]);
        }
    }
    Some(out)
}

/// The externs of the `.kconfig` data section of `btf`; `is_weak` says
/// which are weak.
pub fn resolve(btf: &Btf, is_weak: &dyn Fn(&str) -> bool) -> Result<Option<Kconfig>, String> {
    let Some(vars) = btf.datasec(".kconfig") else {
        return Ok(None);
    };
    let config = kernel_config();
    let mut k = Kconfig::default();
    for &(var, _, _) in vars {
        let Type::Var { name, target } = btf.get(var)? else {
            continue;
        };
        let size = btf.size_of(*target)? as usize;
        if size == 0 || size > 4096 {
            return Err(format!(".kconfig: `{name}` has an unusable size {size}"));
        }
        // Aligned as its size up to 8 bytes, as libbpf lays them out.
        let align = size.next_power_of_two().min(8);
        let offset = k.value.len().next_multiple_of(align);
        k.value.resize(offset + size, 0);
        let found = if name == "LINUX_KERNEL_VERSION" {
            Some(kernel_version().to_le_bytes()[..size.min(4)].to_vec())
        } else if name.starts_with("CONFIG_") {
            option(&config, name, size)
        } else {
            None
        };
        if let Some(bytes) = &found {
            k.value[offset..offset + bytes.len()].copy_from_slice(bytes);
        }
        k.externs.push(Extern {
            name: name.clone(),
            offset: offset as u32,
            resolved: found.is_some() || is_weak(name),
        });
    }
    if k.value.is_empty() {
        k.value.push(0);
    }
    Ok(Some(k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_read_as_libbpf_reads_them() {
        let config =
            "CONFIG_HZ=250\nCONFIG_BPF=y\nCONFIG_NET=m\nCONFIG_NAME=\"abc\"\nCONFIG_MASK=0x1f\n";
        assert_eq!(
            option(config, "CONFIG_HZ", 4),
            Some(250u32.to_le_bytes().to_vec())
        );
        assert_eq!(option(config, "CONFIG_BPF", 1), Some(vec![1]));
        assert_eq!(option(config, "CONFIG_NET", 4), Some(vec![2, 0, 0, 0]));
        assert_eq!(
            option(config, "CONFIG_NAME", 8),
            Some(b"abc\0\0\0\0\0".to_vec())
        );
        assert_eq!(
            option(config, "CONFIG_MASK", 8),
            Some(0x1fu64.to_le_bytes().to_vec())
        );
        assert_eq!(
            option(config, "CONFIG_H", 4),
            None,
            "a prefix is not a name"
        );
    }
}
