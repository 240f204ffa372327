"""Runs a packaged function the way Lambda's managed Python runtime would, without AWS.

    unshare -m --propagation private python deploy_sandbox.py LAYER_ZIP FUNCTION_ZIP RESULT_JSON EVENT...

In a private mount namespace (root only; nothing leaks to the host) it puts a
tmpfs on /opt and /var, unpacks layer.zip under /opt and function.zip under
/var/task keeping their modes, binds the test interpreter at
/var/lang/bin/python3 (the managed runtime's interpreter), places a managed
`/var/runtime/bootstrap` that must never run, makes /opt and /var/task
read-only as on Lambda, and starts the embedded Runtime API emulator with the
runtime command Lambda uses when AWS_LAMBDA_EXEC_WRAPPER is set:
`/opt/dispatcher-wrapper /var/runtime/bootstrap`.  The runtime's environment
is the managed runtime's, plus PYTHONVERBOSE=1 so that its stderr shows every
import and where each module's code came from.  RESULT_JSON receives each
invocation's outcome and body, and the runtime's stderr.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import zipfile

from dispatcher.emulator import Emulator

MANAGED_BOOTSTRAP = "#!/bin/sh\necho 'MANAGED BOOTSTRAP RAN' >&2\nexit 1\n"


def _sh(*cmd: str) -> None:
    subprocess.run(cmd, check=True)


def _unzip(archive: str, into: str) -> None:
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            path = zf.extract(info, into)
            os.chmod(path, (info.external_attr >> 16) & 0o777)


def main(layer: str, function: str, result_path: str, events: list[str]) -> None:
    interpreter = os.path.realpath(sys.executable)
    _sh("mount", "-t", "tmpfs", "tmpfs", "/opt")
    _sh("mount", "-t", "tmpfs", "tmpfs", "/var")
    for folder in ("/var/task", "/var/lang/bin", "/var/runtime", "/var/tmp"):
        os.makedirs(folder)
    with open("/var/lang/bin/python3", "w"):
        pass
    _sh("mount", "--bind", interpreter, "/var/lang/bin/python3")
    with open("/var/runtime/bootstrap", "w") as f:
        f.write(MANAGED_BOOTSTRAP)
    os.chmod("/var/runtime/bootstrap", 0o755)
    _unzip(layer, "/opt")
    _unzip(function, "/var/task")
    for folder in ("/opt", "/var/task"):
        _sh("mount", "--bind", folder, folder)
        _sh("mount", "-o", "remount,bind,ro", folder)
    env = {
        "PATH": "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin",
        "LD_LIBRARY_PATH": "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "PYTHONPATH": "/var/runtime",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python%d.%d" % sys.version_info[:2],
        "AWS_LAMBDA_EXEC_WRAPPER": "/opt/dispatcher-wrapper",
        "PYTHONVERBOSE": "1",
    }
    results = []
    with tempfile.TemporaryFile() as stderr:
        emu = Emulator(
            runtime_argv=["/opt/dispatcher-wrapper", "/var/runtime/bootstrap"],
            env=env,
            task_root="/var/task",
            handler="lambda_function.lambda_handler",  # what a managed runtime's function has; names no worker
            function_timeout=10.0,
            runtime_stderr=stderr,
        )
        with emu:
            emu.start()
            for event in events:
                res = emu.invoke(event.encode())
                results.append({"outcome": res.outcome, "body": res.body.decode("utf-8", "replace"), "init_ms": res.init_duration_ms})
        stderr.seek(0)
        log = stderr.read().decode("utf-8", "replace")
    with open(result_path, "w") as f:
        json.dump({"results": results, "stderr": log}, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:])
