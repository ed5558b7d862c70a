#!/usr/bin/env python3
# Lab helper (outsider, raw sockets): what an outsider without the cluster key
# can do with CAP_NET_RAW on the LAN. Run through outsider.mjs (which names the
# verbs); each verb ends by itself and prints JSON lines: {"started"} first,
# its result last.
#   vxlan --dst IP [--src IP] [--dev IF] [--port P] [--vni N] [--inner-src IP]
#         [--inner-dst IP] [--inner-dst-mac MAC] [--count N] [--gap-ms MS]
#       IPv4/UDP/VXLAN frames carrying an ICMP echo (inner source MAC
#       02:de:ad:be:ef:01), outer source chosen freely (IP_HDRINCL)
#   l2-capture --dev IF --ms MS --file F [--src-mac MAC] [--count N]
#       whole Ethernet frames of EtherType 0x88B5 heard on IF (hex, one a line)
#   l2-replay --dev IF --file F [--src-mac MAC]
#       sends them again on IF, verbatim (their Ethernet source: the peer's MAC)
#   flood (--dst IP [--port P] | --l2 IF) --file F --seconds S [--procs N] [--sources N] [--cpus LIST] [--pps N]
#       the first captured datagram with one body byte flipped, sent to
#       IP:P (default 9477) as fast as this machine can (sendmmsg batches, N
#       processes), or as broadcast discovery frames (EtherType 0x88B5) on IF;
#       --sources N (<= 256): from N made-up source addresses (raw IPv4, from
#       --source-base IP on, default 198.18.0.1) or MACs (02:00:5e:00:xx:xx);
#       --cpus 0,1: the senders run only on these CPUs (leave the victim a core);
#       --pps N: paced at N a second instead of as fast as it can; --intact: the datagram as captured
#       (a replay: its HMAC holds)
import argparse, ctypes, ctypes.util, json, os, random, signal, socket, struct, sys, time

ETH_P_EOVL = 0x88B5
STOP = []  # set by SIGTERM: loops end early and report what they did
INNER_MAC = bytes.fromhex('02deadbeef01')


def csum(b):
    if len(b) % 2:
        b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4(src, dst, proto, payload, ttl=64):
    h = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(payload), random.getrandbits(16), 0, ttl, proto, 0,
                    socket.inet_aton(src), socket.inet_aton(dst))
    return h[:10] + struct.pack('!H', csum(h)) + h[12:] + payload


def udp(sport, dport, payload):
    return struct.pack('!HHHH', sport, dport, 8 + len(payload), 0) + payload  # checksum 0: none (IPv4)


def icmp_echo(ident, seq, data=b'edge-overlay outsider'):
    h = struct.pack('!BBHHH', 8, 0, 0, ident, seq) + data
    return h[:2] + struct.pack('!H', csum(h)) + h[4:]


def mac(text):
    return bytes.fromhex(text.replace(':', ''))


def cmd_vxlan(a):
    inner_ip = ipv4(a.inner_src, a.inner_dst, 1, icmp_echo(os.getpid() & 0xFFFF, 1))
    inner = mac(a.inner_dst_mac) + INNER_MAC + b'\x08\x00' + inner_ip
    vx = struct.pack('!B3xI', 0x08, a.vni << 8) + inner
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    if a.dev:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, a.dev.encode())
    src = a.src or source_for(a.dst, a.dev)
    sent = 0
    for i in range(a.count):
        if STOP:
            break
        s.sendto(ipv4(src, a.dst, socket.IPPROTO_UDP, udp(40000 + i % 1000, a.port, vx)), (a.dst, 0))
        sent += 1
        if a.gap_ms:
            time.sleep(a.gap_ms / 1000)
    return {'sent': sent, 'src': src, 'dst': a.dst}


def source_for(dst, dev):
    """The address the kernel would send from (a connected UDP socket tells)."""
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    if dev:
        u.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, dev.encode())
    u.connect((dst, 9))
    return u.getsockname()[0]


def packet_socket(dev):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_EOVL))
    s.bind((dev, ETH_P_EOVL))
    return s


def cmd_l2_capture(a):
    s = packet_socket(a.dev)
    s.settimeout(0.1)
    want = mac(a.src_mac) if a.src_mac else None
    got, deadline = [], time.monotonic() + a.ms / 1000
    while time.monotonic() < deadline and (not a.count or len(got) < a.count) and not STOP:
        try:
            f, addr = s.recvfrom(2048)
        except socket.timeout:
            continue
        if addr[2] == socket.PACKET_OUTGOING or (want and f[6:12] != want):
            continue
        got.append(f.hex())
    with open(a.file, 'w') as out:
        out.write('\n'.join(got) + '\n')
    return {'captured': len(got)}


def cmd_l2_replay(a):
    s = packet_socket(a.dev)
    frames = [bytes.fromhex(x) for x in open(a.file).read().split() if x]
    for f in frames:
        if STOP:
            break
        if a.src_mac:
            f = f[:6] + mac(a.src_mac) + f[12:]
        s.send(f)
        time.sleep(0.005)
    return {'sent': len(frames)}


class iovec(ctypes.Structure):
    _fields_ = [('base', ctypes.c_void_p), ('len', ctypes.c_size_t)]


class msghdr(ctypes.Structure):
    _fields_ = [('name', ctypes.c_void_p), ('namelen', ctypes.c_uint32), ('iov', ctypes.POINTER(iovec)),
                ('iovlen', ctypes.c_size_t), ('control', ctypes.c_void_p), ('controllen', ctypes.c_size_t), ('flags', ctypes.c_int)]


class mmsghdr(ctypes.Structure):
    _fields_ = [('hdr', msghdr), ('len', ctypes.c_uint)]


def flood_worker(a, payloads, deadline, mode):
    """Sends batches until the deadline; returns how many datagrams (frames) the kernel took."""
    libc = ctypes.CDLL(ctypes.util.find_library('c'), use_errno=True)
    if mode == 'l2':
        s = packet_socket(a.l2)  # bound: frames leave by that interface, no address needed
        sa = b''
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW) if mode == 'ip' else socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sa = struct.pack('<H', socket.AF_INET) + struct.pack('!H', 0 if mode == 'ip' else a.port) + socket.inet_aton(a.dst) + b'\0' * 8
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    name = ctypes.create_string_buffer(sa, len(sa)) if sa else None
    batch = 256
    bufs = [ctypes.create_string_buffer(payloads[i % len(payloads)], len(payloads[i % len(payloads)])) for i in range(batch)]
    iovs = (iovec * batch)(*[iovec(ctypes.cast(b, ctypes.c_void_p), len(b)) for b in bufs])
    msgs = (mmsghdr * batch)()
    for i in range(batch):
        msgs[i].hdr = msghdr(ctypes.cast(name, ctypes.c_void_p) if name else None, len(sa), ctypes.pointer(iovs[i]), 1, None, 0, 0)
    sent = 0
    if a.pps:  # paced: one datagram (frame) at a time, --pps a second across all processes
        gap, nxt = a.procs / a.pps, time.monotonic()
        while time.monotonic() < deadline and not STOP:
            if libc.sendmmsg(s.fileno(), msgs, 1, 0) > 0:
                sent += 1
            nxt += gap
            time.sleep(max(0.0, nxt - time.monotonic()))
        return sent
    while time.monotonic() < deadline and not STOP:
        n = libc.sendmmsg(s.fileno(), msgs, batch, 0)
        if n > 0:
            sent += n
        else:
            time.sleep(0)  # ENOBUFS and friends: the queue is full, yield
    return sent


def cmd_flood(a):
    first = next(x for x in open(a.file).read().split() if x)
    pkt = bytearray.fromhex(first)
    if not a.intact:
        pkt[20] ^= 0x55  # inside the body: the shape stays valid, the HMAC no longer matches
    pkt = bytes(pkt)
    mode = 'l2' if a.l2 else 'ip' if a.sources > 0 else 'udp'
    if mode == 'l2':
        # broadcast discovery frames (length-prefixed packet) from made-up MACs 02:00:5e:00:xx:xx
        macs = [bytes.fromhex('02005e00%04x' % i) for i in range(max(1, a.sources))]
        payloads = [b'\xff' * 6 + m + struct.pack('!HH', ETH_P_EOVL, len(pkt)) + pkt for m in macs]
    elif mode == 'ip':
        # made-up sources (default: 198.18.0.0/15, the benchmarking range; never leaves the lab)
        base = struct.unpack('!I', socket.inet_aton(a.source_base))[0]
        src = lambda i: socket.inet_ntoa(struct.pack('!I', base + i))
        payloads = [ipv4(src(i), a.dst, socket.IPPROTO_UDP, udp(30000 + i % 30000, a.port, pkt)) for i in range(a.sources)]
    else:
        payloads = [pkt]
    if a.cpus:
        os.sched_setaffinity(0, {int(c) for c in a.cpus.split(',')})
    t0 = time.monotonic()
    deadline = t0 + a.seconds
    pipes = []
    for _ in range(a.procs):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            n = flood_worker(a, payloads, deadline, mode)
            os.write(w, str(n).encode())
            os._exit(0)
        os.close(w)
        pipes.append((pid, r))
    signal.signal(signal.SIGTERM, lambda *_: [os.kill(pid, signal.SIGTERM) for pid, _ in pipes])
    total = 0
    for pid, r in pipes:
        total += int(os.read(r, 64) or b'0')
        os.waitpid(pid, 0)
    secs = time.monotonic() - t0
    return {'sent': total, 'seconds': round(secs, 3), 'pps': round(total / secs), 'mode': mode, 'procs': a.procs, 'sources': a.sources, 'bytes': len(pkt)}


def main():
    p = argparse.ArgumentParser(prog='outsider-raw.py')
    sub = p.add_subparsers(dest='cmd', required=True)
    v = sub.add_parser('vxlan')
    v.add_argument('--dst', required=True)
    v.add_argument('--src')
    v.add_argument('--dev')
    v.add_argument('--port', type=int, default=4789)
    v.add_argument('--vni', type=int, default=100)
    v.add_argument('--inner-src', default='100.64.192.250')
    v.add_argument('--inner-dst', default='100.64.192.255')
    v.add_argument('--inner-dst-mac', default='ff:ff:ff:ff:ff:ff')
    v.add_argument('--count', type=int, default=5)
    v.add_argument('--gap-ms', type=float, default=2)
    c = sub.add_parser('l2-capture')
    c.add_argument('--dev', required=True)
    c.add_argument('--ms', type=int, required=True)
    c.add_argument('--file', required=True)
    c.add_argument('--src-mac')
    c.add_argument('--count', type=int, default=0)
    r = sub.add_parser('l2-replay')
    r.add_argument('--dev', required=True)
    r.add_argument('--file', required=True)
    r.add_argument('--src-mac')
    f = sub.add_parser('flood')
    f.add_argument('--dst')
    f.add_argument('--port', type=int, default=9477)
    f.add_argument('--l2')
    f.add_argument('--file', required=True)
    f.add_argument('--seconds', type=float, required=True)
    f.add_argument('--procs', type=int, default=1)
    f.add_argument('--sources', type=int, default=0)
    f.add_argument('--cpus')
    f.add_argument('--source-base', default='198.18.0.1')
    f.add_argument('--pps', type=float, default=0)
    f.add_argument('--intact', action='store_true')
    a = p.parse_args()
    if a.cmd == 'flood' and not 0 < a.seconds <= 600:
        p.error('--seconds must be in (0, 600]: a flood ends by itself')
    if a.cmd == 'flood' and not 0 <= a.sources <= 256:
        p.error('--sources must be in [0, 256]')
    if a.cmd == 'flood' and not (a.dst or a.l2):
        p.error('flood needs --dst IP (UDP) or --l2 IFACE (raw frames)')
    signal.signal(signal.SIGTERM, lambda *_: STOP.append(1))
    print(json.dumps({'started': a.cmd}), flush=True)  # for callers running it in the background
    out = {'vxlan': cmd_vxlan, 'l2-capture': cmd_l2_capture, 'l2-replay': cmd_l2_replay, 'flood': cmd_flood}[a.cmd](a)
    print(json.dumps(out), flush=True)


if __name__ == '__main__':
    main()
