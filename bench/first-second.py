#!/usr/bin/env python3
"""The first second of a load against a freshly started server (bench/first-second.sh).

  first-second.py rtt DIR          SIPp's response times (DIR/*_rtt.csv, run.sh -trace_rtt): p99/max
                                   per 250-ms bucket of the first second, the first second's p99 and
                                   the whole run's (nearest rank; SIPp's clock ticks in whole ms, on
                                   the bench VM in steps of about 4 ms)
  first-second.py pcap FILE PORT   a tcpdump capture on lo of the server's port: the time each message
                                   spends in the server, from kernel timestamps (microseconds): a
                                   request in -> the same request relayed out, or when it is answered
                                   locally its first final or provisional response out; a response in
                                   -> the same response out. p50/p99/max over the messages that
                                   entered in the first second, and over the whole capture.
"""
import glob
import os
import struct
import sys


def pct(values, q):
    v = sorted(values)
    return v[max(0, int(round(q * len(v))) - 1)] if v else 0.0


def rtt(out):
    pts = []
    for p in glob.glob(os.path.join(out, '*_rtt.csv')):
        with open(p) as f:
            next(f, None)
            for line in f:
                a = line.strip().split(';')
                try:
                    pts.append((float(a[0]), float(a[1])))
                except (ValueError, IndexError):
                    pass
    if not pts:
        print('no response times')
        return
    pts.sort()
    t0 = pts[0][0]
    # Date_ms is in ms; older SIPp builds write seconds
    scale = 1000.0 if pts[-1][0] - t0 < 100 else 1.0
    buckets = {}
    for t, r in pts:
        ms = (t - t0) * scale
        if ms < 1000:
            buckets.setdefault(int(ms // 250), []).append(r)
    parts = [f'{k * 250}-{k * 250 + 250} ms p99 {pct(v, 0.99):.0f} max {max(v):.0f}' for k, v in sorted(buckets.items())]
    first = [r for t, r in pts if (t - t0) * scale < 1000]
    print('; '.join(parts))
    print(f'SIPp RTT first second p99 {pct(first, 0.99):.0f} ms (n={len(first)}), whole run p99 {pct([r for _, r in pts], 0.99):.0f} ms')


def packets(path):
    with open(path, 'rb') as f:
        magic, _maj, _min, _tz, _sig, _snap, link = struct.unpack('<IHHiIII', f.read(24))
        div = 1e9 if magic == 0xa1b23c4d else 1e6
        off = {1: 14, 113: 16, 276: 20}.get(link, 0)
        while True:
            h = f.read(16)
            if len(h) < 16:
                return
            sec, frac, incl, _orig = struct.unpack('<IIII', h)
            d = f.read(incl)
            ip = d[off:]
            if len(ip) < 28 or ip[0] >> 4 != 4 or ip[9] != 17:
                continue
            ihl = (ip[0] & 15) * 4
            sport, dport = struct.unpack('>HH', ip[ihl:ihl + 4])
            yield sec + frac / div, sport, dport, ip[ihl + 8:]


def sip_key(payload):
    head = payload.decode('latin1', 'replace').split('\r\n\r\n', 1)[0].split('\r\n')
    call_id = cseq = None
    for line in head[1:]:
        name, _, value = line.partition(':')
        name = name.strip().lower()
        if name in ('call-id', 'i'):
            call_id = value.strip()
        elif name == 'cseq':
            cseq = ' '.join(value.split())
    if not head[0] or call_id is None or cseq is None:
        return None
    if head[0].startswith('SIP/2.0 '):
        return ('response', call_id, cseq, head[0].split()[1])
    return ('request', call_id, cseq, head[0].split()[0])


def pcap(path, port):
    entered = {}
    left = {}
    # a request the server answers itself: its first response out, by (Call-ID, CSeq)
    answered = {}
    for t, sport, dport, payload in packets(path):
        k = sip_key(payload)
        if k is None:
            continue
        if dport == port and sport != port:
            entered.setdefault(k, t)
        elif sport == port:
            left.setdefault(k, t)
            if k[0] == 'response':
                answered.setdefault((k[1], k[2]), t)
    if not entered:
        print('nothing captured')
        return
    t0 = min(entered.values())
    spent = []
    for k, t_in in entered.items():
        t_out = left.get(k)
        if t_out is None and k[0] == 'request':
            t_out = answered.get((k[1], k[2]))
        if t_out is not None and t_out >= t_in:
            spent.append((t_in, t_out - t_in))

    def line(v):
        return f'n={len(v)} p50 {pct(v, 0.5) * 1000:.3f} p99 {pct(v, 0.99) * 1000:.3f} max {max(v) * 1000:.3f} ms' if v else 'n=0'
    print(f'in the server, first second: {line([s for t, s in spent if t - t0 < 1])}; whole run: {line([s for _, s in spent])}')


if __name__ == '__main__':
    if len(sys.argv) >= 3 and sys.argv[1] == 'rtt':
        rtt(sys.argv[2])
    elif len(sys.argv) >= 4 and sys.argv[1] == 'pcap':
        pcap(sys.argv[2], int(sys.argv[3]))
    else:
        print(__doc__)
        sys.exit(2)
