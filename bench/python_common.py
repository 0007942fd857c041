"""python_common.py - the consume/transform/produce loop shared by the Python
peers (python_passthrough.py, python_stateless.py, python_count.py).

It is written the way a user of python3-confluent-kafka would write it: a
subscribed consumer reading batches with consume(), a Producer with produce()
and poll(0), retrying on BufferError. Only the per-record function differs
between workloads, so it lives in each workload's file.

usage: python_<workload>.py BOOTSTRAP INPUT OUTPUT COUNT GROUP
Exits once COUNT input records are processed and their outputs delivered.
"""
import sys

from confluent_kafka import Consumer, Producer


def run(transform):
    bootstrap, source, sink, count, group = sys.argv[1:6]
    count = int(count)
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": True,
        # c_passthrough's setting: with librdkafka's default (100k) the
        # fetcher stalls until its 1 s wake-up (streamhost wakes it instead)
        "queued.min.messages": 1000000,
    })
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    consumer.subscribe([source])
    seen = 0
    while seen < count:
        for msg in consumer.consume(num_messages=1000, timeout=1.0):
            if msg.error():
                print("consume error:", msg.error(), file=sys.stderr)
                continue
            seen += 1
            out = transform(msg.key(), msg.value())
            if out is None:
                continue
            while True:
                try:
                    producer.produce(sink, value=out[1], key=out[0])
                    break
                except BufferError:
                    producer.poll(0.1)
        producer.poll(0)
    producer.flush()
    consumer.close()
