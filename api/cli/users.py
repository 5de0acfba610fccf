"""``quarterhour users``: the workspace's accounts (add, remove, passwd, list, token).

Passwords are read from standard input with ``--password-stdin`` (its first line), or asked
twice without echo when standard input is a terminal; never from an argument (it would show in
``ps`` and the shell's history).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from quarterhour import settings
from quarterhour.api.cli.options import add_command, add_verbosity_options
from quarterhour.geo.errors import InputError, import_extra

if TYPE_CHECKING:
    import sqlite3

USERS_SUMMARY = "Manage the accounts of the planners' workspace (quarterhour serve --data-dir)."


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        line = sys.stdin.readline()
        return line[:-1] if line.endswith("\n") else line
    if not sys.stdin.isatty():
        msg = "give the password on standard input with --password-stdin"
        raise InputError(msg)
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        msg = "the two passwords differ"
        raise InputError(msg)
    return first


def cmd_users(args: argparse.Namespace) -> None:
    """Run one ``quarterhour users`` action on the database in ``--data-dir``."""
    import_extra("argon2", "serve")
    from quarterhour.api.workspace import store
    from quarterhour.api.workspace.auth import AccountError

    with store.opened(args.data_dir or settings.workspace_folder) as conn:
        try:
            _run(args, conn)
        except AccountError as error:
            raise InputError(str(error)) from error


def _run(args: argparse.Namespace, conn: sqlite3.Connection) -> None:
    from quarterhour.api.workspace import auth

    action = args.action
    if action == "add":
        name = auth.add_user(conn, args.username, _read_password(args))
        print(f"user {name} added")
    elif action == "passwd":
        ended = auth.set_password(conn, args.username, _read_password(args))
        print(f"password changed; {ended} session{'s' if ended != 1 else ''} ended")
    elif action == "remove":
        ownerless = auth.remove_user(conn, args.username)
        print(f"user {auth.normalize_username(args.username)} removed")
        if ownerless:
            print(f"projects now without an owner: {', '.join(ownerless)}", file=sys.stderr)
    elif action == "list":
        for user in auth.list_users(conn):
            print(
                f"{user['username']}\tsince {auth.iso_time(user['created_at']) or '-'}\t"
                f"{user['sessions']} sessions\t{user['tokens']} tokens\t{user['projects']} projects"
            )
    elif args.revoke is not None:
        auth.revoke_token(conn, args.username, args.revoke)
        print(f"token {args.revoke} revoked")
    elif args.list:
        for token in auth.list_tokens(conn, args.username):
            state = (
                f"revoked {auth.iso_time(token['revoked_at']) or '-'}"
                if token["revoked_at"]
                else "live"
            )
            print(
                f"{token['id']}\tcreated {auth.iso_time(token['created_at']) or '-'}\t"
                f"last used {auth.iso_time(token['last_used']) or '-'}\t{state}"
            )
    else:
        token_id, secret = auth.new_token(conn, args.username)
        print(
            f"token {token_id} (shown once; send it as 'Authorization: Bearer TOKEN'):",
            file=sys.stderr,
        )
        print(secret)


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``users`` and its actions to the command line."""
    users = add_command(commands, "users", cmd_users, USERS_SUMMARY)
    actions = users.add_subparsers(dest="action", metavar="ACTION", required=True)

    def action(name: str, summary: str, *, password: bool = False) -> argparse.ArgumentParser:
        parser = actions.add_parser(name, help=summary, description=summary)
        add_verbosity_options(parser, default=argparse.SUPPRESS)
        parser.add_argument(
            "--data-dir",
            type=Path,
            metavar="DIR",
            help="the workspace's folder, as given to serve --data-dir (default: "
            "$QUARTERHOUR_WORKSPACE, else $XDG_DATA_HOME/quarterhour)",
        )
        if name != "list":
            parser.add_argument("username", metavar="NAME")
        if password:
            parser.add_argument(
                "--password-stdin",
                action="store_true",
                help=f"read the password (at least {settings.password_min_length} characters) "
                "from the first line of standard input; without it, ask on the terminal",
            )
        return parser

    action("add", "create an account", password=True)
    action("passwd", "set a new password and end the user's sessions", password=True)
    action("remove", "remove an account, its sessions, tokens and roles (at once)")
    action("list", "list the accounts")
    token = action("token", "print a new API token of the user (shown once; stored as a hash)")
    token.add_argument("--list", action="store_true", help="list the user's tokens instead")
    token.add_argument("--revoke", type=int, metavar="ID", help="revoke token ID instead")
