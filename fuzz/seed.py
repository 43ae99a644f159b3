#!/usr/bin/env python3
"""Seed corpora for the fuzz targets, from lambda-mesh's own fixtures and tests only.

Writes fuzz/corpus/<target>/<sha1 of content>, one file per seed (re-running adds nothing twice):
  event   adapter/tests/data/*.json, and the events written inline in the adapter's tests
  result  the results written inline in the adapter's tests (and each as a stream prelude)
  json    every JSON seed above, and mesh-proxy's Consul JSON fixtures
  config  examples/**/*.toml, the ```toml blocks of the READMEs, and the mesh-proxy configs
          written inline in its tests and test-support crate
Inline fixtures are the Rust string literals (raw r#"..."# or plain "...\n...") of those files
that look like one.
"""

import hashlib
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"
RAW_STRING = re.compile(r'r(#+)"(.*?)"\1', re.DOTALL)
PLAIN_STRING = re.compile(r'(?<![r#\w])"((?:[^"\\]|\\.)*\\n(?:[^"\\]|\\.)*)"')
TOML_BLOCK = re.compile(r"```toml\n(.*?)```", re.DOTALL)
ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "0": "\0", "r": "\r"}


def raw_strings(globs):
    for pattern in globs:
        for path in sorted(ROOT.glob(pattern)):
            for match in RAW_STRING.finditer(path.read_text(encoding="utf-8")):
                yield match.group(2)


def plain_strings(globs):
    for pattern in globs:
        for path in sorted(ROOT.glob(pattern)):
            for match in PLAIN_STRING.finditer(path.read_text(encoding="utf-8")):
                yield re.sub(r"\\(.)", lambda m: ESCAPES.get(m.group(1), m.group(0)), match.group(1))


def toml_blocks(globs):
    for text in files(globs):
        yield from TOML_BLOCK.findall(text)


def files(globs):
    for pattern in globs:
        for path in sorted(ROOT.glob(pattern)):
            yield path.read_text(encoding="utf-8")


def write(target, seeds):
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    count = 0
    for seed in seeds:
        data = seed if isinstance(seed, bytes) else seed.encode("utf-8")
        name = hashlib.sha1(data).hexdigest()
        (folder / name).write_bytes(data)
        count += 1
    print(f"fuzz/corpus/{target}: {count} seeds")


def main():
    adapter_rs = ["adapter/tests/*.rs", "adapter/src/**/*.rs"]
    inline = [s.strip() for s in raw_strings(adapter_rs) if s.lstrip().startswith("{")]
    events = list(files(["adapter/tests/data/*.json"]))
    events += [s for s in inline if any(k in s for k in ("requestContext", "raw_path", "httpMethod"))]
    results = [s for s in inline if "statusCode" in s or "status_code" in s]
    preludes = [r.encode("utf-8") + b"\0" * 8 + b"body" for r in results]
    consul_json = list(files(["mesh-proxy/tests/data/consul/*.json"]))
    config_rs = [
        "mesh-proxy/src/config/**/*.rs",
        "mesh-proxy/src/config.rs",
        "mesh-proxy/tests/*.rs",
        "tests/src/*.rs",
    ]
    tables = ("[[upstream]]", "[gateway]", "[[function]]", "[consul]", "[admin]", "[aws]")
    configs = list(files(["examples/**/*.toml"]))
    configs += toml_blocks(["README.md", "*/README.md"])
    inline_configs = list(raw_strings(config_rs)) + list(plain_strings(config_rs))
    configs += [s for s in inline_configs if any(k in s for k in tables)]
    write("event", events)
    write("result", results + preludes)
    write("json", events + results + consul_json)
    write("config", configs)


if __name__ == "__main__":
    main()
