#!/usr/bin/env python3
"""Write a cpio archive in the "newc" format the kernel's initramfs unpacker
reads (Documentation/driver-api/early-userspace/buffer-format.rst), from a
list of entries, so that device nodes and owners need no root and the output
depends only on the list and the files' contents.

List format, one entry per line (blank lines and '#' comments ignored):
    dir   PATH MODE
    file  PATH MODE SOURCE      (SOURCE: rest of the line)
    slink PATH MODE TARGET      (TARGET: rest of the line)
    nod   PATH MODE c|b MAJOR MINOR
MODE is octal permission bits; every entry is owned by 0:0 and gets the
--mtime timestamp. A parent directory must be listed before its entries.
"""

import argparse
import os
import stat
import sys

NEWC_MAGIC = b"070701"


class ListError(Exception):
    pass


def pad4(n):
    return (4 - n % 4) % 4


class CpioWriter:
    def __init__(self, out, mtime):
        self.out = out
        self.mtime = mtime
        self.ino = 1  # inode numbers only need to differ (no hard links)

    def entry(self, name, mode, data=b"", nlink=1, rdev=(0, 0)):
        name_bytes = name.encode() + b"\0"
        fields = (
            self.ino, mode, 0, 0, nlink, self.mtime, len(data),
            0, 0, rdev[0], rdev[1], len(name_bytes), 0,
        )
        self.ino += 1
        header = NEWC_MAGIC + b"".join(b"%08X" % f for f in fields)
        self.out.write(header + name_bytes + b"\0" * pad4(len(header) + len(name_bytes)))
        self.out.write(data + b"\0" * pad4(len(data)))

    def trailer(self):
        self.ino = 0
        self.entry("TRAILER!!!", 0, nlink=1)


def parse_mode(text):
    mode = int(text, 8)
    if mode & ~0o7777:
        raise ValueError(text)
    return mode


def build(list_lines, writer):
    seen_dirs = {""}
    seen = set()
    for lineno, line in enumerate(list_lines, 1):
        words = line.split(None, 1)
        if not words or words[0].startswith("#"):
            continue
        kind = words[0]
        try:
            expect = {"dir": 3, "file": 4, "slink": 4, "nod": 6}[kind]
        except KeyError:
            raise ListError(f"line {lineno}: unknown entry type '{kind}'")
        # A file's source and a link's target run to the end of the line, so
        # they may contain spaces.
        words = line.split(None, 3) if kind in ("file", "slink") else line.split()
        if len(words) != expect:
            raise ListError(f"line {lineno}: '{kind}' takes {expect - 1} fields")
        path = words[1]
        if not path.startswith("/") or path.endswith("/") or "//" in path:
            raise ListError(f"line {lineno}: bad path '{path}'")
        name = path.lstrip("/")
        if name in seen:
            raise ListError(f"line {lineno}: '{path}' listed twice")
        parent = os.path.dirname(name)
        if parent not in seen_dirs:
            raise ListError(f"line {lineno}: parent of '{path}' is not listed before it")
        try:
            perm = parse_mode(words[2])
        except ValueError:
            raise ListError(f"line {lineno}: bad mode '{words[2]}'")
        seen.add(name)
        if kind == "dir":
            seen_dirs.add(name)
            writer.entry(name, stat.S_IFDIR | perm, nlink=2)
        elif kind == "file":
            try:
                with open(words[3], "rb") as f:
                    data = f.read()
            except OSError as e:
                raise ListError(f"line {lineno}: {words[3]}: {e.strerror}")
            writer.entry(name, stat.S_IFREG | perm, data)
        elif kind == "slink":
            writer.entry(name, stat.S_IFLNK | perm, words[3].encode())
        else:  # nod
            dev_type = {"c": stat.S_IFCHR, "b": stat.S_IFBLK}.get(words[3])
            if dev_type is None or not (words[4].isdigit() and words[5].isdigit()):
                raise ListError(f"line {lineno}: nod needs c|b MAJOR MINOR")
            writer.entry(name, dev_type | perm, rdev=(int(words[4]), int(words[5])))
    writer.trailer()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("list", help="entry list ('-' for stdin)")
    parser.add_argument("--mtime", type=int, default=0, help="timestamp of every entry")
    args = parser.parse_args()
    try:
        if args.list == "-":
            lines = sys.stdin.read().splitlines()
        else:
            with open(args.list) as f:
                lines = f.read().splitlines()
        out = sys.stdout.buffer
        build(lines, CpioWriter(out, args.mtime))
        out.flush()
    except (ListError, OSError) as e:
        print(f"mkcpio: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
