# The classic port filter, in assembly: r1 points to an Ethernet frame,
# r2 holds its length. Drops (returns 1) TCP over IPv4 to port 80 or 8080,
# passes (returns 2) everything else, including frames too short to parse.

        mov %r0, 2                  # default verdict: pass
        jlt %r2, 38, done           # Ethernet 14 + IPv4 20 + 4 bytes of TCP
        ldxh %r3, [%r1+12]          # EtherType, network order
        be16 %r3
        jne %r3, 0x0800, done       # not IPv4
        ldxb %r4, [%r1+23]          # IPv4 protocol
        jne %r4, 6, done            # not TCP
        ldxb %r5, [%r1+14]          # version and IHL
        and %r5, 0x0f
        lsh %r5, 2                  # IPv4 header length in bytes
        mov %r6, %r5
        add %r6, 18                 # 14 + IHL + 4: end of the TCP ports
        jgt %r6, %r2, done          # ports not inside the frame
        add %r5, %r1
        ldxh %r7, [%r5+16]          # TCP destination port (14 + 2)
        be16 %r7
        jeq %r7, 80, drop
        jeq %r7, 8080, drop
        ja done
drop:   mov %r0, 1
done:   exit
