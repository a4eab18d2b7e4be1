#!/usr/bin/env python3
"""What a Kafka cluster says about itself, from one Metadata request (API 3, version 4).

Used by deploy/local/stack.sh for the three-node cluster, where starting a JVM tool for every
poll would cost seconds of CPU on a small machine. Standard library only.

  kafka_metadata.py --bootstrap H:P[,H:P...] brokers
      the ids of the brokers the cluster has registered (one a line)
  kafka_metadata.py --bootstrap ... leader TOPIC PARTITION
      the id of the partition's leader; exit 1 when it has none
  kafka_metadata.py --bootstrap ... in-sync [--node N] [--expect-brokers K]
      exit 0 when every partition (of every topic, internal ones too; with --node, those with a
      replica on node N) has all its replicas in sync and a leader, and when the cluster has K
      brokers registered; otherwise exit 1 and print what is missing
Exit 2 when no bootstrap address answers within --timeout seconds (default 3).
"""
import argparse
import socket
import struct
import sys

API_METADATA = 3
VERSION = 4  # the oldest Kafka 4 still serves (KIP-896); no tagged fields


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, fmt):
        value = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return value[0]

    def string(self):
        n = self.take(">h")
        if n < 0:
            return None
        value = self.data[self.pos:self.pos + n].decode()
        self.pos += n
        return value

    def array(self, item):
        n = self.take(">i")
        return [item() for _ in range(max(n, 0))]


def recv_exact(sock, n):
    chunks = []
    while n:
        chunk = sock.recv(n)
        if not chunk:
            raise ConnectionError("connection closed")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def metadata(address, timeout):
    host, port = address.rsplit(":", 1)
    client = b"stack.sh"
    request = struct.pack(">hhih", API_METADATA, VERSION, 1, len(client)) + client
    request += struct.pack(">i?", -1, False)  # all topics, create none
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(struct.pack(">i", len(request)) + request)
        size = struct.unpack(">i", recv_exact(sock, 4))[0]
        r = Reader(recv_exact(sock, size))
    r.take(">i")  # correlation id
    r.take(">i")  # throttle time
    brokers = r.array(lambda: (r.take(">i"), r.string(), r.take(">i"), r.string()))
    r.string()  # cluster id
    r.take(">i")  # controller id

    def partition():
        error, index, leader = r.take(">h"), r.take(">i"), r.take(">i")
        replicas = r.array(lambda: r.take(">i"))
        isr = r.array(lambda: r.take(">i"))
        return error, index, leader, replicas, isr

    def topic():
        error, name, _internal = r.take(">h"), r.string(), r.take(">?")
        return error, name, r.array(partition)

    topics = r.array(topic)
    return sorted(b[0] for b in brokers), topics


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--timeout", type=float, default=3.0)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("brokers")
    leader = sub.add_parser("leader")
    leader.add_argument("topic")
    leader.add_argument("partition", type=int)
    in_sync = sub.add_parser("in-sync")
    in_sync.add_argument("--node", type=int)
    in_sync.add_argument("--expect-brokers", type=int, default=0)
    args = parser.parse_args()

    errors = []
    for address in args.bootstrap.split(","):
        try:
            brokers, topics = metadata(address, args.timeout)
            break
        except (OSError, ConnectionError, struct.error, UnicodeDecodeError) as e:
            errors.append(f"{address}: {e}")
    else:
        print("no answer: " + "; ".join(errors), file=sys.stderr)
        return 2

    if args.command == "brokers":
        print("\n".join(map(str, brokers)))
        return 0
    if args.command == "leader":
        for error, name, partitions in topics:
            if name != args.topic:
                continue
            for _error, index, leader_id, _replicas, _isr in partitions:
                if index == args.partition:
                    if leader_id < 0:
                        print(f"{name}-{index} has no leader", file=sys.stderr)
                        return 1
                    print(leader_id)
                    return 0
        print(f"no partition {args.topic}-{args.partition}", file=sys.stderr)
        return 1
    missing = []
    if len(brokers) < args.expect_brokers:
        missing.append(f"{len(brokers)} of {args.expect_brokers} brokers registered {brokers}")
    for error, name, partitions in topics:
        for _error, index, leader_id, replicas, isr in partitions:
            if args.node is not None and args.node not in replicas:
                continue
            if leader_id < 0 or sorted(isr) != sorted(replicas):
                missing.append(f"{name}-{index} leader {leader_id} replicas {replicas} isr {isr}")
    if missing:
        print(f"{len(missing)} not in sync, e.g. " + "; ".join(missing[:5]), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
