"""`parkpatrol` subcommands of the robots package.

- `broker-config-file --accounts FILE --out DIR`: the broker config, hashed password file and ACL from
  a JSON accounts file (for sites that keep gateway/vision accounts outside the registry; the
  registry-driven `broker-config` command of the service calls `write_broker_config` too).
- `broker-passwd`: print a mosquitto `$7$` hash of a password read from stdin (or a new random one).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from robots.security import hash_password, load_accounts_file, new_password, write_broker_config


def cmd_broker_config_file(args: argparse.Namespace) -> int:
    try:
        accounts = load_accounts_file(args.accounts)
        paths = write_broker_config(args.out, accounts, listener_port=args.listen_port, bind_address=args.bind)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for p in (paths.config, paths.password_file, paths.acl_file):
        print(f"wrote {p}")
    return 0


def cmd_broker_passwd(args: argparse.Namespace) -> int:
    if args.generate:
        password = new_password()
        print(f"password: {password}")
    else:
        password = sys.stdin.readline().rstrip("\n")
        if not password:
            print("error: no password on stdin (or use --generate)", file=sys.stderr)
            return 2
    print(hash_password(password))
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("broker-config-file",
                       help="write Mosquitto config, hashed passwords and ACLs from a JSON accounts file")
    p.add_argument("--accounts", type=Path, required=True,
                   help='JSON list: [{"role": "robot", "manufacturer": ..., "serialNumber": ..., "password": ...},'
                        ' {"role": "service", "username": ..., "passwordHash": "$7$..."}, ...]')
    p.add_argument("--out", type=Path, required=True, help="directory for mosquitto.conf, passwd, acl")
    p.add_argument("--listen-port", type=int, default=1883)
    p.add_argument("--bind", help="address to listen on (default: all)")
    p.set_defaults(func=cmd_broker_config_file)

    p = sub.add_parser("broker-passwd", help="hash a broker password (stdin) as mosquitto_passwd does")
    p.add_argument("--generate", action="store_true", help="generate a random password and print both")
    p.set_defaults(func=cmd_broker_passwd)
