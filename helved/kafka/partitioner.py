"""Which partition a key lands in: Kafka's Java default partitioner, which `ReliableProducer`
matches (`partitioner=murmur2_random`)."""

from __future__ import annotations


def murmur2(data: bytes) -> int:
    """Kafka's Java `Utils.murmur2`, as an unsigned 32-bit value."""
    m, mask = 0x5BD1E995, 0xFFFFFFFF
    h = (0x9747B28C ^ len(data)) & mask
    whole = len(data) & ~3
    for i in range(0, whole, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * m) & mask
        k ^= k >> 24
        k = (k * m) & mask
        h = ((h * m) & mask) ^ k
    tail = data[whole:]
    if len(tail) == 3:
        h ^= tail[2] << 16
    if len(tail) >= 2:
        h ^= tail[1] << 8
    if tail:
        h = ((h ^ tail[0]) * m) & mask
    h ^= h >> 13
    h = (h * m) & mask
    return h ^ (h >> 15)


def partition_for(key: str, partitions: int) -> int:
    """The partition of a keyed record among `partitions`."""
    return (murmur2(key.encode("utf-8")) & 0x7FFFFFFF) % partitions


def key_in_same_partition(base: str, like: str, partitions: int) -> str:
    """`base`, or `base-1`, `base-2`, … : the first that lands in the partition of `like`.

    Records of one partition are read in order; records of different keys in different
    partitions are not. A request that must arrive after another one goes to its partition.
    """
    target = partition_for(like, partitions)
    key, n = base, 0
    while partition_for(key, partitions) != target:
        n += 1
        key = f"{base}-{n}"
    return key
