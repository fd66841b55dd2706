"""The output as a DuckLake, in one of two homes, and the one place that knows how to open it.

The embedded default (no ``--catalog``): a SQLite catalog beside the data files in a local
folder ``OUTPUT``::

    OUTPUT/catalog.sqlite            the DuckLake catalog (tables, snapshots, file lists)
    OUTPUT/catalog.sqlite.lock       held by the one run that writes (``schemas.lock``)
    OUTPUT/data/batches/<commit_id>/<table>/*.parquet   files Beam wrote for one commit
    OUTPUT/data/main/<table>/*.parquet                  files DuckLake wrote (compaction)

The remote lake (``--catalog postgresql://...``): the catalog is a PostgreSQL database that
every machine reaches, and ``OUTPUT`` (a local or shared folder, ``s3://bucket/prefix`` or
``gs://bucket/prefix``) holds the same ``data/`` layout; the writer lock is an advisory lock
of that database. A ``Lake`` names either home; every module opens it through this one, and
none branches on which home it is.

A commit registers a batch's files and changes the ledger in one catalog transaction, so a
reader sees a batch entirely or not at all. SQLite (in WAL mode) and PostgreSQL both let other
processes read while a run holds a write transaction. The extensions load from their PyPI
packages: nothing is downloaded.
"""
from __future__ import annotations

import atexit
import contextlib
import dataclasses
import functools
import getpass
import glob
import json
import os
import re
import shutil
import stat
import sys
import tempfile
import typing
import urllib.parse
from typing import Dict, List, Mapping, Optional, Union

import duckdb
import pyarrow as pa

from schemas.tables import ALL

LAKE = "lake"
CATALOG_FILE = "catalog.sqlite"
DATA_DIR = "data"


class CatalogError(RuntimeError):
    """The output has no usable catalog; the message says what to do."""


REMOTE_EXTRA = "remote"


def remote_hint() -> str:
    return (f"NEWS_INGEST_EXTRAS={REMOTE_EXTRA} ./run_local.sh ... installs it "
            f"(or: .venv/bin/pip install -e '.[{REMOTE_EXTRA}]')")


# A password where connection strings hold one (libpq key=value, or a URI's user:password@)
_PASSWORD_IN_DSN = re.compile(r"((?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s\"]+)")
_PASSWORD_IN_URI = re.compile(r"(://[^:/@\s\"]+:)[^@\s\"]+@")
# Keywords whose values are secrets
SECRET_KEYWORDS = ("password", "sslpassword")
# libpq's connection keywords: a string that starts with one is a key=value catalog
LIBPQ_KEYWORDS = ("host", "hostaddr", "port", "dbname", "user", "password", "passfile",
                  "service", "options", "application_name", "fallback_application_name",
                  "connect_timeout", "client_encoding", "keepalives", "sslmode", "sslrootcert",
                  "sslcert", "sslkey", "sslpassword", "target_session_attrs", "gssencmode",
                  "require_auth", "channel_binding", "load_balance_hosts")


def is_postgres(catalog: Optional[str]) -> bool:
    """Whether ``catalog`` names a PostgreSQL database (a URI or a libpq key=value string)."""
    if not catalog:
        return False
    c = catalog.strip()
    return (c.lower().startswith(("postgresql://", "postgres://"))
            or bool(re.match(rf"^\s*({'|'.join(LIBPQ_KEYWORDS)})\s*=", c)))


def parse_postgres(catalog: str) -> Dict[str, str]:
    """A PostgreSQL URI or libpq key=value string -> its libpq keywords (``ValueError`` when it
    cannot be read). Parsed here, not by a driver: readers and the dedup lookups on the
    workers need DuckDB alone (the writer lock and streaming's pane commits use psycopg)."""
    c = catalog.strip()
    if c.lower().startswith(("postgresql://", "postgres://")):
        u = urllib.parse.urlsplit(c)
        out: Dict[str, str] = {}
        if u.hostname:
            out["host"] = urllib.parse.unquote(u.hostname)
        try:
            port = u.port
        except ValueError:
            raise ValueError("the port is not a number") from None
        if port:
            out["port"] = str(port)
        if u.username:
            out["user"] = urllib.parse.unquote(u.username)
        if u.password is not None:
            out["password"] = urllib.parse.unquote(u.password)
        if u.path.strip("/"):
            out["dbname"] = urllib.parse.unquote(u.path.strip("/"))
        for k, v in urllib.parse.parse_qsl(u.query):
            out[k] = v
        return out
    out = {}
    for m in re.finditer(r"\s*([A-Za-z_]+)\s*=\s*('(?:[^'\\]|\\.)*'|\S*)", c):
        value = m.group(2)
        if value.startswith("'"):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        out[m.group(1)] = value
    if not out:
        raise ValueError("no key=value pairs")
    return out


def libpq_string(params: Mapping[str, str]) -> str:
    """libpq keywords -> a key=value connection string (values quoted where needed)."""
    def q(v: str) -> str:
        return v if v and re.fullmatch(r"[^\s'\\]+", v) else "'" + re.sub(r"(['\\])", r"\\\1", v) + "'"
    return " ".join(f"{k}={q(str(v))}" for k, v in params.items())


class Storage(typing.NamedTuple):
    """How DuckDB reaches an object store (Beam reads the same settings from its own
    options). ``endpoint``: ``host:port`` of an S3-compatible server, None for AWS itself."""
    key_id: Optional[str] = None
    secret: Optional[str] = None
    region: Optional[str] = None
    endpoint: Optional[str] = None
    use_ssl: bool = True
    session_token: Optional[str] = None


def storage_settings(s3_options: Optional[Mapping[str, Optional[str]]] = None,
                     env: Optional[Mapping[str, str]] = None) -> Storage:
    """The object-store settings from Beam's ``--s3_*`` options where given, else from the
    standard environment variables (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``,
    ``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``). A plain ``http://`` endpoint means no TLS."""
    o = dict(s3_options or {})
    env = os.environ if env is None else env
    url = o.get("s3_endpoint_url") or env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    endpoint, use_ssl = None, True
    if url:
        parts = urllib.parse.urlsplit(url if "://" in url else "https://" + url)
        endpoint, use_ssl = parts.netloc, parts.scheme != "http"
    if o.get("s3_disable_ssl") is True:
        use_ssl = False
    return Storage(o.get("s3_access_key_id") or env.get("AWS_ACCESS_KEY_ID"),
                   o.get("s3_secret_access_key") or env.get("AWS_SECRET_ACCESS_KEY"),
                   o.get("s3_region_name") or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION"),
                   endpoint, use_ssl,
                   o.get("s3_session_token") or env.get("AWS_SESSION_TOKEN"))


@dataclasses.dataclass(frozen=True)
class Lake:
    """Where a lake lives: ``output`` (a local folder, or an object-store prefix with a
    PostgreSQL catalog) and ``catalog`` (None: ``OUTPUT/catalog.sqlite``; a PostgreSQL URI or
    key=value string; any other string: a SQLite catalog file). ``storage``: how DuckDB
    reaches an object-store ``output`` (None: from the environment where it is opened).
    ``password``: the catalog's password when ``catalog`` has none (the driver's
    ``PGPASSWORD``, for workers that do not have it).

    Picklable: workers get it with their DoFns. DuckDB gets the password as a secret, never
    in a connection string (its errors quote those); ``repr`` and ``shown`` mask it."""
    output: str
    catalog: Optional[str] = None
    storage: Optional[Storage] = None
    password: Optional[str] = dataclasses.field(default=None, repr=False)

    @property
    def remote(self) -> bool:
        """The catalog is a PostgreSQL database (the lake every machine reaches)."""
        return is_postgres(self.catalog)

    @property
    def on_object_store(self) -> bool:
        return "://" in self.output and not self.output.lower().startswith("file://")

    @property
    def data_path(self) -> str:
        return data_path(self.output)

    @property
    def sqlite_path(self) -> str:
        return catalog_path(self.output, None if self.remote else self.catalog)

    def postgres(self) -> Dict[str, str]:
        """The catalog's libpq keywords, the password included (from ``password`` when the
        catalog string has none)."""
        try:
            params = parse_postgres(self.catalog or "")
        except ValueError as e:
            raise CatalogError(f"--catalog cannot be read as a PostgreSQL URI or key=value "
                               f"string ({e}): e.g. postgresql://USER:PASSWORD@HOST:5432/DBNAME") from None
        if self.password and not params.get("password"):
            params["password"] = self.password
        return params

    def dsn_without_password(self) -> str:
        """The catalog as a libpq string without its password (DuckDB gets that as a secret)."""
        return libpq_string({k: v for k, v in self.postgres().items() if k != "password"})

    def catalog_password(self) -> Optional[str]:
        return self.postgres().get("password") if self.remote else None

    def target(self) -> str:
        """What DuckDB attaches: ``ducklake:sqlite:PATH`` or ``ducklake:postgres:KEY=VALUE...``
        (without the password: ``new_duckdb`` gives it to DuckDB as a secret)."""
        if self.remote:
            return "ducklake:postgres:" + self.dsn_without_password()
        return "ducklake:sqlite:" + self.sqlite_path

    def secrets(self) -> List[str]:
        """The strings no log, report or error may show (with their quoted forms)."""
        found = []
        if self.remote:
            # a catalog that cannot be parsed is refused before it is used, and has no
            # password we could know
            with contextlib.suppress(CatalogError):
                params = self.postgres()
                for pw in (params.get(k) for k in SECRET_KEYWORDS):
                    if pw:
                        found += [pw, urllib.parse.quote(pw, safe=""), urllib.parse.quote(pw),
                                  libpq_string({"p": pw})[2:]]
        if self.storage is not None:
            found += [self.storage.secret, self.storage.session_token]
        return [s for s in found if s]

    def redact(self, text: str) -> str:
        """``text`` with every secret of this lake masked (``mask``)."""
        return mask(text, self.secrets())

    def shown(self) -> str:
        """The catalog as logs and the run history show it: its password masked, whatever
        its spelling (built from the parsed keywords, not by searching the string)."""
        if not self.remote:
            return self.sqlite_path
        return self._without_password("***")

    def without_password(self) -> str:
        """The catalog without its password, for a command a user pastes (libpq then reads
        the password from ``PGPASSWORD`` or ``~/.pgpass``)."""
        if not self.remote:
            return self.sqlite_path
        return self._without_password(None)

    def _without_password(self, mask: Optional[str]) -> str:
        c = (self.catalog or "").strip()
        try:
            params = parse_postgres(c)
        except ValueError:
            return "(a PostgreSQL catalog that cannot be read)"
        had = [k for k in SECRET_KEYWORDS if k in params]
        for k in SECRET_KEYWORDS:
            params.pop(k, None)
        if not c.lower().startswith(("postgresql://", "postgres://")):
            if mask:
                params.update({k: mask for k in had})
            return libpq_string(params)
        u = urllib.parse.urlsplit(c)
        host = u.netloc.rsplit("@", 1)[-1]
        user = urllib.parse.quote(urllib.parse.unquote(u.username), safe="") if u.username else ""
        if user and u.password is not None and mask:
            user += ":" + mask
        netloc = f"{user}@{host}" if user else host
        query = urllib.parse.urlencode([(k, mask if k in SECRET_KEYWORDS else v)
                                        for k, v in urllib.parse.parse_qsl(u.query)
                                        if mask or k not in SECRET_KEYWORDS])
        return urllib.parse.urlunsplit((u.scheme, netloc, u.path, query, u.fragment))

    def __repr__(self) -> str:
        return f"Lake({self.output!r}, catalog={self.shown()!r})"


def mask(text: str, secrets) -> str:
    """``text`` with ``secrets`` masked. A password in a connection string ("... password=X
    ...", "user:X@host", as DuckDB quotes them in its errors) is masked by its place, however
    short; elsewhere only secrets of six characters or more are searched for (masking
    shorter ones would mask ordinary words, and so tell them)."""
    text = _PASSWORD_IN_DSN.sub(r"\1***", text)
    text = _PASSWORD_IN_URI.sub(r"\1***@", text)
    for s in sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True):
        text = text.replace(s, "***")
    return text


def as_lake(output: Union[str, "Lake"], catalog: Optional[str] = None) -> "Lake":
    """``output`` as a ``Lake`` (a Lake stays as it is)."""
    if isinstance(output, Lake):
        return output
    return Lake(str(output).rstrip("/") if "://" not in str(output) else str(output), catalog)


def postgres_session(lake: "Lake", application_name: str):
    """A psycopg connection (autocommit) to a remote lake's catalog database, named
    ``application_name`` in ``pg_stat_activity``; a ``CatalogError`` without the password
    when it cannot be had."""
    try:
        import psycopg
    except ImportError:
        raise CatalogError(f"a PostgreSQL catalog needs the '{REMOTE_EXTRA}' extra, which is "
                           f"not installed: {remote_hint()}") from None
    params = dict(lake.postgres())
    params["application_name"] = application_name[:63]
    try:
        # keepalives: an idle watcher's session must not be dropped silently by the network
        return psycopg.connect(**{"keepalives": "1", "keepalives_idle": "60", **params},
                               autocommit=True, connect_timeout=10)
    except psycopg.Error as e:
        msg = lake.redact(str(e)).strip().splitlines()
        raise CatalogError(f"cannot reach the catalog {lake.shown()}: "
                           f"{msg[0] if msg else type(e).__name__}") from None


OWNER_FILE = "_lake.json"


def catalog_identity(lake: "Lake") -> str:
    """Which catalog database a remote lake's data path belongs to: host, port and database
    (no user, no password)."""
    p = lake.postgres()
    host = (p.get("host") or p.get("hostaddr") or os.environ.get("PGHOST") or "localhost").lower()
    port = p.get("port") or os.environ.get("PGPORT") or "5432"
    db = p.get("dbname") or os.environ.get("PGDATABASE") or p.get("user") or ""
    return f"{host}:{port}/{db}"


def claim_data_path(lake: "Lake") -> None:
    """A remote lake's data path names its catalog in ``OUTPUT/_lake.json``, written by the
    first writer; a writer with another catalog is refused (``CatalogError``) before it
    cleans up "orphans", which would be the other lake's files. Local lakes keep their
    catalog inside the folder: nothing to claim."""
    from apache_beam.io.filesystems import FileSystems
    if not lake.remote:
        return
    path = FileSystems.join(lake.output.rstrip("/"), OWNER_FILE)
    me = catalog_identity(lake)
    if FileSystems.exists(path):
        with FileSystems.open(path) as f:
            owner = json.loads(f.read().decode() or "{}").get("catalog")
        if owner and owner != me:
            raise CatalogError(f"{lake.output} holds the files of the lake whose catalog is "
                               f"{owner}, not {me}: give that --catalog, or another --output")
        return
    with FileSystems.create(path) as f:
        f.write(json.dumps({"catalog": me}).encode())


def drop_catalog(lake: "Lake") -> None:
    """``--overwrite``'s first step: the SQLite catalog file goes, or a PostgreSQL catalog's
    DuckLake tables (``ducklake_*``) are dropped in one transaction; the next writer's
    attach makes a new, empty lake. (The data files are the caller's to delete.)"""
    if not lake.remote:
        for suffix in ("", "-journal", "-wal", "-shm"):
            if os.path.exists(lake.sqlite_path + suffix):
                os.remove(lake.sqlite_path + suffix)
        return
    conn = postgres_session(lake, "news-ingest overwrite")
    try:
        names = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
            "AND tablename LIKE 'ducklake%%'").fetchall()]
        with conn.transaction():
            for name in names:
                conn.execute(f'DROP TABLE IF EXISTS "{name}" CASCADE')
    finally:
        conn.close()


def catalog_path(output: str, catalog: Optional[str] = None) -> str:
    """The SQLite catalog file of a local lake."""
    return catalog or os.path.join(output, CATALOG_FILE)


def data_path(output: str) -> str:
    return output.rstrip("/") + "/" + DATA_DIR + "/"


def _extension_file(package: str, name: str) -> str:
    found = [p for d in sys.path
             for p in glob.glob(os.path.join(d, package, "extensions", "v*", name))]
    if not found:
        raise CatalogError(f"the DuckDB extension package {package} is not installed: "
                           f"pip install {package.replace('_', '-')}=={duckdb.__version__}")
    return found[0]


def user_temp_folder(name: str, mode: int = 0o755, keep_fallback: bool = False) -> str:
    """``TMP/NAME-USER``: a folder of the temporary folder that nobody but this user or root
    can change; where someone else took that name, a new private folder for this process
    (removed at its exit unless ``keep_fallback``)."""
    user = os.getuid() if hasattr(os, "getuid") else getpass.getuser()
    folder = os.path.join(tempfile.gettempdir(), f"{name}-{user}")
    with contextlib.suppress(OSError):  # there already, or not makeable: checked below
        os.mkdir(folder, mode)
    if os.path.isdir(folder) and only_we_can_change(folder):
        return folder
    folder = tempfile.mkdtemp(prefix=f"{name}-")
    if not keep_fallback:
        atexit.register(shutil.rmtree, folder, True)
    return folder


@functools.lru_cache(maxsize=None)  # one decision (and at most one private folder) per process
def _copy_folder() -> str:
    """Where this user keeps the renamed SQLite extension (one folder per DuckDB version)."""
    return user_temp_folder(f"news-ingest-duckdb-{duckdb.__version__}")


def _sqlite_extension() -> str:
    """The SQLite extension under the name DuckDB expects: its package ships it as
    ``sqlite.duckdb_extension``, whose entry point is ``sqlite_scanner_init``."""
    src = _extension_file("duckdb_extension_sqlite", "sqlite.duckdb_extension")
    folder = _copy_folder()
    dst = os.path.join(folder, "sqlite_scanner.duckdb_extension")
    if not os.path.isfile(dst) or os.path.getsize(dst) != os.path.getsize(src):
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")  # a new file, never a planted link
        try:
            with os.fdopen(fd, "wb") as out, open(src, "rb") as f:
                shutil.copyfileobj(f, out)
            os.replace(tmp, dst)  # atomic: concurrent workers never load half a file
        except BaseException:
            with contextlib.suppress(OSError):
                os.remove(tmp)
            raise
    return dst


def _lake_extensions(lake: Optional["Lake"] = None) -> tuple:
    """The extension files a connection to ``lake`` loads (None: a local lake): DuckLake and
    SQLite always, PostgreSQL's for a remote catalog, httpfs for an object-store data path."""
    paths = [_extension_file("duckdb_extension_ducklake", "ducklake.duckdb_extension"),
             _sqlite_extension()]
    if lake is not None and lake.remote:
        paths.append(_remote_extension("duckdb_extension_postgres_scanner",
                                       "postgres_scanner.duckdb_extension", "a PostgreSQL catalog"))
    if lake is not None and lake.on_object_store:
        paths.append(_remote_extension("duckdb_extension_httpfs", "httpfs.duckdb_extension",
                                       f"a data path on {lake.output.split('://')[0]}://"))
    return tuple(os.path.realpath(p) for p in paths)


def _remote_extension(package: str, name: str, what: str) -> str:
    try:
        return _extension_file(package, name)
    except CatalogError:
        raise CatalogError(f"{what} needs the '{REMOTE_EXTRA}' extra, which is not installed: "
                           f"{remote_hint()}") from None


def load_extensions(con: "duckdb.DuckDBPyConnection", lake: Optional["Lake"] = None) -> None:
    for path in _lake_extensions(lake):
        con.execute(f"LOAD '{path}'")


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def configure_storage(con: "duckdb.DuckDBPyConnection", lake: "Lake") -> None:
    """Gives ``con`` the credentials of ``lake``'s object store (a temporary secret of this
    connection; nothing is written to disk)."""
    if not lake.on_object_store:
        return
    st = lake.storage or storage_settings()
    scheme = lake.output.split("://", 1)[0].lower()
    kind = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs"}.get(scheme)
    if kind is None:
        raise CatalogError(f"--output {lake.output}: DuckDB reads data paths on s3:// and gs:// "
                           "(or a local or shared folder), not on "
                           f"{scheme}://")
    parts = [f"TYPE {kind}"]
    if st.key_id:
        parts.append(f"KEY_ID {_sql_str(st.key_id)}")
    if st.secret:
        parts.append(f"SECRET {_sql_str(st.secret)}")
    if st.session_token and kind == "s3":
        parts.append(f"SESSION_TOKEN {_sql_str(st.session_token)}")
    if kind == "s3":
        if st.region:
            parts.append(f"REGION {_sql_str(st.region)}")
        if st.endpoint:  # an S3-compatible server: path-style addressing, as Beam's client uses
            parts += [f"ENDPOINT {_sql_str(st.endpoint)}", "URL_STYLE 'path'"]
        parts.append(f"USE_SSL {'true' if st.use_ssl else 'false'}")
    con.execute(f"CREATE OR REPLACE SECRET news_ingest_store ({', '.join(parts)})")


def only_we_can_change(path: str) -> bool:
    """True when nobody but this user or root can change the file at ``path`` (a real path,
    no links): the file and every folder above it belong to this user or root, and nobody
    else may write them, except folders like /tmp whose sticky bit keeps others from
    replacing what is not theirs. Where the system cannot tell, False."""
    if not hasattr(os, "getuid"):
        return False
    me = os.getuid()
    current = path
    while True:
        try:
            st = os.lstat(current)
        except OSError:
            return False
        if stat.S_ISLNK(st.st_mode) or st.st_uid not in (me, 0):
            return False
        if st.st_mode & 0o022 and not (stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISVTX):
            return False
        parent = os.path.dirname(current)
        if parent == current:
            return True
        current = parent


def attach_sql(output, catalog: Optional[str] = None, *, read_only: bool = True,
               snapshot: Optional[int] = None, alias: str = LAKE, shown: bool = False) -> str:
    """The ATTACH statement for the lake (what a user pastes into DuckDB). ``shown``: the
    form to print, without a password (libpq then takes it from ``PGPASSWORD`` or
    ``~/.pgpass``)."""
    lake = as_lake(output, catalog)
    opts = []
    if read_only:
        opts.append("READ_ONLY")
    else:
        opts.append(f"DATA_PATH {_sql_str(lake.data_path)}")
    if snapshot is not None:
        opts.append(f"SNAPSHOT_VERSION {int(snapshot)}")
    target = lake.target()
    if shown and lake.remote:
        target = "ducklake:postgres:" + libpq_string(
            {k: v for k, v in lake.postgres().items() if k != "password"})
    return f"ATTACH {_sql_str(target)} AS {alias} ({', '.join(opts)})"


def exists(output, catalog: Optional[str] = None) -> bool:
    """Whether the lake has been created (a run wrote to it)."""
    lake = as_lake(output, catalog)
    if not lake.remote:
        return os.path.exists(lake.sqlite_path)
    # the PostgreSQL extension and the password as a secret; no store
    con = new_duckdb(lake=Lake("", lake.catalog, password=lake.password))
    try:
        try:
            con.execute(f"ATTACH {_sql_str(lake.dsn_without_password())} AS pg_catalog_check "
                        "(TYPE postgres, READ_ONLY)")
        except duckdb.Error as e:
            raise CatalogError(f"cannot reach the catalog {lake.shown()}: "
                               f"{lake.redact(str(e)).strip().splitlines()[0]}") from None
        return con.execute("SELECT count(*) > 0 FROM duckdb_tables() WHERE database_name = "
                           "'pg_catalog_check' AND table_name = 'ducklake_metadata'").fetchone()[0]
    finally:
        con.close()


def new_duckdb(verify_extensions: bool = False,
               lake: Optional["Lake"] = None) -> "duckdb.DuckDBPyConnection":
    """An in-memory DuckDB with the extensions of ``lake`` loaded (None: a local lake's) and
    its object store's credentials (no lake attached).

    DuckDB checks an extension's signature on every load by hashing the whole file (two files
    of ~35 MB: 0.16 s of every connection, so of every run, worker lookup and report). These
    are the files pip installed from the extensions' packages; when nobody but this user or
    root can change them, the check repeats what the install established, and the pipeline's
    own connections skip it. ``verify_extensions``: check anyway (connections handed to users,
    which may load other extensions)."""
    paths = _lake_extensions(lake)
    trusted = not verify_extensions and all(only_we_can_change(p) for p in paths)
    # nothing is ever downloaded into a connection that takes unsigned extensions
    config = {"allow_unsigned_extensions": "true", "autoinstall_known_extensions": "false"}
    con = duckdb.connect(config=config if trusted else {"autoinstall_known_extensions": "false"})
    for path in paths:
        con.execute(f"LOAD '{path}'")
    if lake is not None:
        configure_storage(con, lake)
        password = lake.catalog_password()
        if password:  # the catalog's password as a secret: never in a connection string
            con.execute(f"CREATE OR REPLACE SECRET __default_postgres (TYPE postgres, "
                        f"PASSWORD {_sql_str(password)})")
    return con


def open_lake(output, catalog: Optional[str] = None, *, read_only: bool = True,
              snapshot: Optional[int] = None,
              verify_extensions: bool = False,
              prepared: bool = False) -> "duckdb.DuckDBPyConnection":
    """A DuckDB connection with the lake attached as ``lake`` and selected (``USE lake``).
    ``output``: a ``Lake``, or an output folder (with ``catalog``, as ``as_lake`` reads them).

    Read-only connections see the last committed state (or ``snapshot``); a read-write one
    creates the lake, its tables and views when the output has none yet.
    ``verify_extensions``: see ``new_duckdb``. ``prepared``: this process has opened the lake
    for writing before, so its tables and catalog settings are in place; a read-write
    connection then skips those checks (~40 ms instead of ~200), all but a local catalog's
    file being there (attaching would make a new, empty lake).
    """
    lake = as_lake(output, catalog)
    if ((read_only and not prepared) or (prepared and not lake.remote)) and not exists(lake):
        where = (f"its catalog {lake.shown()} holds no lake" if lake.remote
                 else f"{lake.sqlite_path} is missing")
        raise CatalogError(f"{lake.output} holds no ingest output ({where}): run the pipeline "
                           "with --output (and --catalog) pointing there first")
    if not read_only and not prepared and not lake.remote:
        use_wal(lake.sqlite_path)
    con = new_duckdb(verify_extensions, lake)
    attach(con, lake, read_only=read_only, snapshot=snapshot)
    con.execute(f"USE {LAKE}")
    if not read_only and not prepared:
        create_tables(con)
    return con


def attach(con: "duckdb.DuckDBPyConnection", lake: "Lake", *, read_only: bool = True,
           snapshot: Optional[int] = None, alias: str = LAKE) -> None:
    """Attaches ``lake`` to ``con`` as ``alias``; a failure is a ``CatalogError`` whose
    message shows no password."""
    try:
        con.execute(attach_sql(lake, read_only=read_only, snapshot=snapshot, alias=alias))
    except duckdb.Error as e:
        first = lake.redact(str(e)).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CatalogError(f"cannot open the lake at {lake.output} (catalog {lake.shown()}): "
                           f"{first}") from None


def use_wal(path: str) -> None:
    """Puts the SQLite catalog in write-ahead-log mode (it stays so in the file). In SQLite's
    default mode a reader's open connection holds a lock that makes a writer's commit wait,
    then fail with "database is locked"; with the log, readers never block the writer and
    each keeps a consistent snapshot."""
    import sqlite3
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode=WAL")
    db.close()


def create_tables(con: "duckdb.DuckDBPyConnection") -> None:
    """Every table of ``schemas.tables`` (columns from the Arrow schemas) and the views; in a
    lake made by an earlier version, the nullable columns added since (older rows: null)."""
    existing = {r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = ?", [LAKE]).fetchall()}
    missing = [name for name in ALL if name not in existing]
    have: Dict[str, set] = {}
    for table, column in con.execute(  # one query for every table's columns (not one each)
            "SELECT table_name, column_name FROM duckdb_columns() WHERE database_name = ?",
            [LAKE]).fetchall():
        have.setdefault(table, set()).add(column)
    added = [(name, f) for name in sorted(existing & set(ALL)) for f in ALL[name]
             if f.name not in have.get(name, set()) and f.nullable]
    # views of an earlier version of views.sql are replaced (each is CREATE OR REPLACE)
    views = {r[0] for r in con.execute(
        "SELECT view_name FROM duckdb_views() WHERE database_name = ?", [LAKE]).fetchall()}
    stale = ("views_version" not in views or con.execute(
        f"SELECT version FROM {LAKE}.views_version").fetchone()[0] < VIEWS_VERSION)
    if not missing and not added and not stale:
        return
    con.execute("BEGIN")
    for name in missing:
        empty = pa.Table.from_batches([], schema=ALL[name])  # noqa: F841 (read by DuckDB)
        con.execute(f"CREATE TABLE {LAKE}.{name} AS SELECT * FROM empty")
    for name, field in added:
        one_column = pa.Table.from_batches([], schema=pa.schema([field]))  # noqa: F841
        sql_type = con.execute("SELECT column_type FROM (DESCRIBE SELECT * FROM one_column)").fetchone()[0]
        con.execute(f'ALTER TABLE {LAKE}.{name} ADD COLUMN "{field.name}" {sql_type}')
    if missing or stale:
        con.execute(views_sql())
        con.execute(f"CREATE OR REPLACE VIEW {LAKE}.views_version AS SELECT {VIEWS_VERSION} AS version")
    con.execute("COMMIT")


# The version of views.sql: raise it when a view changes, and every lake opened for writing
# by this or a later version gets the views anew (``views_version`` holds the one a lake has;
# an older build never replaces a newer build's views).
VIEWS_VERSION = 9


def views_sql() -> str:
    from importlib import resources
    return resources.files("schemas").joinpath("views.sql").read_text(encoding="utf-8")


def snapshot_of_run(con: "duckdb.DuckDBPyConnection", run_id: str) -> int:
    """The snapshot of the last commit of ``run_id`` (each commit names its run)."""
    rows = con.execute(f"SELECT snapshot_id, commit_extra_info FROM {LAKE}.snapshots() "
                       "WHERE commit_extra_info IS NOT NULL ORDER BY snapshot_id").fetchall()
    found = [sid for sid, info in rows if json.loads(info).get("run_id") == run_id]
    if not found:
        raise CatalogError(f"no committed run {run_id!r} in this output: "
                           "`python -m pipeline runs OUTPUT` lists them")
    return found[-1]
