#!/usr/bin/env python3
"""Extracts the ESP packets (UDP 4500 payloads without the non-ESP marker) of a pcap.

Usage: extract_capture.py CAPTURE.pcap [MAX_PER_SPI]
Prints one line per ESP packet: "<spi hex> <seq> <hex bytes from the SPI on>".
A tiny reader for classic pcap with Ethernet or Linux cooked (SLL) framing, IPv4 only.
"""
import struct
import sys


def packets(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    off = 24
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack(endian + "IIII", data[off:off + 16])
        off += 16
        frame = data[off:off + incl]
        off += incl
        if linktype == 1:  # Ethernet
            ethertype = struct.unpack(">H", frame[12:14])[0]
            ip = frame[14:]
        elif linktype == 113:  # Linux cooked
            ethertype = struct.unpack(">H", frame[14:16])[0]
            ip = frame[16:]
        elif linktype == 101:  # raw IP
            ethertype, ip = 0x0800, frame
        else:
            raise SystemExit(f"unsupported link type {linktype}")
        if ethertype != 0x0800 or ip[0] >> 4 != 4:
            continue
        ihl = (ip[0] & 15) * 4
        total = struct.unpack(">H", ip[2:4])[0]
        ip = ip[:total]
        if ip[9] == 17:
            udp = ip[ihl:]
            sport, dport = struct.unpack(">HH", udp[:4])
            payload = udp[8:]
            if 4500 in (sport, dport) and len(payload) > 8 and payload[:4] != b"\0\0\0\0":
                yield payload
        elif ip[9] == 50:
            yield ip[ihl:]


def main():
    limit = int(sys.argv[2]) if len(sys.argv) > 2 else 1 << 30
    seen = {}
    for p in packets(sys.argv[1]):
        spi, seq = struct.unpack(">II", p[:8])
        seen[spi] = seen.get(spi, 0) + 1
        if seen[spi] <= limit:
            print(f"{spi:08x} {seq} {p.hex()}")


if __name__ == "__main__":
    main()
