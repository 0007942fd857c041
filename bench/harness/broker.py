"""broker.py - a fresh `streamhost broker` per workload, so that runs never
see each other's topics, groups or leftover records.

Every topic a run will touch is created up front with --topic: the mock
cluster has no CreateTopics and would auto-create unknown topics with only 4
partitions, which both caps what it keeps and breaks co-partitioning."""
import os
import signal
import subprocess


class Broker:
    def __init__(self, streamhost, topics, log_path, registry=False):
        args = [streamhost, "broker"] + (["--registry"] if registry else [])
        for name, partitions in topics:
            args += ["--topic", f"{name}:{partitions}"]
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("bootstrap.servers="):
            self.stop()
            raise RuntimeError(f"streamhost broker did not start (see {log_path}): {line!r}")
        self.bootstrap = line.split("=", 1)[1]
        self.registry = None
        if registry:  # `schema.registry.url=...` follows the bootstrap line
            self.registry = self.proc.stdout.readline().strip().split("=", 1)[-1]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
