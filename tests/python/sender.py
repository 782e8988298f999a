"""A sender that knows nothing of typed-ipc: `struct.pack` and the posix_ipc and sysv_ipc
packages from PyPI, as a Python tool would be written. Run by tests/foreign.rs:

    python3 sender.py mq /NAME COUNT      # into an existing POSIX queue
    python3 sender.py sysv KEY COUNT      # into an existing System V queue, type 1

Each message is a `Reading` (see tests/foreign.rs): seq u32, kind u8, 3 bytes of
padding, value f32, in native byte order with no alignment padding beyond the fields.
"""
import struct
import sys

import posix_ipc
import sysv_ipc

READING = struct.Struct("=IB3xf")


def reading(i):
    return READING.pack(i, 2 if i % 2 else 1, i * 0.5)


def main():
    kind, where, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if kind == "mq":
        q = posix_ipc.MessageQueue(where)
        for i in range(count):
            q.send(reading(i))
        q.close()
    elif kind == "sysv":
        q = sysv_ipc.MessageQueue(int(where))
        for i in range(count):
            q.send(reading(i), type=1)
    else:
        sys.exit("usage: sender.py mq|sysv WHERE COUNT")


if __name__ == "__main__":
    main()
