#!/usr/bin/env python3
"""Writes fuzz seeds from the real L2TP/IPsec captures (a Linux client, strongSwan +
xl2tpd + pppd, against SoftEther; see /work/shared/captures/README.md): every IKE
message, UDP 4500 datagram, ESP packet, L2TP message, AVP list, PPP frame and IPv4
packet in them, decrypted with the keys the captures come with, into the seed
directories of the fuzz targets that parse each (fuzz/corpus/<target>/capture-*).

    python3 scripts/fuzz-seeds-from-captures.py /work/shared/captures fuzz/corpus

Needs python3-cryptography (AES-CBC for the ESP payloads). The seeds are small (a few
hundred files of under 600 bytes); the stateful targets get whole conversations in
their own input formats (see each target's documentation)."""

import csv
import hashlib
import os
import struct
import sys

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

CLIENTS = {"198.51.100.2", "192.0.2.2"}


def packets(path):
    """(IPv4 packet bytes) of every Ethernet frame in a classic pcap."""
    data = open(path, "rb").read()
    magic, _, _, _, _, _, link = struct.unpack("<IHHiIII", data[:24])
    assert magic == 0xA1B2C3D4 and link == 1, path
    off = 24
    while off < len(data):
        _, _, cap, _ = struct.unpack("<IIII", data[off : off + 16])
        frame = data[off + 16 : off + 16 + cap]
        off += 16 + cap
        if frame[12:14] == b"\x08\x00":
            yield frame[14:]


def ip4(pkt):
    return ".".join(str(b) for b in pkt[12:16]), ".".join(str(b) for b in pkt[16:20])


def esp_keys(path):
    """SPI -> AES-CBC key, from Wireshark's esp_sa file."""
    keys = {}
    for row in csv.reader(open(path)):
        keys[int(row[3], 16)] = bytes.fromhex(row[5][2:])
    return keys


def esp_decrypt(keys, esp):
    spi = struct.unpack(">I", esp[:4])[0]
    key = keys.get(spi)
    if key is None:
        return None
    iv, body = esp[8:24], esp[24:-12]
    dec = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    plain = dec.update(body) + dec.finalize()
    pad, nh = plain[-2], plain[-1]
    return nh, plain[: -2 - pad]


class Seeds:
    def __init__(self, root):
        self.root = root
        self.count = {}

    def add(self, target, data, name=None):
        d = os.path.join(self.root, target)
        os.makedirs(d, exist_ok=True)
        name = name or "capture-" + hashlib.sha1(data).hexdigest()[:16]
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
        self.count[target] = self.count.get(target, 0) + 1


def l2tp_ids(msg):
    """(offset of the Tunnel ID, is control) in an L2TP header."""
    at = 4 if msg[0] & 0x40 else 2
    return at, bool(msg[0] & 0x80)


def main():
    captures, out = sys.argv[1], sys.argv[2]
    seeds = Seeds(out)
    for name in ("softether-direct-mschapv2", "softether-nat-mschapv2"):
        keys = esp_keys(os.path.join(captures, name + ".esp_sa"))
        to_lns, to_lac = bytearray(), bytearray([0])  # l2tp_lns, l2tp_lac inputs
        to_server_ike = bytearray()  # ike_responder input
        ppp_to_server, ppp_to_client = bytearray([0]), bytearray()
        for pkt in packets(os.path.join(captures, name + ".pcap")):
            if len(pkt) < 28 or pkt[9] != 17:
                continue
            src, _ = ip4(pkt)
            from_client = src in CLIENTS
            seeds.add("wire_views", pkt)
            hl = (pkt[0] & 0x0F) * 4
            sport, dport = struct.unpack(">HH", pkt[hl : hl + 4])
            udp = pkt[hl + 8 :]
            ike = None
            if 500 in (sport, dport):
                ike = udp
            elif 4500 in (sport, dport):
                seeds.add("nat_t_classify", udp)
                if udp[:4] == b"\0\0\0\0":
                    ike = udp[4:]
                elif len(udp) > 36:
                    # The ESP packet, with its keys, for esp_open (suite 10: AES-CBC-256
                    # with HMAC-SHA1-96; keymat = cipher key, then an integrity key we
                    # do not have, so the ICV check fails: the parse paths still run).
                    spi = struct.unpack(">I", udp[:4])[0]
                    if spi in keys:
                        seeds.add("esp_open", bytes([10, 0, 1]) + keys[spi] + bytes(20) + udp)
                    # The same packet as raw ESP (IP protocol 50) for gateway_raw_esp.
                    raw = bytearray(pkt[:hl]) + udp
                    raw[9] = 50
                    raw[2:4] = struct.pack(">H", len(raw))
                    seeds.add("gateway_raw_esp", bytes(raw))
                    d = esp_decrypt(keys, udp)
                    if d and d[0] == 17:
                        l2tp = d[1][8:]
                        seeds.add("l2tp_control", l2tp)
                        at, control = l2tp_ids(l2tp)
                        tunnel, session = l2tp[at : at + 2], l2tp[at + 2 : at + 4]
                        if control and len(l2tp) > 12:
                            seeds.add("l2tp_avp", l2tp[12:])
                        if not control:
                            # After the IDs: Ns/Nr (S bit), then Offset Size and padding
                            # (O bit).
                            body = at + 4 + (4 if l2tp[0] & 0x08 else 0)
                            if l2tp[0] & 0x02:
                                body += 2 + struct.unpack(">H", l2tp[body : body + 2])[0]
                            frame = l2tp[body:]
                            seeds.add("ppp_frame", frame)
                            if frame[2:4] == b"\x00\x21":
                                inner = frame[4:]
                                seeds.add("wire_views", inner)
                                seeds.add("gateway_mss", b"\x05\x00" + inner)
                            if len(frame) < 256:
                                (ppp_to_server if from_client else ppp_to_client).extend(
                                    bytes([0, len(frame)]) + frame
                                )
                        # l2tp_lns: op 0 as is, 1 with our Tunnel ID, 2 with both IDs.
                        op = 0 if tunnel == b"\0\0" else (1 if session == b"\0\0" else 2)
                        if from_client and len(l2tp) < 256:
                            to_lns.extend(bytes([op, 0, len(l2tp)]) + l2tp)
                        if not from_client:
                            op = 1 if session == b"\0\0" else 2
                            to_lac.extend(bytes([op, 0]) + struct.pack(">H", len(l2tp)) + l2tp)
            if ike is not None and len(ike) >= 28:
                seeds.add("ike_message", ike)
                if from_client:
                    ctl = 1 if 4500 in (sport, dport) else 0
                    to_server_ike.extend(bytes([ctl]) + struct.pack(">H", len(ike)) + ike)
        seeds.add("l2tp_lns", bytes(to_lns), "capture-" + name)
        seeds.add("l2tp_lac", bytes(to_lac), "capture-" + name)
        seeds.add("ike_responder", bytes(to_server_ike), "capture-" + name)
        seeds.add("ppp_session", bytes(ppp_to_server), "capture-" + name)
        seeds.add("ppp_client", bytes(ppp_to_client), "capture-" + name)
    for t, n in sorted(seeds.count.items()):
        print(f"{t}: {n}")


if __name__ == "__main__":
    main()
