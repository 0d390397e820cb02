#!/usr/bin/env python3
# Writes a sparse raw disk image of mixed content for bench/img-convert.sh:
# per 1 MiB piece, compressible text, random bytes, written zeros or a hole.
# Deterministic for a given size (seeded), so runs compare like with like.
import os
import random
import sys

MiB = 1 << 20


def main():
    path, size = sys.argv[1], int(sys.argv[2])
    rng = random.Random(42)
    words = [''.join(rng.choice('etaoinshrdlucmfwypvbgkjqxz')
                     for _ in range(rng.randint(2, 10)))
             for _ in range(5000)]
    text = bytearray()
    while len(text) < 16 * MiB:
        line = ' '.join(rng.choice(words) for _ in range(rng.randint(4, 14)))
        text += (line + '\n').encode()
    text = bytes(text)
    zeros = bytes(MiB)
    with open(path, 'wb') as f:
        f.truncate(size)
        for off in range(0, size, MiB):
            n = min(MiB, size - off)
            kind = rng.random()
            if kind < 0.40:
                start = rng.randrange(0, len(text) - MiB)
                data = text[start:start + n]
            elif kind < 0.65:
                data = os.urandom(n)
            elif kind < 0.75:
                data = zeros[:n]
            else:
                continue
            f.seek(off)
            f.write(data)


main()
