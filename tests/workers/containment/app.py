"""msgpack worker (Python adapter) for tests/test_containment.py: the handler
starts a background child and a setsid()ed grandchild, writes every pid to
$PIDS and hangs, so the test can SIGKILL the supervisor mid-invocation."""

import os
import subprocess
import sys
import time


def handler(event, context):
    bg = subprocess.Popen(["sleep", "300"])
    detached = subprocess.Popen([sys.executable, "-c", "import os, time; os.setsid(); time.sleep(300)"])
    with open(os.environ["PIDS"], "a") as f:
        f.write(f"{os.getpid()} {bg.pid} {detached.pid}\n")
    time.sleep(300)
    return {}
