//! Step 2 of the load pipeline: the maps a program references, found once.
//!
//! A request names maps two ways: by position in its `map_handles` array
//! (`lddw` with `map_idx`/`map_idx_value`), or by handle in the
//! instruction itself (`map_fd`/`map_value`, as `bpf(2)` callers do with
//! fds). [`ProgramMaps`] collects both into one list the program keeps,
//! and resolves every `lddw` against it: a map's address, or the address of
//! a byte of its value.

use alloc::vec::Vec;

use crate::errno::Errno;
use crate::error::LoadError;
use crate::insn::Insn;
use crate::maps::Map;
use crate::opcode::{
    BPF_DW, BPF_IMM, BPF_LD, BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_IDX, BPF_PSEUDO_MAP_IDX_VALUE,
    BPF_PSEUDO_MAP_VALUE,
};
use crate::program::PseudoResolver;
use crate::shared::Shared;

/// The maps a program references, and which list index each handle has.
pub struct ProgramMaps {
    maps: Vec<Shared<Map>>,
    by_handle: Vec<(i32, usize)>,
}

impl ProgramMaps {
    /// Just `maps`, referenced by index (`map_idx`); no handles.
    pub fn from_list(maps: Vec<Shared<Map>>) -> Self {
        ProgramMaps {
            maps,
            by_handle: Vec::new(),
        }
    }

    /// Collects the maps of a request: first `handles` (for `map_idx`),
    /// then every handle a `map_fd`/`map_value` `lddw` names, each looked
    /// up with `map_of` once. A bad handle in `handles` fails the request;
    /// one in an instruction is left for the loader to report, naming the
    /// instruction.
    pub fn collect(
        insns: &[Insn],
        handles: &[u32],
        map_of: &dyn Fn(u32) -> Result<Shared<Map>, Errno>,
    ) -> Result<Self, Errno> {
        let mut this = ProgramMaps::from_list(Vec::new());
        for &h in handles {
            this.add(map_of(h)?)?;
        }
        let lddw = BPF_LD | BPF_IMM | BPF_DW;
        for insn in insns {
            let by_fd = insn.src == BPF_PSEUDO_MAP_FD || insn.src == BPF_PSEUDO_MAP_VALUE;
            if insn.opcode != lddw || !by_fd || this.index_of_handle(insn.imm).is_some() {
                continue;
            }
            if let Ok(m) = map_of(insn.imm as u32) {
                let i = this.add(m)?;
                this.by_handle.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
                this.by_handle.push((insn.imm, i));
            }
        }
        Ok(this)
    }

    fn add(&mut self, m: Shared<Map>) -> Result<usize, Errno> {
        if let Some(i) = self.maps.iter().position(|x| Shared::ptr_eq(x, &m)) {
            return Ok(i);
        }
        self.maps.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
        self.maps.push(m);
        Ok(self.maps.len() - 1)
    }

    pub(crate) fn index_of_handle(&self, handle: i32) -> Option<usize> {
        self.by_handle
            .iter()
            .find(|&&(h, _)| h == handle)
            .map(|&(_, i)| i)
    }

    /// The index in [`maps`](Self::maps) of the map an `lddw` with this
    /// pseudo source and immediate names.
    pub fn index_of_lddw(&self, src: u8, imm: i32) -> Option<usize> {
        let i = match src {
            BPF_PSEUDO_MAP_IDX | BPF_PSEUDO_MAP_IDX_VALUE => usize::try_from(imm).ok()?,
            BPF_PSEUDO_MAP_FD | BPF_PSEUDO_MAP_VALUE => self.index_of_handle(imm)?,
            _ => return None,
        };
        (i < self.maps.len()).then_some(i)
    }

    /// The maps, in list order.
    pub fn maps(&self) -> &[Shared<Map>] {
        &self.maps
    }

    /// The list, for the program to keep.
    pub(crate) fn into_maps(self) -> Vec<Shared<Map>> {
        self.maps
    }
}

impl PseudoResolver for ProgramMaps {
    fn resolve(&self, pc: usize, src: u8, imm: i32, next_imm: i32) -> Result<u64, LoadError> {
        let bad = LoadError::BadMapReference {
            pc,
            map: imm,
            offset: next_imm,
        };
        let index = match src {
            BPF_PSEUDO_MAP_IDX | BPF_PSEUDO_MAP_IDX_VALUE => usize::try_from(imm).ok(),
            BPF_PSEUDO_MAP_FD | BPF_PSEUDO_MAP_VALUE => self.index_of_handle(imm),
            _ => {
                return Err(LoadError::Unsupported {
                    pc,
                    what: "lddw BTF variable reference",
                })
            }
        };
        let map = index.and_then(|i| self.maps.get(i)).ok_or(bad)?;
        match src {
            BPF_PSEUDO_MAP_IDX | BPF_PSEUDO_MAP_FD => {
                if next_imm != 0 {
                    return Err(bad);
                }
                Ok(Shared::as_ptr(map) as u64)
            }
            _ => {
                let offset = u32::try_from(next_imm).map_err(|_| bad)?;
                map.value_addr(offset).map_err(|_| bad)
            }
        }
    }
}
