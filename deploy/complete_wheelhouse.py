"""Complete a wheelhouse for another interpreter of the same minor version.

``pip wheel`` on the host evaluates environment markers for the host's Python: a dependency the
host does not need but the image's interpreter does is missing (redis needs async-timeout below
Python 3.11.3, and Debian bookworm's python3 is 3.11.2, the host's may be newer). This reads every
wheel's Requires-Dist, evaluates the markers for the target version, and prints the requirements
no wheel in the directory provides, one per line, for ``pip download``. Run it again after the
download until it prints nothing (the new wheels have dependencies of their own).

    python deploy/complete_wheelhouse.py WHEEL_DIR... --python 3.11.2
"""

from __future__ import annotations

import argparse
import platform
import zipfile
from email.parser import Parser
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename


def missing(dirs: list[Path], python: str) -> list[str]:
    env = default_environment()
    env.update(python_full_version=python, python_version=".".join(python.split(".")[:2]))
    wheels = [w for d in dirs for w in sorted(d.glob("*.whl"))]
    have = {canonicalize_name(parse_wheel_filename(w.name)[0]) for w in wheels}
    need: dict[str, str] = {}
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as z:
            meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1)
            headers = Parser().parsestr(z.read(meta).decode())
        for line in headers.get_all("Requires-Dist") or []:
            req = Requirement(line)
            if req.marker is not None and not req.marker.evaluate({**env, "extra": ""}):
                continue
            name = canonicalize_name(req.name)
            if name not in have:
                need[name] = f"{req.name}{req.specifier}"
    return sorted(need.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dirs", nargs="+", type=Path)
    parser.add_argument("--python", default=platform.python_version(), help="the target's full version, e.g. 3.11.2")
    args = parser.parse_args()
    for req in missing(args.dirs, args.python):
        print(req)


if __name__ == "__main__":
    main()
