"""How a lake is named (``schemas.catalog.Lake``): catalogs read as PostgreSQL URIs or libpq
strings, object-store settings from Beam's options or the standard variables, and no
password or key in anything a user or a log sees. Pure functions: no server."""
import pickle

import pytest

from schemas.catalog import (CatalogError, Lake, attach_sql, is_postgres, libpq_string,
                             parse_postgres, storage_settings)


def test_catalogs_are_postgresql_uris_or_libpq_strings_and_nothing_else():
    assert is_postgres("postgresql://u@h/db") and is_postgres("postgres://h/db")
    assert is_postgres("host=h dbname=lake") and is_postgres("  dbname=lake")
    assert not is_postgres(None) and not is_postgres("") and not is_postgres("mysql://u@h/db")
    assert not is_postgres("/data/catalog.sqlite")


def test_a_uri_and_a_libpq_string_read_the_same():
    uri = parse_postgres("postgresql://news%40corp:p%2Fw@db.internal:6432/lake?sslmode=require")
    assert uri == {"host": "db.internal", "port": "6432", "user": "news@corp", "password": "p/w",
                   "dbname": "lake", "sslmode": "require"}
    kv = parse_postgres(r"host=db.internal port=6432 user=news@corp password='p/w \'x' dbname=lake")
    assert kv["password"] == "p/w 'x" and kv["dbname"] == "lake"
    # and back: a string libpq reads as the same keywords
    assert parse_postgres(libpq_string(kv)) == kv
    with pytest.raises(ValueError, match="port is not a number"):
        parse_postgres("postgresql://u@h:port/db")


def test_no_password_or_key_in_what_is_shown():
    lake = Lake("s3://b/lake", "postgresql://news:Sup3r%2FSecret@db:5432/lake",
                storage_settings({"s3_secret_access_key": "KeyOfTheStore"}, env={}))
    assert "Sup3r" not in repr(lake) and "KeyOfTheStore" not in repr(lake)
    assert lake.shown() == "postgresql://news:***@db:5432/lake"
    assert lake.without_password() == "postgresql://news@db:5432/lake"
    assert lake.redact("failed for Sup3r/Secret with KeyOfTheStore") == "failed for *** with ***"
    shown = attach_sql(lake, shown=True)
    assert shown == "ATTACH 'ducklake:postgres:host=db port=5432 user=news dbname=lake' AS lake (READ_ONLY)"
    # not even what DuckDB attaches has it (its errors quote that string): a secret gives it
    assert "Sup3r" not in lake.target() and lake.catalog_password() == "Sup3r/Secret"
    kv = Lake("s3://b", "host=db password=pw dbname=lake")
    assert kv.without_password() == "host=db dbname=lake" and kv.shown() == "host=db dbname=lake password=***"
    # however the password is spelt
    for catalog in ("postgresql://u:p%2fss1@h/db", "postgresql://u:pa%2Dss1@h/db",
                    r"host=h password='it\'s x' dbname=db", "postgresql://u@h/db?password=qs-secret"):
        one = Lake("s3://b", catalog)
        assert one.catalog_password() not in one.shown() + one.without_password() + repr(one)
    # a password that is a common word masks nothing in free text (and so tells nothing)
    assert Lake("s3://b", "postgresql://u:lake@h/db").redact("cannot open the lake") == "cannot open the lake"
    # a password from the driver's PGPASSWORD travels with the lake to workers, unseen
    shipped = Lake("s3://b", "postgresql://u@h/db", password="FromTheEnv1")
    assert shipped.catalog_password() == "FromTheEnv1" and "FromTheEnv1" not in repr(shipped)
    assert shipped.redact("x FromTheEnv1 y") == "x *** y"
    with pytest.raises(CatalogError, match="cannot be read") as e:
        Lake("s3://b", "postgresql://u:pw@h:x/db").target()
    assert "pw" not in str(e.value).replace("PASSWORD", "")


def test_a_lake_travels_to_workers_whole():
    lake = Lake("s3://b/lake", "host=db dbname=lake", storage_settings(env={"AWS_ACCESS_KEY_ID": "k"}))
    assert pickle.loads(pickle.dumps(lake)) == lake
    assert lake.remote and lake.on_object_store and lake.data_path == "s3://b/lake/data/"
    local = Lake("/data/news")
    assert not local.remote and not local.on_object_store
    assert local.sqlite_path == "/data/news/catalog.sqlite" and local.target() == "ducklake:sqlite:/data/news/catalog.sqlite"


def test_store_settings_from_beams_options_first_then_the_standard_variables():
    env = {"AWS_ENDPOINT_URL": "https://minio.internal:9000", "AWS_ACCESS_KEY_ID": "env-key",
           "AWS_SECRET_ACCESS_KEY": "env-secret", "AWS_DEFAULT_REGION": "eu-west-1"}
    from_env = storage_settings({}, env=env)
    assert from_env == ("env-key", "env-secret", "eu-west-1", "minio.internal:9000", True, None)
    given = storage_settings({"s3_endpoint_url": "http://127.0.0.1:8333", "s3_access_key_id": "opt-key",
                              "s3_region_name": "us-east-1"}, env=env)
    # an http:// endpoint means no TLS; what the options leave out comes from the environment
    assert given == ("opt-key", "env-secret", "us-east-1", "127.0.0.1:8333", False, None)
    aws = storage_settings({}, env={"AWS_REGION": "us-east-2"})
    assert aws.endpoint is None and aws.use_ssl and aws.region == "us-east-2"


def test_the_run_history_keeps_no_secret(tmp_path):
    from apache_beam.options.pipeline_options import PipelineOptions
    from pipeline.options import settings
    options = PipelineOptions(["--catalog", "postgresql://news:Sup3rSecret@db/lake", "--output", "s3://b/l",
                               "--s3_secret_access_key=KeyOfTheStore", "--s3_access_key_id=AKIA123",
                               "--s3_session_token=TokenOfTheSession",
                               "--s3_endpoint_url=http://127.0.0.1:1"])
    asked = settings(options)
    text = repr(asked)
    assert "Sup3rSecret" not in text and "KeyOfTheStore" not in text and "AKIA123" not in text
    assert "TokenOfTheSession" not in text
    assert asked["catalog"] == "postgresql://news:***@db/lake"
    assert asked["beam"]["s3_secret_access_key"] == "***"
    assert asked["beam"]["s3_endpoint_url"] == "http://127.0.0.1:1"


def test_lists_of_strings_reach_queries_as_tables_and_leave_with_the_block():
    """``schemas.strings``: any strings (commas, quotes, unicode, empty) read back exactly,
    two blocks on one connection never meet, and nothing stays registered."""
    import duckdb
    from schemas.strings import string_tables
    con = duckdb.connect()
    values = ["a,b", "it's", "Zürich", "", "x" * 1000] + [f"k{i:05d}" for i in range(40000)]
    with string_tables(con, keys=values, other=["a,b"]) as t, string_tables(con, keys=[]) as u:
        assert t["keys"] != u["keys"]
        assert sorted(r[0] for r in con.execute(f"SELECT v FROM {t['keys']}").fetchall()) == sorted(values)
        assert con.execute(f"SELECT count(*) FROM {u['keys']}").fetchone() == (0,)
        assert con.execute(f"SELECT count(*) FROM {t['keys']} WHERE v IN (SELECT v FROM {t['other']})"
                           ).fetchone() == (1,)
        assert con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name LIKE 'strings_%'"
                           ).fetchone() == (3,)
    left = con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name LIKE 'strings_%'").fetchone()
    assert left == (0,)
