#!/usr/bin/env python3
"""Run the real bytes of the FreeBSD ebpf.ko under a CPU emulator (unicorn).

The kld is loaded as FreeBSD's link_elf_obj.c would: its allocated
sections placed and relocated (only the relocation types that loader
accepts), its imports bound to stand-ins for the FreeBSD KPI. Then the
kernel's side of a session is played: the sysinit (module_register_init),
MOD_LOAD (make_dev_s, with the kernel's write into the cdevsw), d_open,
ioctls that create a map, update and look it up, load a program and
test-run it, a bad command, a bad user pointer, a too-large size, the last
close (the cdevpriv destructor), MOD_QUIESCE and MOD_UNLOAD. Checked: the
answers, no leaked malloc(9) memory, locks and critical sections balanced,
no sleeping (sx, M_WAITOK, pause, copyin) in a critical section or under a
spin mutex, writes only to writable sections, and the deepest stack use.

The image is placed below 2 GiB (unicorn has no kernel page tables);
kldcheck covers the real placement (R_X86_64_32S fits either way).

usage: kldemu.py ebpf.ko [--mutate gotpcrel|rocdevsw|leak|critical]   (a broken twin must fail)
"""
import struct
import sys

from elftools.elf.elffile import ELFFile
from elftools.elf.relocation import RelocationSection
from unicorn import (UC_ARCH_X86, UC_HOOK_CODE, UC_HOOK_MEM_INVALID, UC_MODE_64,
                     UC_PROT_ALL, UC_PROT_EXEC, UC_PROT_READ, UC_PROT_WRITE, Uc, UcError)
from unicorn.x86_const import (UC_X86_REG_GS_BASE, UC_X86_REG_R8, UC_X86_REG_R9, UC_X86_REG_RAX,
                               UC_X86_REG_RCX, UC_X86_REG_RDI, UC_X86_REG_RDX, UC_X86_REG_RSI,
                               UC_X86_REG_RSP)

PAGE = 4096
TEXT_BASE, RODATA_BASE, DATA_BASE = 0x1000_0000, 0x1800_0000, 0x2000_0000
STUBS, KDATA = 0x2800_0000, 0x2900_0000
HEAP, HEAP_SIZE = 0x3000_0000, 64 << 20
EXEC_HEAP, EXEC_HEAP_SIZE = 0x3800_0000, 4 << 20   # malloc(9) with M_EXEC: the only heap code may run from
USER, USER_SIZE = 0x6000_0000, 1 << 20
PCPU = 0x5000_0000
THREAD = 0x5100_0000   # curthread (pc_curthread at %gs:0)
TD_VNET = THREAD + 0x680
VNET0, NET_EPOCH, IFNETS = 0x5300_0000, 0x4E45_7000, 0x5200_0000
PFIL_IN, PFIL_OUT, PFIL_HOOKPTR, PFIL_TYPE_ETHERNET = 0x10000, 0x20000, 0x200000, 2
PFIL_PASS, PFIL_DROPPED, PFIL_CONSUMED, PFIL_REALLOCED = 0, 1, 2, 3
M_EXT, M_PKTHDR = 0x1, 0x2
STACK_TOP, STACK_SIZE = 0x7000_0000, 64 << 10
RETURN = 0x2800_fff0   # the return address of every call from the test

ACCEPTED = {0: "NONE", 1: "64", 2: "PC32", 4: "PLT32", 6: "GLOB_DAT", 7: "JMP_SLOT",
            8: "RELATIVE", 11: "32S", 37: "IRELATIVE"}
EFAULT, ENOTTY, E2BIG, EBUSY = 14, 25, 7, 16
M_NOWAIT, M_WAITOK, M_ZERO, M_EXEC = 1, 2, 0x100, 0x4000
D_INIT = 0x80000000


class Fail(Exception):
    pass


def page_up(n):
    return (n + PAGE - 1) & ~(PAGE - 1)


class Kernel:
    """The KPI stand-ins and the bookkeeping they check."""

    def __init__(self, emu):
        self.emu = emu
        self.uc = emu.uc
        self.blocks = {}
        self.heap_next = HEAP
        self.exec_next = EXEC_HEAP
        self.critical = 0
        self.spins = 0
        self.yields = 0
        self.held = {}
        self.live_locks = 0
        self.violations = []
        self.log = []
        self.cdevpriv = None
        self.registered = []
        self.devices = []
        self.destroyed = 0
        self.deny_priv = False
        self.epoch = 0
        self.epoch_waits = 0
        self.ifnets = {}      # address -> [name, index, flags, refs]
        self.hooks = []       # dicts
        self.mbufs = set()
        self.transmitted = []
        self.kenv = {}        # kernel environment: name -> int

    # helpers
    def arg(self, i):
        regs = [UC_X86_REG_RDI, UC_X86_REG_RSI, UC_X86_REG_RDX, UC_X86_REG_RCX, UC_X86_REG_R8, UC_X86_REG_R9]
        return self.uc.reg_read(regs[i])

    def atomic(self):
        return self.critical > 0 or self.spins > 0

    def violate(self, what):
        self.violations.append(what)

    def cstr(self, addr, limit=256):
        data = bytes(self.uc.mem_read(addr, limit))
        return data.split(b"\0")[0].decode("latin-1")

    def user_ok(self, addr, length):
        return length == 0 or (USER <= addr and addr + length <= USER + USER_SIZE)

    def kmalloc(self, size, exec_=False):
        if exec_:
            addr = (self.exec_next + 15) & ~15
            if addr + size > EXEC_HEAP + EXEC_HEAP_SIZE:
                return 0
            self.exec_next = addr + max(size, 1)
        else:
            addr = (self.heap_next + 15) & ~15
            if addr + size > HEAP + HEAP_SIZE:
                return 0
            self.heap_next = addr + max(size, 1)
        self.blocks[addr] = size
        return addr

    # the KPI
    def malloc(self):
        size, _ty, flags = self.arg(0), self.arg(1), self.arg(2)
        if self.atomic():
            self.violate(f"malloc({size}, flags {flags:#x}) in a critical section or under a spin mutex")
        addr = self.kmalloc(size, bool(flags & M_EXEC))
        self.uc.mem_write(addr, (b"\0" if flags & M_ZERO else b"\xa5") * size)
        return addr

    def free(self):
        addr = self.arg(0)
        if addr and self.blocks.pop(addr, None) is None:
            self.violate(f"free({addr:#x}) of a block malloc did not return")
        return 0

    def copyin(self):
        u, k, n = self.arg(0), self.arg(1), self.arg(2)
        if self.atomic():
            self.violate("copyin in a critical section or under a spin mutex")
        if not self.user_ok(u, n):
            return EFAULT
        self.uc.mem_write(k, bytes(self.uc.mem_read(u, n)))
        return 0

    def copyout(self):
        k, u, n = self.arg(0), self.arg(1), self.arg(2)
        if self.atomic():
            self.violate("copyout in a critical section or under a spin mutex")
        if not self.user_ok(u, n):
            return EFAULT
        self.uc.mem_write(u, bytes(self.uc.mem_read(k, n)))
        return 0

    def printf(self):
        fmt = self.cstr(self.arg(0))
        if fmt.startswith("ebpf: %.*s"):
            text = bytes(self.uc.mem_read(self.arg(2), self.arg(1))).decode("utf-8", "replace")
        else:
            text = fmt
        self.log.append(text)
        return len(text)

    def panic(self):
        text = bytes(self.uc.mem_read(self.arg(2), min(self.arg(1), 512))).decode("utf-8", "replace")
        raise Fail(f"the kld called panic(): {text}")

    def make_dev_args_init_impl(self):
        args, size = self.arg(0), self.arg(1)
        self.uc.mem_write(args, b"\0" * size)
        self.uc.mem_write(args, struct.pack("<Q", size))
        return 0

    def make_dev_s(self):
        args, out = self.arg(0), self.arg(1)
        fmt = self.cstr(self.arg(2))
        name = self.cstr(self.arg(3)) if fmt == "%s" else fmt
        (size, _flags, devsw, _cr, uid, gid, mode, _unit, _d1, _d2) = self._mda(args)
        if size != 64:
            return 22
        if struct.unpack("<i", self.uc.mem_read(devsw, 4))[0] != 0x5c48c353:
            self.violate("cdevsw d_version is not D_VERSION_04")
            return 22
        # The kernel initialises the driver's cdevsw in place (prep_cdevsw).
        if not self.emu.writable(devsw + 4):
            raise Fail("make_dev_s: the kernel's write into the cdevsw would fault: it is in read-only memory")
        d_flags = struct.unpack("<I", self.uc.mem_read(devsw + 4, 4))[0]
        self.uc.mem_write(devsw + 4, struct.pack("<I", d_flags | D_INIT))
        self.devices.append((devsw, mode, uid, gid, name))
        self.uc.mem_write(out, struct.pack("<Q", 0xCDE0000))
        return 0

    def _mda(self, args):
        raw = bytes(self.uc.mem_read(args, 64))
        size, flags = struct.unpack_from("<Qi", raw, 0)
        devsw, cr = struct.unpack_from("<QQ", raw, 16)
        uid, gid, mode, unit = struct.unpack_from("<IIii", raw, 32)
        d1, d2 = struct.unpack_from("<QQ", raw, 48)
        return size, flags, devsw, cr, uid, gid, mode, unit, d1, d2

    def destroy_dev(self):
        self.destroyed += 1
        return 0

    def devfs_set_cdevpriv(self):
        if self.cdevpriv is not None:
            return EBUSY
        self.cdevpriv = (self.arg(0), self.arg(1))
        return 0

    def devfs_get_cdevpriv(self):
        if self.cdevpriv is None:
            return 9
        self.uc.mem_write(self.arg(0), struct.pack("<Q", self.cdevpriv[0]))
        return 0

    def priv_check(self):
        if self.arg(1) != 14:
            self.violate(f"priv_check with privilege {self.arg(1)}, want PRIV_DRIVER")
        return 1 if self.deny_priv else 0

    def module_register_init(self):
        self.registered.append(self.arg(0))
        return 0

    def _mtx_init(self):
        if self.arg(3) != 1:
            self.violate("mtx_init without MTX_SPIN")
        self.live_locks += 1
        self.held[self.arg(0)] = 0
        return 0

    def _mtx_destroy(self):
        if self.held.pop(self.arg(0), 0):
            self.violate("mtx_destroy of a held mutex")
        self.live_locks -= 1
        return 0

    def __mtx_lock_spin_flags(self):
        c = self.arg(0)
        if self.held.get(c):
            self.violate("spin mutex taken twice")
        self.held[c] = 1
        self.critical += 1
        self.spins += 1
        return 0

    def __mtx_unlock_spin_flags(self):
        c = self.arg(0)
        if not self.held.get(c):
            self.violate("unlock of a spin mutex not held")
        self.held[c] = 0
        self.critical -= 1
        self.spins -= 1
        return 0

    def sx_init_flags(self):
        self.live_locks += 1
        self.held[self.arg(0)] = 0
        return 0

    def sx_destroy(self):
        if self.held.pop(self.arg(0), 0):
            self.violate("sx_destroy of a held sx")
        self.live_locks -= 1
        return 0

    def _sx_xlock(self):
        if self.atomic():
            self.violate("sx_xlock in a critical section or under a spin mutex")
        if self.held.get(self.arg(0)):
            self.violate("sx taken twice")
        self.held[self.arg(0)] = 1
        return 0

    def _sx_xunlock(self):
        if not self.held.get(self.arg(0)):
            self.violate("unlock of an sx not held")
        self.held[self.arg(0)] = 0
        return 0

    def critical_enter_KBI(self):
        self.critical += 1
        return 0

    def critical_exit_KBI(self):
        if self.critical == 0:
            self.violate("critical_exit without critical_enter")
        self.critical -= 1
        return 0

    def pause_sbt(self):
        if self.atomic():
            self.violate("pause in a critical section or under a spin mutex")
        return 0

    def maybe_yield(self):
        if self.atomic():
            self.violate("maybe_yield in a critical section or under a spin mutex")
        self.yields += 1
        return 0

    def sig_intr(self):
        if self.atomic():
            self.violate("sig_intr in a critical section or under a spin mutex")
        return 0

    def nanouptime(self):
        self.uc.mem_write(self.arg(0), struct.pack("<qq", 100, 5))
        return 0

    getnanouptime = nanouptime

    def nanotime(self):
        self.uc.mem_write(self.arg(0), struct.pack("<qq", 1_767_225_600, 5))
        return 0

    def arc4random(self):
        return 0x12345678

    def getenv_int(self):
        # Takes the kenv lock and may sleep: never in atomic context.
        if self.atomic():
            self.violate("getenv_int in a critical section or under a spin mutex")
        name = self.cstr(self.arg(0))
        if name not in self.kenv:
            return 0
        self.uc.mem_write(self.arg(1), struct.pack("<i", self.kenv[name]))
        return 1

    # string functions the compiler calls
    # network stack (pfil(9), ifnet, mbufs, the network epoch)
    def curvnet(self):
        return struct.unpack("<Q", self.uc.mem_read(TD_VNET, 8))[0]

    def need_vnet(self, what):
        if self.curvnet() != VNET0:
            self.violate(f"{what} without the module's vnet selected (curvnet {self.curvnet():#x})")

    def add_ifnet(self, name, index):
        addr = IFNETS + 0x1000 * (len(self.ifnets) + 1)
        self.ifnets[addr] = [name, index, 0, 1]
        return addr

    def _find_ifnet(self, match):
        for addr, i in self.ifnets.items():
            if match(i):
                i[3] += 1
                return addr
        return 0

    def _epoch_enter_preempt(self):
        if self.arg(0) != NET_EPOCH:
            self.violate("epoch_enter of another epoch")
        self.epoch += 1
        return 0

    def _epoch_exit_preempt(self):
        self.epoch -= 1
        return 0

    def epoch_wait_preempt(self):
        if self.atomic() or self.epoch:
            self.violate("epoch_wait inside the epoch or an atomic context")
        self.epoch_waits += 1
        return 0

    def ifunit_ref(self):
        self.need_vnet("ifunit_ref")
        name = self.cstr(self.arg(0))
        return self._find_ifnet(lambda i: i[0] == name)

    def ifnet_byindex_ref(self):
        self.need_vnet("ifnet_byindex_ref")
        if not self.epoch:
            self.violate("ifnet_byindex_ref outside the network epoch")
        index = self.arg(0) & 0xFFFFFFFF
        return self._find_ifnet(lambda i: i[1] == index)

    def if_rele(self):
        i = self.ifnets[self.arg(0)]
        i[3] -= 1
        if i[3] < 1:
            self.violate(f"if_rele of {i[0]} below the kernel's own reference")
        return 0

    def if_getindex(self):
        return self.ifnets[self.arg(0)][1]

    def if_getflags(self):
        return self.ifnets[self.arg(0)][2]

    def if_transmit(self):
        ifp, m = self.arg(0), self.arg(1)
        self.transmitted.append((ifp, self.mbuf_bytes(m)))
        self.free_chain(m)
        return 0

    def pfil_add_hook(self):
        self.need_vnet("pfil_add_hook")
        if self.atomic():
            self.violate("pfil_add_hook (M_WAITOK) in an atomic context")
        a = bytes(self.uc.mem_read(self.arg(0), 56))
        version, flags, typ, chk, mem, ruleset, mod, rul = struct.unpack("<iiixxxxQQQQQ", a)
        if (version, typ, mem) != (2, PFIL_TYPE_ETHERNET, 0):
            self.violate(f"pfil_add_hook: version {version}, type {typ}")
        handle = 0x7100_0000 + 0x100 * (len(self.hooks) + 1)
        self.hooks.append({"handle": handle, "func": chk, "ruleset": ruleset, "flags": flags,
                           "module": self.cstr(mod), "rule": self.cstr(rul), "linked": False, "removed": False})
        return handle

    def pfil_link(self):
        self.need_vnet("pfil_link")
        version, flags, head, hook = struct.unpack("<iiQQ", bytes(self.uc.mem_read(self.arg(0), 24)))
        if version != 2 or self.cstr(head) != "ethernet" or not flags & PFIL_HOOKPTR:
            self.violate("pfil_link: not the ethernet head by hook pointer")
        for h in self.hooks:
            if h["handle"] == hook and h["flags"] & flags == h["flags"]:
                h["linked"] = True
                return 0
        return 22

    def pfil_remove_hook(self):
        self.need_vnet("pfil_remove_hook")
        for h in self.hooks:
            if h["handle"] == self.arg(0) and not h["removed"]:
                h["removed"], h["linked"] = True, False
                return 0
        self.violate("pfil_remove_hook of an unknown hook")
        return 0

    def make_mbuf(self, data, at=64):
        m, cluster = self.kmalloc(256), self.kmalloc(2048)
        self.uc.mem_write(m, b"\0" * 256)
        self.uc.mem_write(cluster + at, data)
        self.uc.mem_write(m + 16, struct.pack("<QiI", cluster + at, len(data), 1 | ((M_PKTHDR | M_EXT) << 8)))
        self.uc.mem_write(m + 48, struct.pack("<i", len(data)))
        # m_ext: embedded count 1, size, EXT_CLUSTER with EXT_FLAG_EMBREF, ext_buf
        self.uc.mem_write(m + 88, struct.pack("<QIIQ", 1, 2048, 1 | (1 << 8), cluster))
        self.mbufs.add(m)
        return m

    def mbuf_bytes(self, m):
        out = b""
        while m:
            data, length = struct.unpack("<Qi", self.uc.mem_read(m + 16, 12))
            out += bytes(self.uc.mem_read(data, length))
            m = struct.unpack("<Q", self.uc.mem_read(m, 8))[0]
        return out

    def free_chain(self, m):
        while m:
            if m not in self.mbufs:
                self.violate(f"m_freem of {m:#x}, not a live mbuf")
                return
            self.mbufs.discard(m)
            ext_buf = struct.unpack("<Q", self.uc.mem_read(m + 104, 8))[0]
            nxt = struct.unpack("<Q", self.uc.mem_read(m, 8))[0]
            self.blocks.pop(ext_buf, None)
            self.blocks.pop(m, None)
            m = nxt

    def m_freem(self):
        self.free_chain(self.arg(0))
        return 0

    def m_defrag(self):
        m = self.arg(0)
        copy = self.make_mbuf(self.mbuf_bytes(m), at=0)
        self.free_chain(m)
        return copy

    def memcpy(self):
        d, s, n = self.arg(0), self.arg(1), self.arg(2)
        if n:
            self.uc.mem_write(d, bytes(self.uc.mem_read(s, n)))
        return d

    memmove = memcpy

    def memset(self):
        d, c, n = self.arg(0), self.arg(1) & 0xff, self.arg(2)
        if n:
            self.uc.mem_write(d, bytes([c]) * n)
        return d

    def memcmp(self):
        a = bytes(self.uc.mem_read(self.arg(0), self.arg(2)))
        b = bytes(self.uc.mem_read(self.arg(1), self.arg(2)))
        return 0 if a == b else ((a > b) - (a < b)) & 0xFFFFFFFFFFFFFFFF

    bcmp = memcmp

    def strlen(self):
        return len(self.cstr(self.arg(0), 4096))


def stand_in(name):
    """The Kernel method for a KPI (Python mangles names like __mtx_*)."""
    return "_Kernel" + name if name.startswith("__") else name


DATA_IMPORTS = {"M_DEVBUF": b"\0" * 112, "net_epoch_preempt": struct.pack("<Q", NET_EPOCH), "mp_maxid": struct.pack("<I", 1), "ticks": struct.pack("<i", 77)}


class Emulator:
    def __init__(self, elf_bytes):
        import io
        self.elf = ELFFile(io.BytesIO(elf_bytes))
        self.uc = Uc(UC_ARCH_X86, UC_MODE_64)
        self.kernel = Kernel(self)
        self.section_addr = {}
        self.regions = []   # (start, end, writable)
        self.stub_of = {}
        self.dropped = set()
        self.symbols = {}
        self.load()

    def writable(self, addr):
        return any(s <= addr < e and w for s, e, w in self.regions)

    def load(self):
        e = self.elf
        if e["e_type"] != "ET_REL" or e["e_machine"] != "EM_X86_64":
            raise Fail("not an amd64 ET_REL object")
        groups = {"text": (TEXT_BASE, []), "rodata": (RODATA_BASE, []), "data": (DATA_BASE, [])}
        for i, s in enumerate(e.iter_sections()):
            flags = s["sh_flags"]
            if not flags & 0x2 or s["sh_size"] == 0 or s["sh_type"] not in ("SHT_PROGBITS", "SHT_NOBITS"):
                continue
            kind = "text" if flags & 0x4 else ("data" if flags & 0x1 else "rodata")
            groups[kind][1].append((i, s))
        perms = {"text": UC_PROT_READ | UC_PROT_EXEC, "rodata": UC_PROT_READ, "data": UC_PROT_READ | UC_PROT_WRITE}
        for kind, (base, secs) in groups.items():
            at = base
            for i, s in secs:
                align = max(s["sh_addralign"], 1)
                at = (at + align - 1) // align * align
                self.section_addr[i] = at
                at += s["sh_size"]
            size = page_up(max(at - base, 1))
            self.uc.mem_map(base, size, UC_PROT_ALL)
            for i, s in secs:
                if s["sh_type"] == "SHT_PROGBITS":
                    self.uc.mem_write(self.section_addr[i], s.data())
            self.regions.append((base, base + size, kind == "data"))
            self._perm = getattr(self, "_perm", [])
            self._perm.append((base, size, perms[kind]))
        # Imports: code stubs (ret) and data.
        self.uc.mem_map(STUBS, 0x10000, UC_PROT_READ | UC_PROT_EXEC)
        self.uc.mem_write(STUBS, b"\xc3" * 0x10000)
        self.uc.mem_map(KDATA, 0x10000, UC_PROT_READ | UC_PROT_WRITE)
        symtab = e.get_section_by_name(".symtab")
        next_stub, next_data = STUBS, KDATA
        self.sym_addr = []
        for sym in symtab.iter_symbols():
            shndx = sym["st_shndx"]
            if shndx == "SHN_UNDEF":
                name = sym.name
                if not name:
                    self.sym_addr.append(0)
                    continue
                if name in DATA_IMPORTS:
                    self.uc.mem_write(next_data, DATA_IMPORTS[name])
                    self.sym_addr.append(next_data)
                    next_data += 128
                elif hasattr(self.kernel, stand_in(name)):
                    self.stub_of[next_stub] = name
                    self.sym_addr.append(next_stub)
                    next_stub += 16
                else:
                    raise Fail(f"import `{name}` has no stand-in (not a KPI this kld may use)")
            elif isinstance(shndx, int):
                base = self.section_addr.get(shndx)
                addr = (base + sym["st_value"]) if base is not None else 0
                self.sym_addr.append(addr)
                if sym.name:
                    self.symbols[sym.name] = addr
            else:
                self.sym_addr.append(0)
        self.relocate()
        for base, size, perm in self._perm:
            self.uc.mem_protect(base, size, perm)
        self.uc.mem_map(HEAP, HEAP_SIZE, UC_PROT_READ | UC_PROT_WRITE)
        self.uc.mem_map(EXEC_HEAP, EXEC_HEAP_SIZE, UC_PROT_ALL)
        self.uc.mem_map(USER, USER_SIZE, UC_PROT_READ | UC_PROT_WRITE)
        self.uc.mem_map(PCPU, PAGE, UC_PROT_READ | UC_PROT_WRITE)
        self.uc.mem_write(PCPU + 0x3C, struct.pack("<I", 1))
        self.uc.mem_write(PCPU, struct.pack("<Q", THREAD))
        self.uc.mem_map(THREAD, PAGE, UC_PROT_READ | UC_PROT_WRITE)
        self.uc.mem_map(STACK_TOP - STACK_SIZE, STACK_SIZE, UC_PROT_READ | UC_PROT_WRITE)
        self.uc.reg_write(UC_X86_REG_GS_BASE, PCPU)
        self.uc.hook_add(UC_HOOK_CODE, self.on_stub, begin=STUBS, end=STUBS + 0x10000)
        self.uc.hook_add(UC_HOOK_MEM_INVALID, self.on_fault)
        self.fault = None

    def relocate(self):
        for s in self.elf.iter_sections():
            if not isinstance(s, RelocationSection):
                continue
            target = s["sh_info"]
            base = self.section_addr.get(target)
            if base is None:
                continue
            for rel in s.iter_relocations():
                t = rel["r_info_type"]
                if t not in ACCEPTED:
                    raise Fail(f"unexpected relocation type {t} in {s.name} (the kld loader refuses the file)")
                p = base + rel["r_offset"]
                sym = self.sym_addr[rel["r_info_sym"]]
                a = rel["r_addend"]
                if t == 1:
                    self.uc.mem_write(p, struct.pack("<Q", (sym + a) & 0xFFFFFFFFFFFFFFFF))
                elif t in (2, 4):
                    self.uc.mem_write(p, struct.pack("<i", sym + a - p))
                elif t == 11:
                    v = sym + a
                    if not -(1 << 31) <= v < (1 << 31):
                        raise Fail("R_X86_64_32S overflow")
                    self.uc.mem_write(p, struct.pack("<i", v))

    def on_stub(self, uc, addr, size, _data):
        name = self.stub_of.get(addr)
        if name is None:
            return
        if name in self.dropped:
            # A twin whose calls of this KPI were patched out.
            uc.reg_write(UC_X86_REG_RAX, 0)
            return
        try:
            ret = getattr(self.kernel, stand_in(name))()
        except Fail as f:
            self.fault = str(f)
            uc.emu_stop()
            return
        uc.reg_write(UC_X86_REG_RAX, ret & 0xFFFFFFFFFFFFFFFF)

    def on_fault(self, uc, access, addr, size, value, _data):
        self.fault = f"memory fault: access {access} at {addr:#x} (size {size})"
        return False

    def call(self, addr, *args):
        regs = [UC_X86_REG_RDI, UC_X86_REG_RSI, UC_X86_REG_RDX, UC_X86_REG_RCX, UC_X86_REG_R8, UC_X86_REG_R9]
        for r, v in zip(regs, args):
            self.uc.reg_write(r, v & 0xFFFFFFFFFFFFFFFF)
        self.uc.mem_write(STACK_TOP - STACK_SIZE, b"\x5a" * STACK_SIZE)
        rsp = STACK_TOP - 64
        self.uc.mem_write(rsp, struct.pack("<Q", RETURN))
        self.uc.reg_write(UC_X86_REG_RSP, rsp)
        self.fault = None
        try:
            self.uc.emu_start(addr, RETURN)
        except UcError as err:
            raise Fail(f"emulation stopped: {err} ({self.fault or 'no detail'}) in call to {addr:#x}")
        if self.fault:
            raise Fail(self.fault)
        stack = bytes(self.uc.mem_read(STACK_TOP - STACK_SIZE, STACK_SIZE))
        untouched = len(stack) - len(stack.lstrip(b"\x5a"))
        self.max_stack = max(getattr(self, "max_stack", 0), STACK_SIZE - untouched - 64)
        return self.uc.reg_read(UC_X86_REG_RAX) & 0xFFFFFFFF

    def read_ptr(self, addr):
        return struct.unpack("<Q", self.uc.mem_read(addr, 8))[0]


def section_base(emu, name):
    for i, s in enumerate(emu.elf.iter_sections()):
        if s.name == name:
            return emu.section_addr[i]
    raise Fail(f"no {name}")


class User:
    """User memory the test's requests live in."""

    def __init__(self, uc):
        self.uc = uc
        self.next = USER

    def put(self, data):
        addr = (self.next + 15) & ~15
        self.uc.mem_write(addr, data)
        self.next = addr + len(data)
        return addr

    def read(self, addr, n):
        return bytes(self.uc.mem_read(addr, n))


def ioc(nr):
    return 0xC0000000 | (16 << 16) | (0x45 << 8) | nr


def session(emu):
    k, uc = emu.kernel, emu.uc
    checks = []

    def expect(what, got, want):
        checks.append(what)
        if got != want:
            raise Fail(f"{what}: got {got!r}, want {want!r}")

    # sysinit -> module_register_init(&moduledata)
    sysinit = emu.read_ptr(section_base(emu, "set_sysinit_set"))
    func, udata = emu.read_ptr(sysinit + 16), emu.read_ptr(sysinit + 24)
    emu.call(func, udata)
    expect("sysinit registers the moduledata", k.registered, [udata])
    name = k.cstr(emu.read_ptr(udata))
    expect("module name", name, "ebpf")
    evhand = emu.read_ptr(udata + 8)

    # kern_kldload runs MOD_LOAD inside CURVNET_SET; threads in ioctl have
    # no vnet selected.
    uc.mem_write(TD_VNET, struct.pack("<Q", VNET0))
    expect("MOD_LOAD", emu.call(evhand, 0x1234, 0, 0), 0)
    uc.mem_write(TD_VNET, struct.pack("<Q", 0))
    devsw, mode, uid, gid, devname = k.devices[0]
    expect("make_dev_s: /dev/ebpf root:wheel 0600", (devname, uid, gid, mode), ("ebpf", 0, 0, 0o600))
    d_open, d_close, d_ioctl = emu.read_ptr(devsw + 16), emu.read_ptr(devsw + 32), emu.read_ptr(devsw + 56)

    k.deny_priv = True
    expect("d_open without privilege: EPERM", emu.call(d_open, 0xCDE0000, 3, 0x2000, 0x7777), 1)
    k.deny_priv = False
    expect("d_open", emu.call(d_open, 0xCDE0000, 3, 0x2000, 0x7777), 0)
    user = User(uc)

    def ioctl(nr, req_bytes, size=None):
        req = user.put(req_bytes)
        data = k.kmalloc(16)   # sys_ioctl's kernel copy of the argument
        uc.mem_write(data, struct.pack("<QII", req, len(req_bytes) if size is None else size, 0))
        r = emu.call(d_ioctl, 0xCDE0000, ioc(nr), data, 3, 0x7777)
        k.blocks.pop(data)
        return r, req

    r, req = ioctl(0, b"\0" * 48)
    abi, cmds, cpus = struct.unpack("<III", user.read(req, 12))
    expect("VERSION", (r, cpus), (0, 2))
    expect("VERSION names the platform", b"freebsd" in user.read(req + 16, 32), True)

    r, req = ioctl(1, struct.pack("<IIIIIIII16sII", 1, 4, 8, 16, 0, 0, 0, 0, b"emu", 0, 0))
    expect("MAP_CREATE", r, 0)
    handle = struct.unpack("<I", user.read(req + 48, 4))[0]
    key, value = user.put(struct.pack("<I", 7)), user.put(struct.pack("<Q", 42))
    r, _ = ioctl(3, struct.pack("<IIQQQ", handle, 0, key, value, 0))
    expect("MAP_UPDATE_ELEM", r, 0)
    out = user.put(b"\0" * 8)
    r, _ = ioctl(2, struct.pack("<IIQQQ", handle, 0, key, out, 0))
    expect("MAP_LOOKUP_ELEM", (r, struct.unpack("<Q", user.read(out, 8))[0]), (0, 42))
    missing = user.put(struct.pack("<I", 9))
    r, _ = ioctl(2, struct.pack("<IIQQQ", handle, 0, missing, out, 0))
    expect("MAP_LOOKUP_ELEM of a missing key: ENOENT", r, 2)

    # r1 = map; r2 = &key (on the stack); r0 = lookup; if r0: r0 = *r0 else 0; exit
    prog = bytes.fromhex(
        "b701000007000000"  # mov r1, 7
        "631afcff00000000"  # stxw [r10-4], r1
        "bfa2000000000000"  # mov r2, r10
        "07020000fcffffff"  # add r2, -4
        "1811000000000000" "0000000000000000"  # lddw r1, map_fd (handle below)
        "8500000001000000"  # call map_lookup_elem
        "1500010000000000"  # jeq r0, 0, +1
        "7900000000000000"  # ldxdw r0, [r0]
        "9500000000000000")  # exit
    prog = bytearray(prog)
    prog[32 + 4:32 + 8] = struct.pack("<i", handle)
    insns, lic = user.put(bytes(prog)), user.put(b"GPL\0")
    handles = user.put(struct.pack("<I", handle))
    log = user.put(b"\0" * 512)
    r, req = ioctl(10, struct.pack("<IIQQIIQQII16sIIII", 0, len(prog) // 8, insns, lic, 1, 512, log,
                                  handles, 1, 0, b"emu", 0, 0, 0, 0))
    expect("PROG_LOAD", (r, user.read(log, 512).split(b"\0")[0].decode()), (0, ""))
    prog_handle = struct.unpack("<I", user.read(req + 72, 4))[0]
    pkt, pkt_out = user.put(b"\x11" * 64), user.put(b"\0" * 64)
    r, req = ioctl(11, struct.pack("<IIIIQQIIQQIIII", prog_handle, 0, 64, 64, pkt, pkt_out, 0, 0, 0, 0, 2, 0, 0, 0))
    retval = struct.unpack("<I", user.read(req + 4, 4))[0]
    expect("PROG_TEST_RUN: the program read the map value", (r, retval), (0, 42))
    expect("PROG_TEST_RUN: maybe_yield between its two runs", k.yields >= 1, True)

    # The same instructions as a socket filter: verified, then compiled by
    # the JIT into malloc(9) M_EXEC memory, and run from there.
    r, req = ioctl(10, struct.pack("<IIQQIIQQII16sIIII", 1, len(prog) // 8, insns, lic, 1, 512, log,
                                  handles, 1, 0, b"emu_jit", 0, 0, 0, 0))
    verdict = user.read(log, 512).split(b"\0")[0].decode()
    expect("PROG_LOAD (socket filter): verified", (r, verdict.startswith("processed 10 insns")), (0, True))
    jit_handle = struct.unpack("<I", user.read(req + 72, 4))[0]
    info = user.put(b"\0" * 80)
    r, _ = ioctl(15, struct.pack("<IIQ", jit_handle, 80, info))
    flags, = struct.unpack("<I", user.read(info + 60, 4))
    jited_len, = struct.unpack("<I", user.read(info + 72, 4))
    expect("OBJ_GET_INFO: verified and compiled", (r, flags, jited_len > 0), (0, 3, True))
    expect("the code is in M_EXEC memory",
           any(EXEC_HEAP <= a < EXEC_HEAP + EXEC_HEAP_SIZE for a in k.blocks), True)
    r, req = ioctl(11, struct.pack("<IIIIQQIIQQIIII", jit_handle, 0, 64, 64, pkt, pkt_out, 0, 0, 0, 0, 2, 0, 0, 0))
    retval = struct.unpack("<I", user.read(req + 4, 4))[0]
    expect("PROG_TEST_RUN compiled: the program read the map value", (r, retval), (0, 42))
    r, _ = ioctl(14, struct.pack("<II", jit_handle, 0))
    expect("OBJ_CLOSE of the compiled program", r, 0)

    # kern.ebpf.jit_harden=1 (kenv): the same program compiled with its
    # constants blinded, longer code that computes the same.
    k.kenv["kern.ebpf.jit_harden"] = 1
    r, req = ioctl(10, struct.pack("<IIQQIIQQII16sIIII", 1, len(prog) // 8, insns, lic, 1, 512, log,
                                  handles, 1, 0, b"emu_jit_harden", 0, 0, 0, 0))
    hard_handle = struct.unpack("<I", user.read(req + 72, 4))[0]
    r2, _ = ioctl(15, struct.pack("<IIQ", hard_handle, 80, info))
    hard_len, = struct.unpack("<I", user.read(info + 72, 4))
    expect("PROG_LOAD with kern.ebpf.jit_harden=1: compiled, blinded (longer code)",
           (r, r2, hard_len > jited_len), (0, 0, True))
    r, req = ioctl(11, struct.pack("<IIIIQQIIQQIIII", hard_handle, 0, 64, 64, pkt, pkt_out, 0, 0, 0, 0, 2, 0, 0, 0))
    retval = struct.unpack("<I", user.read(req + 4, 4))[0]
    expect("PROG_TEST_RUN blinded: the program read the map value", (r, retval), (0, 42))
    r, _ = ioctl(14, struct.pack("<II", hard_handle, 0))
    expect("OBJ_CLOSE of the blinded program", r, 0)
    del k.kenv["kern.ebpf.jit_harden"]

    def graph_program(what, value_size, lock_plus_one, fields, objtype, code, runs):
        """An array of one value of `value_size` bytes with special
        `fields` (object type `objtype`), a verified program `code` using
        it run `runs` times (each must return 42), then both closed."""
        r, req = ioctl(1, struct.pack("<IIIIIIII16sIIQIIQ", 2, 4, value_size, 1, 0, 0, lock_plus_one, 0,
                                      b"emu_graph", 0, 0, user.put(fields), len(fields) // 16, 1,
                                      user.put(objtype)))
        expect(f"MAP_CREATE of values holding {what}", r, 0)
        m = struct.unpack("<I", user.read(req + 48, 4))[0]
        r, req = ioctl(10, struct.pack("<IIQQIIQQII16sIIIIIIQ", 6, len(code) // 8, user.put(code), lic, 1, 512,
                                      log, user.put(struct.pack("<I", m)), 1, 0, b"emu_graph", 0, 0, 0, 0,
                                      0, 1, user.put(objtype)))
        expect(f"PROG_LOAD of a program using {what}: verified",
               (r, user.read(log, 512).split(b"\0")[0].decode()[:9]), (0, "processed"))
        h = struct.unpack("<I", user.read(req + 72, 4))[0]
        for run in range(1, runs + 1):
            r, req = ioctl(11, struct.pack("<IIIIQQIIQQIIII", h, 0, 64, 64, pkt, pkt_out, 0, 0, 0, 0, 2, 0, 0, 0))
            retval = struct.unpack("<I", user.read(req + 4, 4))[0]
            expect(f"PROG_TEST_RUN {run} of the program using {what}", (r, retval), (0, 42))
        for handle in (h, m):
            r, _ = ioctl(14, struct.pack("<II", handle, 0))
            expect("OBJ_CLOSE", r, 0)

    # The object graph: an array whose value holds a list of objects (its
    # lock at 0, the list at 8, of `item { u64 value; node at 8 }`, BTF id
    # 5); a verified program allocates an item, pushes it under the lock,
    # pops it back and frees it (obj_new, list push/pop, obj_drop: kfuncs
    # 13, 16, 17, 14). The pool's chunks come from malloc(9) at load, in
    # process context; runs take blocks under spin mutexes.
    graph_program(
        "a list of objects", 24, 1,
        struct.pack("<IIII", 1, 0, 0, 0) + struct.pack("<IIII", 2, 8, 5, 8),
        struct.pack("<16sIIII", b"item", 5, 32, 1, 0) + struct.pack("<IIII", 3, 8, 0, 0) + b"\0" * 144,
        bytes.fromhex(
            "620afcff00000000bfa200000000000007020000fcffffff18510000000000000000000000000000"
            "850000000100000015001e0000000000bf07000000000000b701000005000000b702000000000000"
            "852000000d0000001500190000000000bf060000000000007a0600002a000000bf71000000000000"
            "850000005d000000bf710000000000000701000008000000bf620000000000000702000008000000"
            "b703000000000000b7040000000000008520000010000000bf71000000000000070100000800000"
            "08520000011000000bf08000000000000bf71000000000000850000005e00000015080700000000"
            "0007080000f8ffffff7989000000000000bf81000000000000b702000000000000852000000e0000"
            "00bf900000000000009500000000000000b7000000000000009500000000000000"),
        1)

    # A kptr and a reference count: an array whose value holds `struct
    # counted __kptr *` at 8 (no lock), `counted { u64 value; struct
    # bpf_refcount at 8 }` (BTF id 5); the program allocates one, takes a
    # second reference (kfunc 22), stashes the first with bpf_kptr_xchg
    # (helper 194), drops what the kptr held before and its second
    # reference, and returns the value; the map's close drops the last.
    graph_program(
        "a kptr", 16, 0,
        struct.pack("<IIII", 6, 8, 5, 0),
        struct.pack("<16sIIII", b"counted", 5, 16, 1, 0) + struct.pack("<IIII", 7, 8, 0, 0) + b"\0" * 144,
        bytes.fromhex(
            "620afcff00000000bfa200000000000007020000fcffffff18510000000000000000000000000000"
            "85000000010000001500190000000000bf07000000000000b701000005000000b702000000000000"
            "852000000d0000001500140000000000bf060000000000007a0600002a000000bf61000000000000"
            "b7020000000000008520000016000000bf08000000000000bf710000000000000701000008000000"
            "bf6200000000000085000000c20000001500030000000000bf01000000000000b702000000000000"
            "852000000e0000007989000000000000bf81000000000000b702000000000000852000000e000000"
            "bf900000000000009500000000000000b7000000000000009500000000000000"),
        2)

    # A timer in a map value: the map is created and a program using it is
    # verified, but bpf_timer_init (helper 169) returns -EOPNOTSUPP: the
    # kld has no timers yet (a cell would be malloc'd in the program's
    # critical section).
    r, req = ioctl(1, struct.pack("<IIIIIIII16sIIQIIQ", 2, 4, 24, 1, 0, 0, 0, 0, b"emu_timer", 0, 0,
                                  user.put(struct.pack("<IIII", 8, 8, 0, 0)), 1, 0, 0))
    expect("MAP_CREATE of values holding a timer", r, 0)
    tm = struct.unpack("<I", user.read(req + 48, 4))[0]
    timer_prog = bytes.fromhex(
        "620afcff00000000"  # stw [r10-4], 0
        "bfa2000000000000"  # mov r2, r10
        "07020000fcffffff"  # add r2, -4
        "1851000000000000" "0000000000000000"  # lddw r1, map 0
        "8500000001000000"  # call map_lookup_elem
        "1500070000000000"  # jeq r0, 0, out
        "bf01000000000000"  # mov r1, r0
        "0701000008000000"  # add r1, 8: the timer
        "1852000000000000" "0000000000000000"  # lddw r2, map 0
        "b703000001000000"  # mov r3, CLOCK_MONOTONIC
        "85000000a9000000"  # call bpf_timer_init
        "9500000000000000"  # exit
        "b700000000000000"  # out: mov r0, 0
        "9500000000000000")  # exit
    r, req = ioctl(10, struct.pack("<IIQQIIQQII16sIIII", 6, len(timer_prog) // 8, user.put(timer_prog), lic, 1,
                                  512, log, user.put(struct.pack("<I", tm)), 1, 0, b"emu_timer", 0, 0, 0, 0))
    expect("PROG_LOAD of a program using a timer: verified",
           (r, user.read(log, 512).split(b"\0")[0].decode()[:9]), (0, "processed"))
    th = struct.unpack("<I", user.read(req + 72, 4))[0]
    r, req = ioctl(11, struct.pack("<IIIIQQIIQQIIII", th, 0, 64, 64, pkt, pkt_out, 0, 0, 0, 0, 2, 0, 0, 0))
    retval = struct.unpack("<i", user.read(req + 4, 4))[0]
    expect("PROG_TEST_RUN: bpf_timer_init is -EOPNOTSUPP in the kld", (r, retval), (0, -95))
    for h in (th, tm):
        r, _ = ioctl(14, struct.pack("<II", h, 0))
        expect("OBJ_CLOSE", r, 0)

    # Live traffic: a pfil(9) hook on the Ethernet head, the compiled
    # program run on frames in their mbufs.
    em0, lo0 = k.add_ifnet("em0", 3), k.add_ifnet("lo0", 1)
    xdp = bytes.fromhex(
        "6112000000000000"    # r2 = ctx->data
        "6113040000000000"    # r3 = ctx->data_end
        "b700000002000000"    # r0 = XDP_PASS
        "bf24000000000000"    # r4 = r2
        "0704000001000000"    # r4 += 1
        "2d34030000000000"    # if r4 > r3 goto exit
        "7125000000000000"    # r5 = *(u8 *)r2
        "55050100aa000000"    # if r5 != 0xaa goto exit
        "b700000001000000"    # r0 = XDP_DROP
        "9500000000000000")   # exit
    r, req = ioctl(10, struct.pack("<IIQQIIQQII16sIIII", 6, len(xdp) // 8, user.put(xdp), lic, 1, 512, log,
                                  0, 0, 0, b"emu_xdp", 0, 0, 0, 0))
    expect("PROG_LOAD (XDP)", (r, user.read(log, 512).split(b"\0")[0].decode().startswith("processed")), (0, True))
    xdp_handle = struct.unpack("<I", user.read(req + 72, 4))[0]
    info = user.put(b"\0" * 80)
    r, _ = ioctl(15, struct.pack("<IIQ", xdp_handle, 80, info))
    expect("the XDP program is verified and compiled", (r, struct.unpack("<I", user.read(info + 60, 4))[0]), (0, 3))

    def link_create(index, name, direction=0):
        return ioctl(19, struct.pack("<II16sIIII", xdp_handle, index, name, direction, 0, 0, 0))

    r, req = link_create(0, b"em0")
    link_handle, ifindex = struct.unpack("<II", user.read(req + 32, 8))
    expect("LINK_CREATE on em0 by name", (r, ifindex), (0, 3))
    expect("the vnet is restored after the ioctl", k.curvnet(), 0)
    hook = k.hooks[0]
    expect("one pfil hook, linked for input", (len(k.hooks), hook["linked"], hook["flags"], hook["module"]),
           (1, True, PFIL_IN, "ebpf"))
    mp = k.kmalloc(8)

    def frame(data, ifp):
        m = k.make_mbuf(data)
        uc.mem_write(mp, struct.pack("<Q", m))
        r = emu.call(hook["func"], mp, ifp, PFIL_IN, hook["ruleset"], 0)
        return r, m, emu.read_ptr(mp)

    r, m, after = frame(b"\xaa" * 60, em0)
    expect("a frame the program drops: PFIL_DROPPED, mbuf freed", (r, after, m in k.mbufs), (PFIL_DROPPED, 0, False))
    r, m, after = frame(b"\x11" * 60, em0)
    expect("a frame the program passes: PFIL_PASS, the same mbuf", (r, after), (PFIL_PASS, m))
    k.free_chain(m)
    r, m, after = frame(b"\xaa" * 60, lo0)
    expect("a frame of another interface: untouched", (r, after), (PFIL_PASS, m))
    k.free_chain(m)
    k.blocks.pop(mp)
    info = user.put(b"\0" * 64)
    r, _ = ioctl(15, struct.pack("<IIQ", link_handle, 64, info))
    fields = struct.unpack("<6I5Q", user.read(info, 64))
    expect("GET_INFO of the link: em0, one drop, one pass", (r, fields[3], fields[7], fields[8]), (0, 3, 1, 1))
    r, _ = link_create(0, b"em9")
    expect("LINK_CREATE on a missing interface: ENODEV", r, 19)
    r, _ = link_create(42, b"")
    expect("LINK_CREATE on a missing index: ENODEV", r, 19)
    r, _ = ioctl(20, struct.pack("<II", link_handle, 0))
    expect("LINK_DETACH: hook removed after the network epoch, em0 released",
           (r, hook["removed"], k.epoch_waits, k.ifnets[em0][3]), (0, True, 1, 1))
    r, _ = ioctl(14, struct.pack("<II", link_handle, 0))
    expect("OBJ_CLOSE of the link", r, 0)
    r, _ = ioctl(14, struct.pack("<II", xdp_handle, 0))
    expect("OBJ_CLOSE of the XDP program", r, 0)

    # Pins, info, ids, iteration, batches, delete, close: the rest of the
    # dispatcher's commands.
    pin = struct.pack("<II64s", handle, 0, b"emu/map")
    r, _ = ioctl(12, pin)
    expect("OBJ_PIN", r, 0)
    r, _ = ioctl(12, pin)
    expect("OBJ_PIN twice: EEXIST", r, 17)
    r, req = ioctl(13, struct.pack("<II64s", 0, 0, b"emu/map"))
    pinned, kind = struct.unpack("<II", user.read(req, 8))
    expect("OBJ_GET: a new handle to the map", (r, kind, pinned != handle), (0, 1, True))
    info = user.put(b"\0" * 48)
    r, _ = ioctl(15, struct.pack("<IIQ", pinned, 48, info))
    mtype, mid, ks, vs, maxe = struct.unpack("<IIIII", user.read(info, 20))
    expect("OBJ_GET_INFO", (r, mtype, ks, vs, maxe, user.read(info + 24, 3)), (0, 1, 4, 8, 16, b"emu"))
    r, req = ioctl(16, struct.pack("<IIII", 1, 0, 0, 0))
    expect("GET_NEXT_ID: the first map", (r, struct.unpack("<I", user.read(req + 8, 4))[0]), (0, mid))
    r, req = ioctl(16, struct.pack("<IIII", 1, mid, 0, 0))
    expect("GET_NEXT_ID after the last: ENOENT", r, 2)
    r, req = ioctl(17, struct.pack("<IIII", 1, mid, 0, 0))
    expect("GET_HANDLE_BY_ID", r, 0)
    by_id = struct.unpack("<I", user.read(req + 12, 4))[0]
    for i in (1, 2):
        ioctl(3, struct.pack("<IIQQQ", handle, 0, user.put(struct.pack("<I", i)), user.put(struct.pack("<Q", i)), 0))
    nxt = user.put(b"\0" * 4)
    r, _ = ioctl(5, struct.pack("<IIQQQ", handle, 0, 0, nxt, 0))
    expect("MAP_GET_NEXT_KEY from the start", r, 0)
    keys, vals, out_batch = user.put(b"\0" * 64), user.put(b"\0" * 128), user.put(b"\0" * 4)
    r, req = ioctl(7, struct.pack("<IIQQQQQQ", by_id, 16, 0, out_batch, keys, vals, 0, 0))
    count = struct.unpack("<I", user.read(req + 4, 4))[0]
    expect("MAP_LOOKUP_BATCH walks to the end (ENOENT) with every element", (r, count), (2, 3))
    r, req = ioctl(9, struct.pack("<IIQQQQQQ", handle, 2, 0, 0, user.put(struct.pack("<II", 1, 2)), 0, 0, 0))
    expect("MAP_DELETE_BATCH", (r, struct.unpack("<I", user.read(req + 4, 4))[0]), (0, 2))
    r, _ = ioctl(4, struct.pack("<IIQQQ", handle, 0, key, 0, 0))
    expect("MAP_DELETE_ELEM", r, 0)
    r, _ = ioctl(4, struct.pack("<IIQQQ", handle, 0, key, 0, 0))
    expect("MAP_DELETE_ELEM again: ENOENT", r, 2)
    r, _ = ioctl(13, struct.pack("<II64s", 1, 0, b"emu/map"))
    expect("unpin", r, 0)
    for h in (pinned, by_id):
        r, _ = ioctl(14, struct.pack("<II", h, 0))
        expect("OBJ_CLOSE", r, 0)
    r, _ = ioctl(14, struct.pack("<II", by_id, 0))
    expect("OBJ_CLOSE twice: EBADF", r, 9)

    data = k.kmalloc(16)
    uc.mem_write(data, struct.pack("<QII", user.put(b"\0" * 48), 48, 0))
    expect("unknown command: ENOTTY", emu.call(d_ioctl, 0xCDE0000, ioc(0x7f), data, 3, 0x7777), ENOTTY)
    uc.mem_write(data, struct.pack("<QII", 0xdead0000, 48, 0))
    expect("request outside user memory: EFAULT", emu.call(d_ioctl, 0xCDE0000, ioc(0), data, 3, 0x7777), EFAULT)
    uc.mem_write(data, struct.pack("<QII", USER, 1 << 20, 0))
    expect("request too large: E2BIG", emu.call(d_ioctl, 0xCDE0000, ioc(1), data, 3, 0x7777), E2BIG)
    k.blocks.pop(data)
    bad_key = struct.pack("<IIQQQ", handle, 0, 0xdead0000, out, 0)
    r, _ = ioctl(2, bad_key)
    expect("key pointer outside user memory: EFAULT", r, EFAULT)

    expect("MOD_QUIESCE with a file open: EBUSY", emu.call(evhand, 0x1234, 3, 0), EBUSY)
    priv, dtor = k.cdevpriv
    k.cdevpriv = None
    emu.call(dtor, priv)   # devfs: last close
    expect("MOD_QUIESCE", emu.call(evhand, 0x1234, 3, 0), 0)
    expect("MOD_UNLOAD", emu.call(evhand, 0x1234, 1, 0), 0)
    expect("destroy_dev", k.destroyed, 1)

    expect("contract violations", k.violations, [])
    expect("mbufs left", k.mbufs, set())
    expect("pfil hooks left", [h["rule"] for h in k.hooks if not h["removed"]], [])
    expect("leaked malloc(9) blocks", {hex(a): n for a, n in k.blocks.items()}, {})
    expect("locks left", k.live_locks, 0)
    expect("critical sections balanced", (k.critical, k.spins), (0, 0))
    if emu.max_stack > 16384:
        raise Fail(f"stack use {emu.max_stack} bytes exceeds the 16 KiB kernel stack")
    return checks


# Twins whose calls of one KPI are patched out (the call returns at once):
# a kld that never frees, and one that never leaves its critical sections.
DROPPED_CALLS = {"leak": "free", "critical": "critical_exit_KBI"}


def mutate(data, how):
    import io
    data = bytearray(data)
    e = ELFFile(io.BytesIO(bytes(data)))
    if how == "gotpcrel":
        for s in e.iter_sections():
            if isinstance(s, RelocationSection) and s["sh_size"]:
                off = s["sh_offset"]
                data[off + 8:off + 12] = struct.pack("<I", 9)
                return bytes(data)
    if how == "rocdevsw":
        for i, s in enumerate(e.iter_sections()):
            if s.name.endswith("CDEVSW"):
                at = e["e_shoff"] + i * e["e_shentsize"] + 8
                flags = struct.unpack_from("<Q", data, at)[0] & ~0x1
                struct.pack_into("<Q", data, at, flags)
                return bytes(data)
    raise SystemExit(f"kldemu: cannot apply mutation {how}")


def main():
    args = sys.argv[1:]
    if not args:
        raise SystemExit(__doc__)
    data = open(args[0], "rb").read()
    dropped = set()
    if "--mutate" in args:
        how = args[args.index("--mutate") + 1]
        if how in DROPPED_CALLS:
            dropped.add(DROPPED_CALLS[how])
        else:
            data = mutate(data, how)
    try:
        emu = Emulator(data)
        emu.dropped = dropped
        checks = session(emu)
    except Fail as f:
        print(f"kldemu: FAIL: {f}")
        return 1
    for c in checks:
        print(f"kldemu: ok: {c}")
    print(f"kldemu: deepest stack use {emu.max_stack} bytes; log: {emu.kernel.log}")
    print(f"kldemu: {args[0]}: PASS ({len(checks)} checks)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
