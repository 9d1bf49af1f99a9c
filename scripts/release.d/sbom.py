#!/usr/bin/env python3
"""Make cargo-cyclonedx's SBOM a function of the commit: it stamps the time of
the run (metadata.timestamp) and a random serialNumber. The timestamp becomes the
commit's date; the serial number, optional in CycloneDX, is left out (a UUID
derived from the content would claim a uniqueness the spec wants from a random
one). Everything else is cargo-cyclonedx's own output.

    sbom.py IN.cdx.json OUT.cdx.json SOURCE_DATE_EPOCH
"""

import datetime
import json
import sys


def main():
    src, dst, epoch = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(src) as f:
        bom = json.load(f)
    if bom.get("bomFormat") != "CycloneDX":
        sys.exit(f"sbom.py: {src} is not a CycloneDX document")
    bom.pop("serialNumber", None)
    when = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)
    bom.setdefault("metadata", {})["timestamp"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    with open(dst, "w") as f:
        json.dump(bom, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
