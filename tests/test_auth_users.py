"""The users file: people with argon2 hashes and roles, API tokens kept as SHA-256 digests; every mistake
stops the server with the file, the place and the fix."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from app.auth.errors import AuthConfigInvalid, StartRefused
from app.auth.passwords import hash_password, verify_password
from app.auth.roles import Role, Scope
from app.auth.tokens import bearer_token, new_token, token_digest, token_identity
from app.auth.users import CredentialsFile, load_credentials

FIXTURES = Path(__file__).parent / "fixtures" / "auth"
COLLECTOR_TOKEN = "tp_test-collector-token-0000000000000000000000"
READER_TOKEN = "tp_test-reader-token-000000000000000000000000000"
ONCALL_TOKEN = "tp_test-oncall-token-00000000000000000000000000"


@pytest.mark.parametrize("name", ["users.good.toml", "users.good.yaml"])
def test_good_file_gives_each_user_a_role_and_each_token_its_scopes(name: str) -> None:
    credentials = load_credentials(FIXTURES / name)

    assert {u.name: u.role for u in credentials.users.values()} == {
        "alice": Role.ADMIN,
        "eddie": Role.EDITOR,
        "olga": Role.OPERATOR,
        "vic": Role.VIEWER,
    }
    assert {g.name: set(g.scopes) for g in credentials.tokens.values()} == {
        "collector": {Scope.INGEST},
        "reader": {Scope.READ},
        "oncall-bot": {Scope.READ, Scope.OPERATE},
    }


def test_password_checks_against_the_stored_hash() -> None:
    alice = load_credentials(FIXTURES / "users.good.toml").users["alice"]

    assert verify_password(alice.password_hash, "alice-password")
    assert not verify_password(alice.password_hash, "alice-password ")
    assert not verify_password(None, "alice-password")  # an unknown user never matches


def test_hash_password_makes_argon2id_hashes_that_verify() -> None:
    encoded = hash_password("correct horse battery staple")

    assert encoded.startswith("$argon2id$")
    assert verify_password(encoded, "correct horse battery staple")
    assert not verify_password(encoded, "Correct horse battery staple")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("users.bad-role.toml", "users.bob.role 'boss' is not one of viewer, operator, editor, admin"),
        (
            "users.bad-plain-password.toml",
            "users.bob.password is not an argon2 ($argon2id$…) or bcrypt ($2b$…) hash; never put a plain "
            "password here — `python -m app.auth hash-password` prints a hash",
        ),
        (
            "users.bad-token-digest.toml",
            "tokens.ci.sha256 must be the 64 lower-case hex digits of the token's SHA-256 "
            "(`python -m app.auth new-token` prints both); never the token itself",
        ),
        (
            "users.bad-token-scope.toml",
            "tokens.ci.scopes ['write'] must be a non-empty list of ingest, read, operate, edit, admin",
        ),
        ("users.bad-unknown-key.toml", "users.bob.email is not known (expected role and password)"),
        ("users.bad-empty.toml", "names no users and no tokens: nobody could sign in"),
    ],
)
def test_bad_entry_is_refused_with_its_field_path(name: str, message: str) -> None:
    with pytest.raises(AuthConfigInvalid) as refused:
        load_credentials(FIXTURES / name)

    assert str(refused.value) == f"users file {FIXTURES / name}: {message}"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("users.bad-syntax.toml", ":2:8: is not valid TOML: Invalid value"),
        ("users.bad-alias.yaml", ":2:8: YAML aliases (*name) are not allowed"),
        (
            "users.bad-python-tag.yaml",
            ":1:8: is not valid YAML: could not determine a constructor for the tag "
            "'tag:yaml.org,2002:python/object/apply:os.system'",
        ),
    ],
)
def test_unreadable_file_is_refused_at_its_line_and_column(name: str, message: str) -> None:
    with pytest.raises(AuthConfigInvalid) as refused:
        load_credentials(FIXTURES / name)

    assert str(refused.value) == f"users file {FIXTURES / name}{message}"


def test_python_tag_runs_nothing() -> None:
    marker = Path("/tmp/touchpoint-pwned")
    marker.unlink(missing_ok=True)

    with pytest.raises(AuthConfigInvalid):
        load_credentials(FIXTURES / "users.bad-python-tag.yaml")

    assert not marker.exists()


def test_alias_bomb_is_refused_before_it_is_built(tmp_path: Path) -> None:
    levels = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 12):
        refs = ", ".join([f"*a{level - 1}"] * 10)
        levels.append(f"a{level}: &a{level} [{refs}]")
    text = "\n".join(levels) + "\nusers:\n  bob: {role: viewer, password: *a11}\n"
    path = tmp_path / "users.yaml"
    path.write_text(text)
    started = time.perf_counter()

    with pytest.raises(AuthConfigInvalid, match="YAML aliases"):
        load_credentials(path)

    assert time.perf_counter() - started < 5  # 10^12 expanded items would never finish


def test_missing_file_is_named() -> None:
    with pytest.raises(AuthConfigInvalid, match=r"users file /nonexistent/users.toml: cannot be read"):
        load_credentials(Path("/nonexistent/users.toml"))


def test_a_refusal_to_start_is_a_clean_exit_with_status_1() -> None:
    refusal = AuthConfigInvalid("users file x: broken")

    assert isinstance(refusal, StartRefused) and isinstance(refusal, SystemExit)
    assert refusal.code == "users file x: broken"  # the interpreter prints it and exits with status 1


def test_token_is_found_by_its_digest_and_acts_with_its_scopes() -> None:
    credentials = load_credentials(FIXTURES / "users.good.toml")

    identity = token_identity(credentials, COLLECTOR_TOKEN)

    assert identity is not None
    assert (identity.name, identity.via, identity.scopes) == ("token:collector", "token", {Scope.INGEST})
    assert token_identity(credentials, COLLECTOR_TOKEN + "x") is None


def test_new_tokens_are_random_and_their_digest_is_their_sha256() -> None:
    first, digest = new_token()
    second, _ = new_token()

    assert first.startswith("tp_") and len(first) > 40 and first != second
    assert digest == token_digest(first) and len(digest) == 64


@pytest.mark.parametrize(
    ("header", "token"),
    [("Bearer abc", "abc"), ("bearer  abc ", "abc"), ("Basic abc", None), (None, None), ("", None)],
)
def test_bearer_header_gives_its_token(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


def test_changed_file_is_reread_and_a_broken_one_keeps_the_last_good(tmp_path: Path) -> None:
    path = tmp_path / "users.toml"
    shutil.copy(FIXTURES / "users.good.toml", path)
    source = CredentialsFile(path, check_every_s=0)
    assert "vic" in source.current().users

    path.write_text(path.read_text().replace("[users.vic]", "[users.victor]"))
    assert set(source.current().users) == {"alice", "eddie", "olga", "victor"}

    path.write_text("[users.victor\n")
    assert set(source.current().users) == {"alice", "eddie", "olga", "victor"}


def test_roles_are_ordered_by_what_they_may_do() -> None:
    ladder = [Role.VIEWER, Role.OPERATOR, Role.EDITOR, Role.ADMIN]

    for lower, higher in zip(ladder, ladder[1:], strict=False):
        assert lower.scopes < higher.scopes
    assert Scope.INGEST not in Role.EDITOR.scopes  # sending spans is for tokens (and admins)
