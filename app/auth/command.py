"""`touchpoint auth …` (or `python -m app.auth …`): make password hashes and API tokens for the users file,
and check a users file."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the `auth` command and its subcommands."""
    p = subparsers.add_parser("auth", help="users file helpers: password hashes, API tokens, checking")
    add_subcommands(p)


def add_subcommands(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="auth_command", metavar="SUBCOMMAND", required=True)
    hp = sub.add_parser("hash-password", help="read a password, print its argon2id hash (or a users entry)")
    hp.add_argument("--user", help="print a whole [users.USER] entry for this user name")
    hp.add_argument("--role", default="viewer", choices=["viewer", "operator", "editor", "admin"])
    hp.add_argument("--stdin", action="store_true", help="read the password from standard input (no prompt)")
    hp.set_defaults(func=hash_password_command)
    nt = sub.add_parser("new-token", help="make an API token: print it once, and the users file entry")
    nt.add_argument("--name", required=True, help="what the token is for, e.g. otel-collector")
    nt.add_argument("--scopes", default="ingest", help="comma-separated: ingest, read, operate, edit, admin")
    nt.set_defaults(func=new_token_command)
    ck = sub.add_parser("check", help="check a users file and list who may do what")
    ck.add_argument("file", type=Path)
    ck.set_defaults(func=check_command)


def hash_password_command(args: argparse.Namespace) -> int:
    from app.auth.passwords import hash_password

    if args.stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            print("touchpoint auth: the two passwords differ", file=sys.stderr)
            return 1
    if len(password) < 8:
        print("touchpoint auth: use a password of at least 8 characters", file=sys.stderr)
        return 1
    encoded = hash_password(password)
    if args.user:
        print(f'[users.{args.user}]\nrole = "{args.role}"\npassword = "{encoded}"')
    else:
        print(encoded)
    return 0


def new_token_command(args: argparse.Namespace) -> int:
    from app.auth.roles import Scope
    from app.auth.tokens import new_token
    from app.auth.users import NAME

    scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
    unknown = [s for s in scopes if s not in set(Scope)]
    if unknown or not scopes:
        bad = unknown[0] if unknown else ""
        print(f"touchpoint auth: scope {bad!r} is not one of {', '.join(Scope)}", file=sys.stderr)
        return 1
    if not NAME.match(args.name):
        print("touchpoint auth: a token name is 1-64 letters, digits, '_', '.', '@' or '-'", file=sys.stderr)
        return 1
    token, digest = new_token()
    quoted = ", ".join(f'"{s}"' for s in scopes)
    print(f"token (shown once; give it to the client as 'Authorization: Bearer <token>'):\n{token}\n")
    print(f'add to the users file:\n[tokens.{args.name}]\nscopes = [{quoted}]\nsha256 = "{digest}"')
    return 0


def check_command(args: argparse.Namespace) -> int:
    from app.auth.errors import AuthConfigInvalid
    from app.auth.users import load_credentials

    try:
        credentials = load_credentials(args.file)
    except AuthConfigInvalid as exc:
        print(f"touchpoint auth: {exc}", file=sys.stderr)
        return 1
    for user in sorted(credentials.users.values(), key=lambda u: u.name):
        print(f"user  {user.name}: {user.role} ({', '.join(sorted(user.role.scopes))})")
    for grant in sorted(credentials.tokens.values(), key=lambda g: g.name):
        print(f"token {grant.name}: {', '.join(sorted(grant.scopes))}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.auth", description="Touchpoint users file helpers.")
    add_subcommands(parser)
    args = parser.parse_args(argv)
    return int(args.func(args))
