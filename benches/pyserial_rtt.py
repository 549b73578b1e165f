"""The same SCPI query round trip as benches/sim.rs, from a Python pyserial client.

Usage: python3 benches/pyserial_rtt.py /dev/pts/N [count]
Prints: mean_us p50_us p99_us
"""
import sys
import time

import serial


def main() -> None:
    path = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
    port = serial.Serial(path, 115200, timeout=0.5, exclusive=True)
    for _ in range(1000):
        port.write(b"*IDN?\n")
        port.readline()
    samples = []
    for _ in range(count):
        t = time.perf_counter()
        port.write(b":MEAS:VOLT? CH1\n")
        reply = port.readline()
        samples.append(time.perf_counter() - t)
        if not reply.endswith(b"\n"):
            raise SystemExit(f"no reply: {reply!r}")
    samples.sort()
    mean = sum(samples) / len(samples)
    print(f"{mean * 1e6:.1f} {samples[len(samples) // 2] * 1e6:.1f} {samples[int(len(samples) * 0.99)] * 1e6:.1f}")


if __name__ == "__main__":
    main()
