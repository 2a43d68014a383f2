#!/bin/busybox sh
# PID 1 of the test VM: load ebpf.ko, run the integration suites and the
# examples through /dev/ebpf, unload, and check the kernel's log and
# kmemleak. The last line is "EBPF-VM-RESULT: PASS" or "... FAIL".
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t debugfs debugfs /sys/kernel/debug
mount -t tmpfs tmp /tmp
echo 'root:x:0:0::/:/bin/sh' > /etc/passwd
echo 'nobody:x:65534:65534::/:/bin/sh' >> /etc/passwd
echo 'root:x:0:' > /etc/group

status=0
step() { echo "EBPF-VM: == $*"; }
fail() { echo "EBPF-VM: FAIL: $*"; status=1; }
# The kernel variant (tools/vm/kernel.sh): "nobpf" has no bpf(2), so the
# steps that compare with it, and the long ones the default kernel runs
# already, are left out there.
variant=$(sed -n 's/.*ebpf\.variant=\([a-z]*\).*/\1/p' /proc/cmdline)
full() { [ "$variant" != nobpf ]; }
echo "EBPF-VM: kernel variant: ${variant:-default}"

# Only what happens from here on counts.
dmesg -c > /tmp/boot.log
echo clear > /sys/kernel/debug/kmemleak 2>/dev/null

step insmod
insmod /ebpf.ko || fail "insmod"
mode=$(stat -c '%a %U' /dev/ebpf 2>/dev/null)
[ "$mode" = "600 root" ] || fail "/dev/ebpf mode is '$mode', want '600 root'"

export EBPF_TEST_DEVICE=/dev/ebpf EBPF_EXAMPLES=/examples EBPFCTL=/bin/ebpfctl
for t in /tests/*; do
    step "$t"
    "$t" --test-threads=2 || fail "$t"
done

step "ebpfctl: port filter through /dev/ebpf"
P=00000000000000000000000008004500002800000000400600000a0000010a000002
TCP80=${P}c00000500000000000000000500200000000000000000000
TCP22=${P}c00000160000000000000000500200000000000000000000
ebpfctl prog load /examples/port_filter.o --pin pf || fail "prog load"
ebpfctl prog list | tee /tmp/progs.txt
# Verified, it runs compiled by the kernel's own JIT (bpf_jit_enable is on).
grep -q "port_filter .*verified  jited [0-9]*B" /tmp/progs.txt || fail "the port filter is not JIT-compiled"
ebpfctl prog run pf/port_filter --data-hex $TCP80 --data-hex $TCP22 --data-hex $TCP80 > /tmp/run.txt || fail "prog run"
cat /tmp/run.txt
[ "$(grep -c 'retval 1' /tmp/run.txt)" = 2 ] && [ "$(grep -c 'retval 2' /tmp/run.txt)" = 1 ] || fail "verdicts"
ebpfctl map dump pf/drops > /tmp/dump.txt || fail "map dump"
cat /tmp/dump.txt
grep -q '5000 (80) -> 0200000000000000 (2)' /tmp/dump.txt || fail "drop counter"
ebpfctl prog unload pf/port_filter || fail "prog unload"
ebpfctl map list
ebpfctl map dump pf/drops > /dev/null || fail "the map pin outlives the program pin"
ebpfctl run /examples/tail_call.o --prog dispatch --data-hex $TCP80 | grep -q XDP_DROP || fail "tail call"

if full; then
    step "speed: the port filter through /dev/ebpf and through this kernel's bpf(2)"
    ebpf-vm-bench /dev/ebpf /examples/port_filter.o ${EBPF_BENCH_REPEAT:-20000} || fail "vm bench"
else
    step "no bpf(2): /dev/ebpf is this kernel's only eBPF, compiled by its JIT all the same"
    ebpf-vm-bench --no-bpf-syscall || fail "this kernel has bpf(2)"
fi

step "kernel JIT off: verified programs are interpreted"
if [ -w /proc/sys/net/core/bpf_jit_enable ]; then
    echo 0 > /proc/sys/net/core/bpf_jit_enable
    ebpfctl prog load /examples/port_filter.o --pin pf2 || fail "prog load (JIT off)"
    ebpfctl prog list | grep "port_filter" | tail -1 | tee /tmp/progs.txt
    grep -q "verified  interpreted" /tmp/progs.txt || fail "compiled with the JIT off"
    ebpfctl prog run pf2/port_filter --data-hex $TCP80 | grep -q 'retval 1' || fail "interpreted verdict"
    ebpfctl prog unload pf2/port_filter || fail "prog unload"
    echo 1 > /proc/sys/net/core/bpf_jit_enable
else
    # The sysctl comes with CONFIG_NET; the JIT is then on by default.
    echo "EBPF-VM: skipped: this kernel has no net.core.bpf_jit_enable"
fi

step "live traffic: the port filter on veth1 (ingress), between two network namespaces"
# The server lives in its own network namespace, held by a sleeping
# process; veth0 (10.0.0.1, here) is wired to veth1 (10.0.0.2, there).
ip link set lo up
unshare -n sleep 100000 &
ns=$!
sleep 1
NS="nsenter -t $ns -n"
# (busybox's ip names no peer: the kernel calls it veth0)
ip link add veth1 type veth && ip link set veth1 netns $ns || fail "veth pair"
ip addr add 10.0.0.1/24 dev veth0 && ip link set veth0 up || fail "veth0 up"
$NS ip addr add 10.0.0.2/24 dev veth1 && $NS ip link set veth1 up && $NS ip link set lo up || fail "veth1 up"
servers=""
for p in 22 80 8080; do
    $NS nc -ll -p $p -e /bin/echo hello-$p &
    servers="$servers $!"
done
sleep 1
# connects PORT: a TCP connection to the server on PORT gets its greeting.
connects() { echo | nc -w 3 10.0.0.2 $1 2>/dev/null | grep -q "hello-$1"; }
# drops PORT: the filter's count for PORT (0 before the first).
drops() { ebpfctl map lookup live/drops --key $1 2>/dev/null | sed -n 's/.*-> [0-9a-f]* (\([0-9]*\))$/\1/p' | grep . || echo 0; }
# link_frames VERDICT: frames of the link on veth1 with that verdict.
link_frames() { $NS ebpfctl link list | grep "dev veth1" | grep -v detached | sed -n "s/.* $1 \([0-9]*\).*/\1/p"; }
# no_links [NSENTER]: no program is attached to any interface.
no_links() { [ "$($@ ebpfctl --json net list | tr -d ' \n')" = "[]" ]; }
for p in 22 80 8080; do connects $p || fail "no connection to port $p before any program"; done
ebpfctl prog load /examples/port_filter.o --pin live > /dev/null || fail "prog load"
$NS ebpfctl net attach live/port_filter dev veth1 || fail "net attach"
$NS ebpfctl net list | tee /tmp/net.txt
grep -q "^veth1([0-9]*) ingress prog [0-9]* link [0-9]*" /tmp/net.txt || fail "net list does not show the link"
connects 22 || fail "port 22 refused with the filter attached"
connects 80 && fail "a connection to port 80 went through the filter"
connects 8080 && fail "a connection to port 8080 went through the filter"
out=$($NS ebpfctl net attach live/port_filter dev veth1 2>&1) && fail "a second attach succeeded"
echo "$out" | grep -q EBUSY || fail "a second attach: '$out', want EBUSY"
out=$($NS ebpfctl net attach live/port_filter dev nosuch0 2>&1) && fail "attach to a missing interface succeeded"
echo "$out" | grep -q ENODEV || fail "attach to a missing interface: '$out', want ENODEV"
# Exactly what was sent is counted: 100 SYNs to 80, 50 to 8080, 30 to 22.
b80=$(drops 80); b8080=$(drops 8080); bpass=$(link_frames pass); bdrop=$(link_frames drop)
ebpf-vm-traffic send 80 100 && ebpf-vm-traffic send 8080 50 && ebpf-vm-traffic send 22 30 || fail "send"
a80=$(drops 80); a8080=$(drops 8080); apass=$(link_frames pass); adrop=$(link_frames drop)
ebpfctl map dump live/drops
$NS ebpfctl link list
echo "EBPF-VM: drops: port 80 $b80 -> $a80, port 8080 $b8080 -> $a8080; link: drop $bdrop -> $adrop, pass $bpass -> $apass"
[ $((a80 - b80)) = 100 ] && [ $((a8080 - b8080)) = 50 ] || fail "the map did not count exactly the SYNs sent"
[ $((adrop - bdrop)) = 150 ] || fail "the link did not count 150 dropped frames"
[ $((apass - bpass)) -ge 30 ] || fail "the link did not count the 30 frames to port 22 as passed"
[ "$adrop" = "$((a80 + a8080))" ] || fail "the link's drops ($adrop) differ from the map's ($a80 + $a8080)"
$NS ebpfctl net detach dev veth1 || fail "net detach"
connects 80 || fail "port 80 still refused after detach"
no_links $NS || fail "net list still shows a link after detach"

if full; then
step "live traffic: egress of veth0, replace, and a link pinned by name"
ebpfctl net attach live/port_filter dev veth0 --egress --pin live/egress || fail "attach egress"
connects 80 && fail "a connection to port 80 left through the egress filter"
connects 22 || fail "port 22 refused by the egress filter"
ebpfctl prog load /examples/port_filter.o --pin live2 > /dev/null || fail "prog load (second copy)"
ebpfctl net attach live2/port_filter dev veth0 --egress --replace --pin live/egress2 || fail "replace"
ebpfctl link show live/egress | grep -q detached || fail "the replaced link is not detached"
connects 80 && fail "port 80 went through after replace"
ebpfctl link detach live/egress2 || fail "link detach"
connects 80 || fail "port 80 refused after the egress link was detached"
ebpfctl link unpin live/egress && ebpfctl link unpin live/egress2 || fail "link unpin"

step "live traffic: XDP_TX sends frames back out of the interface they came in on"
ebpfctl prog load /examples/mac_swap.o --pin swap > /dev/null || fail "prog load mac_swap"
$NS ebpfctl net attach swap/mac_swap dev veth1 || fail "attach mac_swap"
rx0=$(cat /sys/class/net/veth0/statistics/rx_packets)
ebpf-vm-traffic send 80 20 || fail "send"
rx1=$(cat /sys/class/net/veth0/statistics/rx_packets)
tx=$(link_frames tx)
echo "EBPF-VM: veth0 received $rx0 -> $rx1 frames; the link sent $tx back"
[ "$tx" = 20 ] || fail "the link did not count 20 frames sent back"
[ $((rx1 - rx0)) -ge 20 ] || fail "veth0 did not receive the 20 frames sent back"
$NS ebpfctl net detach dev veth1 || fail "detach mac_swap"
ebpfctl prog unload swap/mac_swap || fail "unload mac_swap"

step "speed: frames through veth1 with the port filter, /dev/ebpf hook against generic XDP"
ebpf-vm-traffic compare /proc/$ns/ns/net veth1 /examples/port_filter.o /dev/ebpf ${EBPF_TRAFFIC_SECONDS:-2} 3 ||
    fail "traffic comparison"

step "live traffic: rmmod while frames flow through an attached link"
$NS ebpfctl net attach live/port_filter dev veth1 || fail "net attach"
ebpf-vm-traffic send 80 50000 &
sender=$!
# User space writes the map the program updates from the hook, meanwhile.
for i in 1 2 3 4 5 6 7 8 9 10; do
    ebpfctl map update live/drops --key 80 --value 0 > /dev/null || fail "map update under traffic"
    ebpfctl map update live/drops --key 443 --value $i > /dev/null || fail "map update under traffic"
done
rmmod ebpf || fail "rmmod with a link attached and traffic flowing"
wait $sender
connects 80 || fail "port 80 refused after the module went"
insmod /ebpf.ko || fail "insmod again"

step "live traffic: the interface goes away under a link"
ebpfctl prog load /examples/port_filter.o --pin live > /dev/null || fail "prog load"
$NS ebpfctl net attach live/port_filter dev veth1 || fail "net attach"
ip link del veth0 || fail "ip link del"
ebpfctl link list | tee /tmp/links.txt
grep -q "detached" /tmp/links.txt || fail "the link of the deleted interface is not shown detached"
no_links || fail "net list shows a link on a deleted interface"
kill $servers $ns 2>/dev/null
ebpfctl link unpin net/veth1/ingress || fail "unpin the detached link"
ebpfctl prog unload live/port_filter || fail "prog unload"

step "stress: 4 processes churn every map type, programs and pins; rmmod refused meanwhile"
# A CPU stuck with preemption off for 8 s is reported (soft lockup). Under
# TCG and KASAN a run of a whole instruction budget takes about 3 s (20 ms
# natively): the longest any request keeps a CPU without a reschedule point.
echo 4 > /proc/sys/kernel/watchdog_thresh
timeout 120 ebpf-stress --device /dev/ebpf churn --workers 4 --seconds ${EBPF_STRESS_SECONDS:-20} &
churn=$!
sleep 3
for i in 1 2 3 4 5; do
    rmmod ebpf 2>/dev/null && { fail "rmmod succeeded while files were open"; break; }
    sleep 1
done
wait $churn || fail "churn"

step "signal: a long test run stops with EINTR"
timeout 60 ebpf-stress --device /dev/ebpf signal || fail "signal"

step "fault injection: every allocation of every command fails in turn"
# Tasks marked make-it-fail fail every allocation once their fail-nth
# count has run out (ebpf-stress marks itself only around one ioctl).
for f in failslab fail_page_alloc; do
    d=/sys/kernel/debug/$f
    echo N > $d/ignore-gfp-wait
    echo 0 > $d/verbose
    echo Y > $d/task-filter
    echo 100 > $d/probability
    echo 1 > $d/interval
    echo -1 > $d/times
done
echo 0 > /sys/kernel/debug/fail_page_alloc/min-order
echo N > /sys/kernel/debug/fail_page_alloc/ignore-gfp-highmem
timeout 300 ebpf-stress --device /dev/ebpf faults || fail "faults"

step "open without CAP_BPF/CAP_SYS_ADMIN"
chmod 666 /dev/ebpf
out=$(su nobody -s /bin/sh -c 'ebpfctl --device /dev/ebpf prog list' 2>&1)
echo "$out"
echo "$out" | grep -q "EPERM (operation not permitted): opening it needs CAP_BPF" || fail "unprivileged open is not refused with EPERM"
chmod 600 /dev/ebpf
else
    kill $servers $ns 2>/dev/null
    ebpfctl prog unload live/port_filter || fail "prog unload"
fi

step rmmod
rmmod ebpf || fail "rmmod"
[ -e /dev/ebpf ] && fail "/dev/ebpf still exists"

step kmemleak
# kmemleak reports objects unreferenced for at least 5 s.
sleep 6
echo scan > /sys/kernel/debug/kmemleak
echo scan > /sys/kernel/debug/kmemleak
cat /sys/kernel/debug/kmemleak > /tmp/leaks
if [ -s /tmp/leaks ]; then cat /tmp/leaks; fail "kmemleak"; fi

step "kernel log"
dmesg > /tmp/dmesg.txt
cat /tmp/dmesg.txt
if grep -E 'WARNING|BUG|KASAN|lockdep|circular locking|inconsistent lock|sleeping function called|Oops|general protection|refcount_t|UBSAN|objtool' /tmp/dmesg.txt; then
    fail "kernel log reports a problem"
fi

if [ $status = 0 ]; then echo "EBPF-VM-RESULT: PASS"; else echo "EBPF-VM-RESULT: FAIL"; fi
poweroff -f
