#!/usr/bin/env python3
"""Rewrite a chart archive from `helm package` so that its bytes follow from its
contents: helm stamps every entry with the time of packaging. The entries, their
order and contents stay as helm wrote them; each gets mode 0644, owner 0, no
owner names and the commit's date, and the gzip stream no name and mtime 0.

    chart_tgz.py IN.tgz OUT.tgz SOURCE_DATE_EPOCH
"""

import io
import sys
import tarfile

from deterministic_tar import file, gzip_bytes, tar_bytes


def main():
    src, dst, epoch = sys.argv[1], sys.argv[2], int(sys.argv[3])
    entries = []
    with tarfile.open(src, "r:gz") as tar:
        for member in tar.getmembers():
            if not member.isfile():
                sys.exit(f"chart_tgz.py: {member.name}: helm wrote something other than a file")
            entries.append(file(member.name, tar.extractfile(member).read()))
    # helm writes Chart.yaml first and the rest sorted; tar_bytes sorts by path,
    # which the chart loader does not mind.
    with open(dst, "wb") as f:
        f.write(gzip_bytes(tar_bytes(entries, epoch)))


if __name__ == "__main__":
    main()
