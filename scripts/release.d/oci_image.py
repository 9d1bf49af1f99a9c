#!/usr/bin/env python3
"""Assemble the clientops container image as an OCI image layout, without a
container engine: one layer with the release binary and only what it needs at
run time, its config (user 65532, entrypoint, labels) and manifest, written as a
layout directory and as a tar of that directory. Prints the manifest digest.

What the layer holds:
- /usr/local/bin/clientops;
- the shared libraries the binary links and its dynamic loader, at the paths the
  host's loader resolved them to (`ldd`), with the copyright files of the Debian
  packages they come from;
- /etc/ssl/certs/ca-certificates.crt: Debian's Mozilla CA bundle, concatenated
  from /usr/share/ca-certificates/mozilla (so no CA added on the build host
  leaks in);
- /etc/passwd and /etc/group with root and nonroot (65532), /etc/nsswitch.conf,
  /home/nonroot (65532, 0700) and /tmp (1777).
No shell, no package manager. Every byte follows from the inputs and
--created (the commit's date): see deterministic_tar.py.

    oci_image.py --binary target/.../clientops --layout DIR --tar FILE \
        --version 0.1.0 --revision <commit> --created <epoch> \
        --source <url> --licenses Apache-2.0 --description TEXT
"""

import argparse
import datetime
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys

from deterministic_tar import directory, file, gzip_bytes, tar_bytes, with_parents

MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"

BINARY_PATH = "usr/local/bin/clientops"
CA_BUNDLE = "etc/ssl/certs/ca-certificates.crt"
MOZILLA_CAS = "/usr/share/ca-certificates/mozilla"
NONROOT = 65532

PASSWD = f"root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:{NONROOT}:{NONROOT}:nonroot:/home/nonroot:/sbin/nologin\n"
GROUP = f"root:x:0:\nnonroot:x:{NONROOT}:\n"
# Kubernetes writes /etc/hosts and /etc/resolv.conf into the container; look there.
NSSWITCH = "passwd: files\ngroup: files\nhosts: files dns\n"


def die(msg):
    print(f"oci_image.py: {msg}", file=sys.stderr)
    sys.exit(1)


def linked_libraries(binary):
    """The paths, as the host's loader resolved them (ldd), of the binary's shared
    libraries and its dynamic loader; the image holds them at the same paths."""
    out = subprocess.run(["ldd", binary], check=True, capture_output=True, text=True).stdout
    libs = []
    for line in out.splitlines():
        line = line.strip()
        if "not found" in line:
            die(f"ldd: {line}")
        m = re.match(r"^\S+ => (/\S+) \(0x[0-9a-f]+\)$", line) or re.match(r"^(/\S+) \(0x[0-9a-f]+\)$", line)
        if m:
            libs.append(m.group(1))
        elif not line.startswith("linux-vdso") or "=>" in line:
            die(f"ldd: cannot read {line!r}")
    if not any("ld-linux" in p for p in libs):
        die("ldd named no dynamic loader: is the binary statically linked?")
    return sorted(set(libs))


def debian_package(path):
    """The Debian package (name, version) that ships the file, via dpkg."""
    for candidate in (path, os.path.realpath(path)):
        q = subprocess.run(["dpkg-query", "-S", candidate], capture_output=True, text=True)
        if q.returncode == 0:
            # "libc6:amd64: /lib/x86_64-linux-gnu/libc.so.6"
            pkg = q.stdout.split(": ", 1)[0].split(",")[0].strip()
            version = subprocess.run(
                ["dpkg-query", "-W", "-f=${Version}", pkg], check=True, capture_output=True, text=True
            ).stdout
            return pkg.split(":")[0], version
    die(f"no Debian package ships {path} (the release is built on Debian: dpkg-query -S)")


def ca_bundle():
    if not os.path.isdir(MOZILLA_CAS):
        die(f"{MOZILLA_CAS} is missing: apt-get install ca-certificates")
    pems = []
    for name in sorted(os.listdir(MOZILLA_CAS)):
        if name.endswith(".crt"):
            with open(os.path.join(MOZILLA_CAS, name), "rb") as f:
                pem = f.read()
            pems.append(pem if pem.endswith(b"\n") else pem + b"\n")
    if len(pems) < 50:
        die(f"only {len(pems)} CA certificates in {MOZILLA_CAS}")
    return b"".join(pems)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def rootfs(binary):
    """The layer's entries and the Debian packages they come from."""
    entries = [file(BINARY_PATH, read(binary), mode=0o755)]
    packages = {}
    for lib in linked_libraries(binary):
        entries.append(file(lib.lstrip("/"), read(os.path.realpath(lib)), mode=0o755))
        name, version = debian_package(lib)
        packages[name] = version
    bundle = ca_bundle()
    entries.append(file(CA_BUNDLE, bundle))
    name, version = debian_package(MOZILLA_CAS)
    packages[name] = version
    for name in sorted(packages):
        copyright_file = f"/usr/share/doc/{name}/copyright"
        if os.path.exists(copyright_file):
            entries.append(file(copyright_file.lstrip("/"), read(copyright_file)))
    entries += [
        file("etc/passwd", PASSWD.encode()),
        file("etc/group", GROUP.encode()),
        file("etc/nsswitch.conf", NSSWITCH.encode()),
        directory("home/nonroot", mode=0o700, uid=NONROOT, gid=NONROOT),
        directory("tmp", mode=0o1777),
    ]
    return with_parents(entries), packages


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--binary", required=True)
    p.add_argument("--layout", required=True, help="the OCI image layout directory to write (replaced)")
    p.add_argument("--tar", required=True, help="the tar of the layout directory to write")
    p.add_argument("--version", required=True)
    p.add_argument("--revision", required=True)
    p.add_argument("--created", required=True, type=int, help="seconds since the epoch: the commit's date")
    p.add_argument("--source", required=True)
    p.add_argument("--licenses", required=True)
    p.add_argument("--description", required=True)
    args = p.parse_args()

    created = datetime.datetime.fromtimestamp(args.created, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine())
    if arch is None:
        die(f"unsupported machine {platform.machine()}")

    entries, packages = rootfs(args.binary)
    layer_tar = tar_bytes(entries, args.created)
    layer = gzip_bytes(layer_tar)

    annotations = {
        "org.opencontainers.image.created": created,
        "org.opencontainers.image.description": args.description,
        "org.opencontainers.image.licenses": args.licenses,
        "org.opencontainers.image.revision": args.revision,
        "org.opencontainers.image.source": args.source,
        "org.opencontainers.image.title": "clientops",
        "org.opencontainers.image.version": args.version,
    }
    labels = dict(annotations)
    labels["dev.clientops.image.debian-packages"] = " ".join(f"{n}={v}" for n, v in sorted(packages.items()))
    config = canonical_json(
        {
            "architecture": arch,
            "os": "linux",
            "created": created,
            "config": {
                "User": f"{NONROOT}:{NONROOT}",
                "Entrypoint": ["/" + BINARY_PATH],
                "Cmd": ["run", "--leader-elect"],
                "Env": ["PATH=/usr/local/bin", "SSL_CERT_FILE=/" + CA_BUNDLE],
                "WorkingDir": "/",
                "ExposedPorts": {"8080/tcp": {}},
                "Labels": labels,
            },
            "rootfs": {"type": "layers", "diff_ids": [digest(layer_tar)]},
            "history": [{"created": created, "created_by": "scripts/release (scripts/release.d/oci_image.py)"}],
        }
    )
    manifest = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": MEDIA_MANIFEST,
            "config": {"mediaType": MEDIA_CONFIG, "digest": digest(config), "size": len(config)},
            "layers": [{"mediaType": MEDIA_LAYER, "digest": digest(layer), "size": len(layer)}],
            "annotations": annotations,
        }
    )
    index = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": MEDIA_INDEX,
            "manifests": [
                {
                    "mediaType": MEDIA_MANIFEST,
                    "digest": digest(manifest),
                    "size": len(manifest),
                    "platform": {"architecture": arch, "os": "linux"},
                    "annotations": {"org.opencontainers.image.ref.name": f"v{args.version}"},
                }
            ],
        }
    )

    layout = [
        file("oci-layout", canonical_json({"imageLayoutVersion": "1.0.0"})),
        file("index.json", index),
    ] + [file("blobs/sha256/" + digest(b).split(":")[1], b) for b in (layer, config, manifest)]
    layout = with_parents(layout)

    shutil.rmtree(args.layout, ignore_errors=True)
    for e in layout:
        path = os.path.join(args.layout, e.path)
        if e.kind == "dir":
            os.makedirs(path, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(e.data)
    with open(args.tar, "wb") as f:
        f.write(tar_bytes(layout, args.created))

    print(
        f"oci_image.py: layer {len(layer)} bytes compressed, {len(layer_tar)} uncompressed; "
        f"packages {labels['dev.clientops.image.debian-packages']}",
        file=sys.stderr,
    )
    print(digest(manifest))


if __name__ == "__main__":
    main()
