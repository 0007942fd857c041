"""load.py - produces generate.lua's `topic|key|json` lines (stdin) to Kafka
with the keys as Connect's IntegerConverter writes them (4-byte big-endian),
which is what the pipeline's `int` key serde reads; kcat can only write text
keys.

    luajit examples/supply_demand/generate.lua --orders 300 \\
      | /usr/bin/python3 examples/supply_demand/load.py 127.0.0.1:PORT
"""
import struct
import sys

from confluent_kafka import Producer


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: load.py BOOTSTRAP < topic|key|json lines")
    producer = Producer({"bootstrap.servers": sys.argv[1], "linger.ms": 5})
    count = 0
    for number, line in enumerate(sys.stdin, 1):
        parts = line.rstrip("\n").split("|", 2)
        if len(parts) != 3 or not parts[1].lstrip("-").isdigit():
            sys.exit("load.py: line %d is not topic|int key|json: %r" % (number, line[:80]))
        topic, key, value = parts
        producer.produce(topic, key=struct.pack(">i", int(key)), value=value)
        producer.poll(0)
        count += 1
    if producer.flush(30) != 0:
        sys.exit("load.py: some records were not delivered within 30 s")
    print("load.py: %d records" % count, file=sys.stderr)


if __name__ == "__main__":
    main()
